"""The cost model every planner shares: what a stage costs, and how fast, slow and big a plan is.

A stage runs units ``first..last`` on ``replicas x shards`` devices. Replicas take tags in turn
(data parallelism); shards each hold 1/k of the last unit's filters or units (model
parallelism) and run the units before it whole, so their input is broadcast to all k. A device
whose stage does not fit its memory reloads its weights group by group on every run.

Throughput: a plan sustains ``1 / period`` frames per second, where the period is the largest of
the busiest device's time per frame, the shared medium's time per frame (Wi-Fi: every byte of
every transfer), and the camera's frame interval. Latency (t_forward): a frame's path through the
stages, each starting when its last input has arrived (``latency + bytes * seconds_per_byte``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ._problem import Problem, crossing

EPS = 1e-9
GLUE_BYTES = 64 * 1024   # constants of a layer with no weights: slice bounds, shapes, axes


@dataclass(frozen=True)
class Stage:
    """Units ``first..last`` (inclusive) on ``replicas`` x ``shards`` devices."""

    first: int
    last: int
    replicas: int = 1
    shards: int = 1
    codec: str = ""            # how its inputs travel; "": the cut's codec (CostModel.codec_of)

    @property
    def devices(self) -> int:
        """Devices the stage occupies."""
        return self.replicas * self.shards


@dataclass(frozen=True)
class Solution:
    """A planner's stages for one cluster size, and what it proved about them."""

    stages: tuple[Stage, ...]
    bound_ips: float = float("inf")   # no plan on as many devices sustains more IPS (inf: nothing proved)


@dataclass(frozen=True)
class Metrics:
    """Predicted figures of a plan."""

    ips: float                 # inferences per second
    period_s: float            # 1 / frames per second sustained
    t_forward_s: float         # one frame from the camera to its result
    reload_s: float            # weight reloading on a frame's path (devices short of memory)
    transfer_s: float          # transfers on a frame's path
    network_s: float           # the medium's busy time per frame (shared medium), or the busiest NIC's
    max_memory_bytes: float
    energy_j: float            # per inference, all devices used, idle power included
    devices: int
    bottleneck: str            # what sets the period: a stage, "network" or "camera"


@dataclass(frozen=True)
class SegmentCost:
    """What one stage of units ``j..i-1`` split ``k`` ways costs, before choosing its replicas."""

    valid: bool
    compute_s: float           # device-seconds per frame of one shard, reloads included
    run_s: float               # one run (latency), reloads included
    reload_run_s: float        # of which reloading
    memory_bytes: float        # peak on one device
    inputs: tuple[int, ...]    # values it receives
    replicable: bool = True    # False when a window inside the stage needs every tag
    reason: str = ""           # why it is not valid
    codec: str = "raw"         # how its inputs travel (the cut's codec)


class CostModel:
    """Stage and plan costs of one problem, memoised (planners ask for the same stages often)."""

    def __init__(self, problem: Problem, error_budget: float | None = None) -> None:
        """``error_budget``: the output error one cut's codec may cost (default: the problem's whole budget)."""
        self.p = problem
        self.link = problem.profile.link
        self.shared = self.link.medium == "shared"
        units, values = problem.units, problem.values
        self.m = len(units)
        # live[i]: values written before unit i and needed at or after it (or results).
        # A value is live from the unit after its producer to its last consumer (results: to the end).
        live: list[list[int]] = [[] for _ in range(self.m + 1)]
        for vi, v in enumerate(values):
            end = self.m if v.is_output else max(v.consumers, default=-1)
            for i in range(v.producer + 1, end + 1):
                live[i].append(vi)
        self.live: list[tuple[int, ...]] = [tuple(x) for x in live]
        self.floor = 1.0 / problem.fps
        self.recorder_units = 1
        while self.recorder_units < self.m and units[self.recorder_units].kind == "step":
            self.recorder_units += 1
        self.out_rate = max((v.rate for v in values if v.is_output), default=1.0)
        budget = problem.codecs.error_budget if error_budget is None else error_budget
        self.codec_of = ["raw"] + [self._choose_codec(j, budget) for j in range(1, self.m + 1)]

    def _choose_codec(self, cut: int, budget: float) -> str:
        """The codec of the values crossing ``cut``: least transfer plus encode/decode time within ``budget``."""
        facts = self.p.codec_facts
        if facts is None:
            return "raw"
        values = crossing(self.p, cut)
        best, best_s = "raw", float("inf")
        for codec in self.p.codecs.candidates:
            if (codec != "raw" and codec not in self.p.profile.codecs) or facts.error(codec, cut) > budget:
                continue   # a codec the profile has no time for cannot be costed
            seconds = sum(self.p.values[vi].rate * (self.wire_bytes(vi, codec) * self.link.seconds_per_byte
                                                    + self.codec_s(vi, codec, "encode")
                                                    + self.codec_s(vi, codec, "decode")) for vi in values)
            if seconds < best_s - EPS:
                best, best_s = codec, seconds
        return best

    def wire_bytes(self, vi: int, codec: str) -> float:
        """Bytes of one tag of value ``vi`` on a link with ``codec``."""
        facts = self.p.codec_facts
        nbytes = self.p.values[vi].nbytes
        return nbytes * facts.ratio(codec, vi) if facts is not None else float(nbytes)

    def codec_s(self, vi: int, codec: str, part: str) -> float:
        """Seconds to ``part`` ("encode" or "decode") one tag of value ``vi`` with ``codec``."""
        timing = self.p.profile.codecs.get(codec) if codec != "raw" else None
        if timing is None:
            return 0.0
        per_mb = timing.encode_s_per_mb if part == "encode" else timing.decode_s_per_mb
        return per_mb * self.p.values[vi].nbytes / 1e6

    @functools.cache  # noqa: B019 - one CostModel per planning run
    def segment(self, j: int, i: int, k: int, codec: str = "") -> SegmentCost:
        """Cost of a stage of units ``j..i-1`` with ``k`` shards of the last unit, its inputs in ``codec``
        (default: the cut's)."""
        p, units, values = self.p, self.p.units, self.p.values
        last = units[i - 1]
        inputs = tuple(vi for vi in self.live[j] if any(j <= c < i for c in values[vi].consumers))
        if k > last.max_shards:
            return SegmentCost(False, 0, 0, 0, 0, inputs, False, f"{last.name} cannot be split {k} ways")
        if k > 1 and any(values[vi].producer < i - 1 for vi in self.live[i] if values[vi].producer >= j):
            return SegmentCost(False, 0, 0, 0, 0, inputs, False,
                               "a split stage may only pass on its last unit's output")
        if k > 1 and any(u.max_shards > 1 or u.weight_bytes > GLUE_BYTES for u in units[j:i - 1]):
            # Every shard runs the units before the split one; only glue (pooling, reshapes, the
            # pyramid's slices: no conv/fc, no weights) is worth repeating, and it keeps shards small.
            return SegmentCost(False, 0, 0, 0, 0, inputs, False, "a split stage repeats only weightless units")
        if j == 0 and self.recorder_units < i < self.m:
            # The recorder records (and runs the built-in steps on its frames); layers go to the
            # other devices, unless it is the only one.
            return SegmentCost(False, 0, 0, 0, 0, inputs, False, "the recorder runs no layers beside others")
        prof = p.profile
        times = [u.times[0] for u in units[j:i - 1]] + [last.times[k - 1]]
        rates = [u.rate for u in units[j:i]]
        rate = max(rates)
        # One task per block part (the camera's capture is in camera_s).
        overhead = prof.task_overhead_s * max(1, len({u.block for u in units[j:i] if u.kind != "camera"}))
        run = sum(times) + overhead
        per_frame = sum(t * r for t, r in zip(times, rates)) + overhead * rate
        weights = [float(u.weight_bytes) for u in units[j:i]]
        weights[-1] /= k
        acts = [float(u.output_bytes) for u in units[j:i]]
        acts[-1] /= k
        windows = sum(values[vi].nbytes * values[vi].window for vi in inputs if values[vi].window > 1)
        windows += sum(v.nbytes * v.window for v in values if j <= v.producer < i and v.window > 1
                       and any(j <= c < i for c in v.consumers))
        mem = prof.memory
        need = mem.base_bytes + mem.task_bytes(sum(weights), max(acts) + windows)
        reload = 0.0
        if need > p.memory_bytes:
            # Load groups of consecutive units that each fit, one after the other, on every run.
            groups: list[list[tuple[float, float]]] = []
            current: list[tuple[float, float]] = []
            for u, w, a in zip(units[j:i], weights, acts):
                if mem.base_bytes + mem.task_bytes(w, a + windows) > p.memory_bytes:
                    return SegmentCost(False, 0, 0, 0, 0, inputs, False, f"{u.name} alone needs more than the memory")
                trial = current + [(w, a)]
                if mem.base_bytes + mem.task_bytes(sum(x for x, _ in trial), max(y for _, y in trial) + windows) \
                        > p.memory_bytes:
                    groups.append(current)
                    trial = [(w, a)]
                current = trial
            groups.append(current)
            reload = sum(prof.load.predict(sum(x for x, _ in g)) for g in groups)
            need = max(mem.base_bytes + mem.task_bytes(sum(x for x, _ in g), max(y for _, y in g) + windows)
                       for g in groups)
        # Replicas see every r-th tag only: a window filled inside the stage would have holes.
        replicable = j > 0 and not any(j <= values[vi].producer < i and values[vi].window > 1
                                       and any(j <= c < i for c in values[vi].consumers) for vi in range(len(values)))
        # Decoding the inputs is the receiver's work (encoding is on the sender's path: see arrival).
        codec = codec or self.codec_of[j]
        decode = [self.codec_s(vi, codec, "decode") for vi in inputs]
        per_frame += sum(d * values[vi].rate for d, vi in zip(decode, inputs))
        run += sum(decode)
        return SegmentCost(True, per_frame + reload * rate, run + reload, reload, need, inputs, replicable, "",
                           codec)

    def in_bytes(self, seg: SegmentCost, replicas: int, shards: int) -> float:
        """Bytes per frame delivered to a stage: broadcast to shards, windows to the replicas that need them."""
        total = 0.0
        for vi in seg.inputs:
            v = self.p.values[vi]
            copies = shards * (min(v.window, replicas) if v.window > 1 else 1)
            total += self.wire_bytes(vi, seg.codec) * v.rate * copies
        return total

    def busy(self, seg: SegmentCost, replicas: int, shards: int) -> float:
        """Seconds per frame of one of the stage's devices (its NIC too on a switched network)."""
        busy = seg.compute_s / replicas
        if not self.shared:
            busy = max(busy, self.link.seconds_per_byte * self.in_bytes(seg, replicas, shards) / (replicas * shards))
        return busy

    def arrival(self, vi: int, shards: int, codec: str = "raw") -> float:
        """Seconds from a value being ready to it reaching a stage with ``shards`` shards, encoded with ``codec``."""
        copies = shards if self.shared else 1
        return self.codec_s(vi, codec, "encode") + self.link.transfer_time(self.wire_bytes(vi, codec) * copies)

    def evaluate(self, stages: Sequence[Stage]) -> Metrics:
        """Figures of a plan (stages covering every unit, in order)."""
        assert stages and stages[0].first == 0 and stages[-1].last == self.m - 1, "stages must cover the units"
        ready: dict[int, float] = {}
        path: dict[int, tuple[float, float]] = {}   # value -> (transfer, reload) seconds on its way
        worst, bottleneck = self.floor, "camera"
        network = memory = energy_busy = 0.0
        for s in stages:
            seg = self.segment(s.first, s.last + 1, s.shards, s.codec)
            assert seg.valid, seg.reason
            assert s.replicas == 1 or seg.replicable, "stage cannot be replicated"
            start, via = 0.0, (0.0, 0.0)
            for vi in seg.inputs:
                arrival = self.arrival(vi, s.shards, seg.codec)
                if ready[vi] + arrival > start:
                    start, via = ready[vi] + arrival, (path[vi][0] + arrival, path[vi][1])
            for vi in self.live[s.last + 1]:
                if vi not in ready:
                    ready[vi], path[vi] = start + seg.run_s, (via[0], via[1] + seg.reload_run_s)
            b = self.busy(seg, s.replicas, s.shards)
            if b > worst + EPS:
                worst, bottleneck = b, self.stage_name(s)
            nbytes = self.in_bytes(seg, s.replicas, s.shards) * self.link.seconds_per_byte
            network = network + nbytes if self.shared else max(network, nbytes / s.devices)
            memory = max(memory, seg.memory_bytes)
            energy_busy += seg.compute_s * s.shards
        if self.shared and network > worst + EPS:
            worst, bottleneck = network, "network"
        last = max((vi for vi, v in enumerate(self.p.values) if v.is_output), key=lambda vi: ready[vi])
        devices = sum(s.devices for s in stages)
        power = self.p.profile.power
        energy = (devices * power.idle_w * worst + (power.busy_w - power.idle_w) * energy_busy) / self.out_rate
        return Metrics(self.out_rate / worst, worst, ready[last], path[last][1], path[last][0], network, memory,
                       energy, devices, bottleneck)

    def refine_codecs(self, stages: Sequence[Stage]) -> tuple[Stage, ...]:
        """``stages`` with each stage's inputs raw instead of in its cut's codec where that makes a better
        plan: the codec is chosen per cut for its transfer, but its decode may slow a bottleneck stage."""
        best = tuple(stages)
        best_m = self.evaluate(best)
        for i in range(1, len(best)):
            for codec in dict.fromkeys(("raw", self.codec_of[best[i].first])):
                trial = (*best[:i], dataclasses.replace(best[i], codec=codec), *best[i + 1:])
                m = self.evaluate(trial)
                if better(m, best_m):
                    best, best_m = trial, m
        return best

    def stage_name(self, stage: Stage) -> str:
        """``unit`` or ``first..last``: how tables and errors name a stage."""
        first, last = self.p.units[stage.first].name, self.p.units[stage.last].name
        return first if stage.first == stage.last else f"{first}..{last}"


def better(a: Metrics, b: Metrics | None) -> bool:
    """True when plan figures ``a`` beat ``b``: more IPS, then lower t_forward, then fewer devices."""
    if b is None:
        return True
    if abs(a.period_s - b.period_s) > EPS * max(a.period_s, b.period_s):
        return a.period_s < b.period_s
    if abs(a.t_forward_s - b.t_forward_s) > EPS * max(a.t_forward_s, b.t_forward_s, 1.0):
        return a.t_forward_s < b.t_forward_s
    return a.devices < b.devices


__all__ = ["EPS", "CostModel", "Metrics", "SegmentCost", "Solution", "Stage", "better"]
