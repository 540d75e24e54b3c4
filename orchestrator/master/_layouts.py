"""The model's plans, partitions and task tables for the master: each made once and kept.

A round asks for the plans of n devices, the artifacts each seat of a plan needs, and a plan
bound to devices as a task table; the server asks for an artifact's file to send it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from worker.agent import artifacts_of
from worker.cluster import ClusterConfig
from worker.wire import Peer, TaskTable

from ..planner import Plan, PlanSet, plan_model
from ..profile import Profile
from ..toolchain.manifest import Manifest, load_manifest
from ..toolchain.model import Model
from ._bind import bind, partition_plan, seat_artifacts


class Layouts:
    """Plans for 1..n devices, partitions by layout under ``work_dir``, and the artifacts they made."""

    def __init__(self, cluster: ClusterConfig, model: Model, profile: Profile, work_dir: Path, algorithm: str,
                 fps: float | None, plans: PlanSet | None) -> None:
        self.cluster, self.model, self.profile, self.work_dir = cluster, model, profile, work_dir
        self.algorithm, self.fps = algorithm, fps   # fps: the camera's rate, if not the model's
        self._plans: PlanSet | None = plans   # given: a benchmark's or test's plans (else planned when needed)
        self._artifacts: dict[str, Path] = {}
        self._seat_artifacts: dict[str, list[frozenset[str]]] = {}

    @property
    def planned(self) -> bool:
        """True once plans exist (given, or made by ``plan_set``)."""
        return self._plans is not None

    def plan_set(self, n: int) -> PlanSet:
        """Plans for 1..n devices (at least), made once and kept: a game costs no planning."""
        if self._plans is None or self._plans.n_max < n:
            self._plans = plan_model(self.model, self.profile, max(n, 1), self.algorithm, fps=self.fps,
                                     codecs=self.cluster.codecs)
        return self._plans

    def partition(self, plan: Plan) -> tuple[Manifest, Path]:
        """The partition of ``plan``, made once per layout and kept under the work directory."""
        cuts, shards = plan.partition_args()
        key = hashlib.sha256(repr((self.model.source, cuts, sorted(shards.items()))).encode()).hexdigest()[:16]
        directory = self.work_dir / "partitions" / key
        if (directory / "manifest.json").exists():
            manifest = load_manifest(directory)
        else:
            manifest = partition_plan(plan, self.model, directory)
        self._artifacts.update({p.stem: p for p in directory.glob("*.tflite")})
        return manifest, directory

    def table(self, plan: Plan, peers: Sequence[Peer], recorder: str, master: Peer, epoch: int) -> TaskTable:
        """``plan`` bound to ``peers`` (seat order) for ``recorder``'s stream as epoch ``epoch``."""
        manifest, _ = self.partition(plan)
        return bind(plan, manifest, self.model, peers, recorder, master, epoch,
                    self.cluster.agent.buffer, self.cluster.agent.almost_full, self.fps)

    def seat_artifacts(self, plan: Plan) -> list[frozenset[str]]:
        """The artifacts each seat of ``plan`` needs, in seat order (partitions the plan if new)."""
        key = plan.layout()
        if key not in self._seat_artifacts:
            manifest, _ = self.partition(plan)
            self._seat_artifacts[key] = seat_artifacts(plan, manifest)
        return self._seat_artifacts[key]

    @property
    def artifact_sizes(self) -> Mapping[str, int]:
        """Bytes of every artifact partitioned so far, by sha256."""
        return _Sizes(self._artifacts)

    def artifact(self, sha256: str) -> Path | None:
        """The file of an artifact partitioned so far (None: not one of ours)."""
        return self._artifacts.get(sha256)


def table_artifacts(table: TaskTable) -> list[frozenset[str]]:
    """The artifacts of every seat of ``table``, in seat order."""
    return [frozenset(artifacts_of(table, seat)) for seat in table.seats]


class _Sizes(Mapping[str, int]):
    """Artifact sizes read from the files when asked (partitions made later are seen too)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = paths

    def __getitem__(self, sha256: str) -> int:
        return self._paths[sha256].stat().st_size

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


__all__ = ["Layouts", "table_artifacts"]
