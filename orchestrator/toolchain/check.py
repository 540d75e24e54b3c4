"""``model check``: run a partition's tasks chained in one process and compare with the whole model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.errors import UserError
from worker.executor import Runner, load_model
from worker.graph import Graph, read_graph

from .manifest import Manifest, Task
from .zoo import sha256_file

TOLERANCE = 1e-5  # max abs error relative to the output's max magnitude
# Integer inputs that are not indices: drawn over this many values from 0 (token ids, counts).
_DEFAULT_VOCABULARY = 16
# Ops reading an integer input as indices into their first input: (op kind, index of the indices input).
_INDEX_INPUTS = {"GATHER": 1, "EMBEDDING_LOOKUP": 0}


@dataclass(frozen=True)
class CheckResult:
    """Worst error of one block's chained tasks against the whole block, over all samples."""

    block: str
    tasks: int
    samples: int
    max_abs: float
    max_rel: float
    varies: bool = True     # the outputs differ between samples (a check on constants proves nothing)

    @property
    def ok(self) -> bool:
        """True when the error is inside TOLERANCE and the outputs followed the inputs."""
        return self.max_rel <= TOLERANCE and self.varies


def sample_inputs(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One random value per graph input, each in its own dtype and range.

    Floats in [0, 1) as a camera gives them; int8/uint8 over their whole range (a quantized input
    cast from [0, 1) floats would be all zeros); integer indices below the size of what they index
    (an embedding's vocabulary); booleans both ways; complex values with both parts random.
    """
    return {graph.tensors[t].name: _sample(graph, t, rng) for t in graph.inputs}


def _sample(graph: Graph, t: int, rng: np.random.Generator) -> np.ndarray:
    tensor = graph.tensors[t]
    shape, dtype = tensor.shape, tensor.dtype
    if dtype.kind == "f":
        return rng.random(shape, dtype=np.float32).astype(dtype)
    if dtype.kind == "c":
        return (rng.random(shape) + 1j * rng.random(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    info = np.iinfo(dtype)
    if info.bits <= 8:
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.integers(0, _vocabulary(graph, t), shape, dtype=dtype)


def _vocabulary(graph: Graph, t: int) -> int:
    """How many values an integer input may take: the rows of what it indexes, else a small default."""
    sizes = [graph.tensors[graph.operators[o].inputs[1 - _INDEX_INPUTS[graph.operators[o].kind]]].shape[0]
             for o in graph.consumers.get(t, []) if graph.operators[o].kind in _INDEX_INPUTS
             and graph.operators[o].inputs[_INDEX_INPUTS[graph.operators[o].kind]] == t]
    return max(1, min(sizes)) if sizes else _DEFAULT_VOCABULARY


class TaskRunner:
    """Runs one task of a manifest (all its shards, merged) on named tensors."""

    def __init__(self, task: Task, directory: Path, backend: str = "auto") -> None:
        self.task = task
        if task.shards:
            self._runners = [load_model(directory / s.artifact.file, backend) for s in task.shards]
        elif task.artifact is not None:
            self._runners = [load_model(directory / task.artifact.file, backend)]
        else:
            raise UserError(f"task {task.name} is the built-in step {task.builtin!r}, not a .tflite task")

    def run(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The task's outputs by name; shard outputs are concatenated in shard order."""
        feeds = {ref.name: values[ref.name] for ref in self.task.inputs}
        parts = [r.run(feeds) for r in self._runners]
        if len(parts) == 1:
            return parts[0]
        return {ref.name: merge_shards([p[ref.name] for p in parts], self.task.merge_axis)
                for ref in self.task.outputs}


def merge_shards(parts: list[np.ndarray], axis: int = -1) -> np.ndarray:
    """Join the outputs of a sharded layer, given in shard order."""
    return np.concatenate(parts, axis=axis)


def check_partition(manifest: Manifest, directory: Path, samples: int = 3, seed: int = 0,
                    backend: str = "auto") -> list[CheckResult]:
    """Compare chained tasks with the whole block on ``samples`` random inputs per block."""
    rng = np.random.default_rng(seed)
    results = []
    for block in manifest.blocks:
        source = Path(block.file)
        if not source.exists():
            raise UserError(f"{source}: the model this partition was made from is missing")
        if sha256_file(source) != block.sha256:
            raise UserError(f"{source}: changed since it was partitioned (sha256 differs)")
        graph = read_graph(source)
        whole: Runner = load_model(source, backend)
        runners = [TaskRunner(t, directory, backend) for t in manifest.tasks_of(block.name)]
        worst_abs = worst_rel = 0.0
        first: dict[str, np.ndarray] = {}
        varies = samples < 2
        for _ in range(samples):
            values = sample_inputs(graph, rng)
            expected = whole.run(values)
            for r in runners:
                values.update(r.run(values))
            for ref in block.outputs:
                # In float64 (complex128): an int8 difference would wrap around.
                got, want = (np.asarray(v).astype(np.complex128 if np.asarray(v).dtype.kind == "c" else np.float64)
                             for v in (values[ref.name], expected[ref.name]))
                err = float(np.max(np.abs(got - want), initial=0.0))
                scale = float(np.max(np.abs(want), initial=0.0)) or 1.0
                worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, err / scale)
                if ref.name in first:
                    varies = varies or not np.array_equal(first[ref.name], want)
                first.setdefault(ref.name, want)
        results.append(CheckResult(block.name, len(runners), samples, worst_abs, worst_rel, varies))
    return results
