"""The partition manifest: every task and shard artifact, the tensors crossing cuts, merge rules."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from worker.errors import ConfigError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class TensorRef:
    """A tensor that crosses a cut: its name (unique in the block), shape and dtype."""

    name: str
    shape: list[int]
    dtype: str

    @property
    def nbytes(self) -> int:
        """Size in bytes of one value of the tensor."""
        import numpy as np
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class Artifact:
    """One standalone .tflite, named by its sha256."""

    file: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` of a model-parallel layer: output units [lo, hi)."""

    index: int
    count: int
    lo: int
    hi: int
    artifact: Artifact


@dataclass(frozen=True)
class Task:
    """A group of consecutive layers of one block, or one sharded layer, or a built-in step.

    A sharded task runs its shards on the same (broadcast) inputs; the consumer concatenates
    their outputs on the last axis in shard order, which gives exactly the unsharded output.
    """

    name: str
    block: str
    layers: list[str]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    macs: int
    weight_bytes: int
    artifact: Artifact | None = None
    shards: list[Shard] = field(default_factory=list)
    merge_axis: int = -1
    builtin: str = ""


@dataclass(frozen=True)
class BlockSource:
    """The unpartitioned block a group of tasks came from (for ``model check``)."""

    name: str
    file: str
    sha256: str
    inputs: list[TensorRef]
    outputs: list[TensorRef]


@dataclass(frozen=True)
class Manifest:
    """Everything ``mchair model partition`` wrote, in the order the tasks run."""

    model: str
    blocks: list[BlockSource]
    tasks: list[Task]

    def save(self, directory: Path) -> Path:
        """Write ``manifest.json`` into ``directory``; returns its path."""
        path = directory / MANIFEST_NAME
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    def tasks_of(self, block: str) -> list[Task]:
        """Tasks of one block, in order."""
        return [t for t in self.tasks if t.block == block]


def load_manifest(directory: str | Path) -> Manifest:
    """Read ``DIR/manifest.json`` written by ``partition``; ConfigError if missing or malformed."""
    path = Path(directory) / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text())
        return Manifest(
            raw["model"],
            [BlockSource(b["name"], b["file"], b["sha256"], _refs(b["inputs"]), _refs(b["outputs"]))
             for b in raw["blocks"]],
            [_task(t) for t in raw["tasks"]])
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc} "
                          "(expected a directory written by `mchair model partition`)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(str(path), "", f"not a valid partition manifest ({type(exc).__name__}: {exc})") from None


def _refs(raw: list[dict]) -> list[TensorRef]:
    return [TensorRef(r["name"], list(r["shape"]), r["dtype"]) for r in raw]


def _artifact(raw: dict | None) -> Artifact | None:
    return None if raw is None else Artifact(raw["file"], raw["sha256"], raw["bytes"])


def _task(raw: dict) -> Task:
    shards = [Shard(s["index"], s["count"], s["lo"], s["hi"], Artifact(**s["artifact"]))
              for s in raw.get("shards", [])]
    return Task(raw["name"], raw["block"], list(raw["layers"]), _refs(raw["inputs"]),
                _refs(raw["outputs"]), raw["macs"], raw["weight_bytes"], _artifact(raw.get("artifact")),
                shards, raw.get("merge_axis", -1), raw.get("builtin", ""))
