"""``model check``: run a partition's tasks chained in one process and compare with the whole model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.errors import UserError
from worker.executor import Runner, load_model

from .manifest import Manifest, Task
from .zoo import sha256_file

TOLERANCE = 1e-5  # max abs error relative to the output's max magnitude


@dataclass(frozen=True)
class CheckResult:
    """Worst error of one block's chained tasks against the whole block, over all samples."""

    block: str
    tasks: int
    samples: int
    max_abs: float
    max_rel: float

    @property
    def ok(self) -> bool:
        """True when the error is inside TOLERANCE."""
        return self.max_rel <= TOLERANCE


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
        whole: Runner = load_model(source, backend)
        runners = [TaskRunner(t, directory, backend) for t in manifest.tasks_of(block.name)]
        worst_abs = worst_rel = 0.0
        for _ in range(samples):
            values: dict[str, np.ndarray] = {
                ref.name: rng.random(ref.shape, dtype=np.float32) for ref in block.inputs}
            expected = whole.run(values)
            for r in runners:
                values.update(r.run(values))
            for ref in block.outputs:
                err = float(np.max(np.abs(values[ref.name] - expected[ref.name])))
                scale = float(np.max(np.abs(expected[ref.name]))) or 1.0
                worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, err / scale)
        results.append(CheckResult(block.name, len(runners), samples, worst_abs, worst_rel))
    return results
