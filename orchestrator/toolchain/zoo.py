"""Built-in models by name, and building a spec into .tflite files in the model cache."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from worker.errors import ConfigError, UserError
from worker.stream import builtin_step

from .._config import data_dir, locate, shipped
from .builder import Weights, build_block
from .spec import ModelSpec, load_spec
from .tflite_writer import write_tflite


def _builder_fingerprint() -> str:
    """Hash of the code that turns a spec into bytes: a change to it invalidates cached builds."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("builder.py", "tflite_writer.py", "spec.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


def models_dir() -> Path:
    """Where the built-in model specs live."""
    return data_dir("models")


def builtin_models() -> list[str]:
    """Names of the built-in model specs."""
    return shipped("models")


def find_spec(name_or_path: str) -> ModelSpec:
    """A built-in model by name, or a spec file by path."""
    path = locate(name_or_path, "models")
    if path is None:
        raise UserError(f"{name_or_path}: not a built-in model (known: {', '.join(builtin_models())}) "
                        "nor a spec or .tflite file")
    return load_spec(path)


def cache_dir() -> Path:
    """Root of the model cache: $MCHAIR_CACHE_DIR, else build/cache of the checkout the code runs from, else
    (an installed package, no checkout) $XDG_CACHE_HOME/musical-chair."""
    env = os.environ.get("MCHAIR_CACHE_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "setup.cfg").is_file() and (checkout / "worker").is_dir():
        return checkout / "build" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "musical-chair"


@dataclass(frozen=True)
class BlockArtifact:
    """One built block: its .tflite (none for a built-in step) and its tensors' names and shapes."""

    name: str
    file: str
    sha256: str
    inputs: list[str]
    input_shapes: list[list[int]]
    outputs: list[str]
    output_shapes: list[list[int]]


@dataclass(frozen=True)
class BuiltModel:
    """A spec built into a directory of .tflite files (one per block)."""

    spec: ModelSpec
    directory: Path
    blocks: dict[str, BlockArtifact]

    def path(self, block: str) -> Path:
        """Path of a block's .tflite file."""
        return self.directory / self.blocks[block].file

    def output_name(self, block: str) -> str:
        """Name of the tensor a block passes on to the blocks that read it (its first output)."""
        return self.blocks[block].outputs[0]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_model(spec: ModelSpec, seed: int = 0, weights: str | Path | None = None,
                out: Path | None = None, progress: bool = True) -> BuiltModel:
    """Build every block of ``spec`` (cached by spec, seed and weights); returns the artifacts."""
    given: dict[str, np.ndarray] = {}
    wsource = "<seeded>"
    key = hashlib.sha256(json.dumps([repr(spec), seed, _builder_fingerprint()]).encode())
    if weights is not None:
        wsource = str(weights)
        try:
            with np.load(weights) as npz:
                given = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise UserError(f"{weights}: not a readable .npz weights file ({exc})") from None
        key.update(sha256_file(Path(weights)).encode())
    directory = out or cache_dir() / "models" / f"{spec.name}-{key.hexdigest()[:12]}"
    manifest = directory / "model.json"
    if out is None and manifest.exists():
        return _load_built(spec, directory)
    directory.mkdir(parents=True, exist_ok=True)
    shapes: dict[str, tuple[int, ...]] = {spec.input.name: spec.input.shape}
    used: set[str] = set()
    blocks: dict[str, BlockArtifact] = {}
    for bi, block in enumerate(spec.blocks):
        started = time.perf_counter()
        in_shapes = {e.source: e.window.shape(shapes[e.source]) for e in block.inputs}
        if block.is_builtin:
            try:
                out_shape = builtin_step(block.builtin).output_shape([in_shapes[e.source] for e in block.inputs])
            except ValueError as exc:
                raise ConfigError(spec.source or spec.name, f"blocks[{bi}]", str(exc)) from None
            blocks[block.name] = BlockArtifact(block.name, "", "", [e.source for e in block.inputs],
                                               [list(s) for s in in_shapes.values()], [block.name],
                                               [list(out_shape)])
            shapes[block.name] = out_shape
            continue
        block_weights = Weights(np.random.default_rng([seed, bi]), given, wsource)
        graph = build_block(block, in_shapes, block_weights, spec.source or spec.name)
        used.update(block_weights.used)
        file = f"{block.name}.tflite"
        data = write_tflite(graph, directory / file)
        outs = [graph.tensors[t] for t in graph.outputs]
        blocks[block.name] = BlockArtifact(block.name, file, hashlib.sha256(data).hexdigest(),
                                           [graph.tensors[t].name for t in graph.inputs],
                                           [list(graph.tensors[t].shape) for t in graph.inputs],
                                           [t.name for t in outs], [list(t.shape) for t in outs])
        shapes[block.name] = outs[0].shape
        if progress:
            print(f"  built {spec.name}/{block.name}: {len(block.layers)} layers, "
                  f"{len(data) / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    unused = sorted(set(given) - used)
    if unused:  # a typo in a key must not silently leave a layer random
        raise ConfigError(wsource, unused[0], "not a weight of any layer (keys are LAYER/kernel, LAYER/bias, "
                          "LAYER/alpha, LAYER/scale, LAYER/offset)")
    manifest.write_text(json.dumps({"model": spec.name, "seed": seed, "weights": wsource,
                                    "blocks": [asdict(b) for b in blocks.values()]}, indent=1))
    return BuiltModel(spec, directory, blocks)


def _load_built(spec: ModelSpec, directory: Path) -> BuiltModel:
    raw = json.loads((directory / "model.json").read_text())
    blocks = {b["name"]: BlockArtifact(**b) for b in raw["blocks"]}
    return BuiltModel(spec, directory, blocks)
