"""Plans: the stages chosen for one cluster size, and the set of plans for sizes 1..n_max."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ._cost import CostModel, Metrics, Stage
from ._problem import Problem


@dataclass(frozen=True)
class StagePlan:
    """One stage as the runtime and the reports need it: which layers of which blocks, on how many devices."""

    name: str
    units: tuple[str, ...]          # camera, built-in steps and layer names, in order
    # (block, first layer, last layer) per block part; camera/steps: (block, "", "")
    tasks: tuple[tuple[str, str, str], ...]
    replicas: int
    shards: int
    recorder: bool
    busy_s: float                   # seconds per frame of each of its devices
    run_s: float                    # one run (latency)
    memory_bytes: float
    reload_s: float                 # per run, when the stage does not fit in memory
    in_bytes: float                 # bytes per frame received by the stage (all copies, as encoded)
    codec: str = "raw"              # how its inputs travel (worker.wire)
    error: float = 0.0              # measured output error of that codec at this cut

    @property
    def devices(self) -> int:
        """Devices the stage occupies."""
        return self.replicas * self.shards


@dataclass(frozen=True)
class Plan:
    """The stages for a cluster of ``n`` devices and their predicted figures."""

    n: int
    algorithm: str
    stages: tuple[Stage, ...]
    details: tuple[StagePlan, ...]
    metrics: Metrics
    bound_ips: float = math.inf      # no plan on n devices sustains more IPS (inf: nothing proved)

    @property
    def gap(self) -> float:
        """How far the plan may be from the best: 1 - IPS / bound (0: proved best, 1: nothing proved)."""
        return max(0.0, 1.0 - self.metrics.ips / self.bound_ips) if math.isfinite(self.bound_ips) else 1.0

    @property
    def error(self) -> float:
        """Predicted output error of the plan's codecs: the sum of each cut's measured error (first order)."""
        return sum(d.error for d in self.details)

    def layout(self) -> str:
        """One line: stages in order, ``xR`` replicas, ``/K`` shards (``[rec]`` marks the recorder)."""
        parts = []
        for d in self.details:
            name = d.name + (" [rec]" if d.recorder else "")
            if d.replicas > 1:
                name += f" x{d.replicas}"
            if d.shards > 1:
                name += f" /{d.shards}"
            parts.append(name)
        return " | ".join(parts)

    def partition_args(self) -> tuple[list[str], dict[str, int]]:
        """``--cuts`` and ``--shard`` for ``mchair model partition``: a cut after every stage's last
        layer of a block, and the split layers. A split stage's leading weightless layers become
        their own task, which every shard device runs before its shard."""
        parts = [part for d in self.details for part in d.tasks if part[2]]
        cuts = [last for (block, _, last), (after, _, _) in zip(parts, parts[1:]) if block == after]
        shards = {d.units[-1]: d.shards for d in self.details if d.shards > 1}
        return cuts, shards

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the plan."""
        cuts, shards = self.partition_args()
        return {"n": self.n, "algorithm": self.algorithm, "metrics": asdict(self.metrics), "error": self.error,
                "bound_ips": self.bound_ips if math.isfinite(self.bound_ips) else None, "gap": self.gap,
                "layout": self.layout(), "cuts": cuts, "shards": shards,
                "stages": [{**asdict(d), "devices": d.devices,
                            "tasks": [{"block": b, "first": f, "last": last} for b, f, last in d.tasks]}
                           for d in self.details]}


@dataclass(frozen=True)
class PlanSet:
    """Plans for every cluster size 1..n_max (None where no plan exists, with the reason)."""

    model: str
    profile: str
    algorithm: str
    n_max: int
    latency_bound_s: float | None
    memory_bytes: float
    plans: tuple[Plan | None, ...]
    reasons: tuple[str, ...] = field(default=())

    def plan(self, n: int) -> Plan | None:
        """The plan for ``n`` devices."""
        return self.plans[n - 1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of every plan."""
        return {"model": self.model, "profile": self.profile, "algorithm": self.algorithm, "n_max": self.n_max,
                "latency_bound_s": self.latency_bound_s, "memory_bytes": self.memory_bytes,
                "plans": [p.to_dict() if p else {"n": n + 1, "error": self.reasons[n]}
                          for n, p in enumerate(self.plans)]}


def make_plan(cost: CostModel, n: int, algorithm: str, stages: tuple[Stage, ...]) -> Plan:
    """A Plan with its figures and per-stage details from chosen stages."""
    problem: Problem = cost.p
    facts = problem.codec_facts
    details = []
    for s in stages:
        seg = cost.segment(s.first, s.last + 1, s.shards, s.codec)
        units = problem.units[s.first:s.last + 1]
        tasks: list[tuple[str, str, str]] = []
        for u in units:
            if u.layer_index < 0:
                tasks.append((u.block, "", ""))
            elif tasks and tasks[-1][0] == u.block and tasks[-1][1]:
                tasks[-1] = (u.block, tasks[-1][1], u.name)
            else:
                tasks.append((u.block, u.name, u.name))
        details.append(StagePlan(cost.stage_name(s), tuple(u.name for u in units), tuple(tasks), s.replicas,
                                 s.shards, s.first == 0, cost.busy(seg, s.replicas, s.shards), seg.run_s,
                                 seg.memory_bytes, seg.reload_run_s, cost.in_bytes(seg, s.replicas, s.shards),
                                 seg.codec, facts.error(seg.codec, s.first) if facts is not None else 0.0))
    return Plan(n, algorithm, stages, tuple(details), cost.evaluate(stages))


__all__ = ["Plan", "PlanSet", "StagePlan", "make_plan"]
