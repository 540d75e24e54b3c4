"""The seating math: which devices serve which stream, which plan a stream runs, and who sits where.

Three pure, deterministic decisions each round (``_round``) makes whenever motion starts or stops, a device
joins or is lost, or contention changes a device's speed:

* ``share``: the alive devices split among the active streams (a stream is named by its camera).
  Each stream always has its own camera; the other cameras of active streams are never lent.
  ``equal`` splits the rest as evenly as possible, ``priority`` fills streams one after the other.
  A stream is only given device counts its plans can use: a count whose plan leaves devices idle,
  or more than its largest plan uses, is skipped and the devices go to the others. Under
  ``equal`` a stream whose plans need several devices first gets that many when the others, each
  kept at its own smallest plan, can spare them; when they cannot, it keeps only its camera (no
  plan runs: the caller reports it) and the devices go to streams that can use them. Under
  ``priority`` a stream never gives up devices its plans can use to a lower priority one.
* ``seat``: one plan's seats matched to one stream's devices: the smallest bottleneck period
  first (a device slowed by contention is ``scale`` times slower), then the fewest bytes of
  weights to load, then the fewest devices that load anything.
* ``choose``: the plan a stream runs on its devices, trading plan size against slowed devices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from worker._game_settings import POLICIES

from ..planner import Plan, Stage
from ._bind import seat_keys

TIE = 0.02   # throughputs this close count as equal: fewer bytes to load wins


@dataclass(frozen=True)
class StreamDemand:
    """An active stream: its camera, its priority, and ``useful[k-1]``: the devices its plan for k
    devices uses (0: no plan for k)."""

    camera: str
    priority: int
    useful: tuple[int, ...]

    def levels(self) -> tuple[int, ...]:
        """Device counts worth giving, ascending: those whose plan uses every device given (else,
        for planners that never do, any count with a plan)."""
        exact = tuple(k for k, used in enumerate(self.useful, 1) if used == k)
        return exact or tuple(k for k, used in enumerate(self.useful, 1) if used > 0)


@dataclass(frozen=True)
class Seating:
    """A plan's seats taken by devices: ``order[i]`` sits on seat i (``seat_keys`` order)."""

    order: tuple[str, ...]
    bytes_to_load: int
    period_s: float          # the slowest seat: its stage's busy time x its device's scale
    loads: int               # devices that must load anything


@dataclass(frozen=True)
class Choice:
    """The plan a stream runs, its seating, and the throughput expected on these devices."""

    plan: Plan
    seating: Seating
    ips: float


def share(alive: Mapping[str, float], streams: Sequence[StreamDemand], policy: str,
          current: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each stream's devices (disjoint, its camera first; empty when its camera is not alive), from the
    alive devices and their scales, the streams in the order their motion started, the policy and
    ``current`` (device -> the stream it serves now)."""
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}: expected {' or '.join(POLICIES)}")
    cameras = {s.camera for s in streams}
    if len(cameras) != len(streams):
        raise ValueError(f"one stream per camera, got {[s.camera for s in streams]}")
    # Higher priority first; sorted() is stable, so motion order within a priority.
    ranked = sorted((s for s in streams if s.camera in alive), key=lambda s: -s.priority)
    by_speed = sorted((d for d in alive if d not in cameras), key=lambda d: (alive[d], d))
    counts = (_fill_in_turn if policy == "priority" else _fill_evenly)(ranked, len(by_speed))
    chosen: dict[str, list[str]] = {s.camera: [] for s in ranked}
    # Devices stay with the stream they serve (no weights to load), the fastest first when it shrinks.
    for s in ranked:
        chosen[s.camera] = [d for d in by_speed if current.get(d) == s.camera][:counts[s.camera] - 1]
    kept = {d for mine in chosen.values() for d in mine}
    rest = [d for d in by_speed if d not in kept]
    for s in ranked:
        need = counts[s.camera] - 1 - len(chosen[s.camera])
        chosen[s.camera] += rest[:need]
        rest = rest[need:]
    return {s.camera: (s.camera, *sorted(chosen[s.camera], key=lambda d: (alive[d], d)))
            if s.camera in chosen else () for s in streams}


def _next_level(stream: StreamDemand, count: int, spare: int) -> int | None:
    """The smallest count above ``count`` worth giving ``stream`` with ``spare`` more devices, if any."""
    return next((k for k in stream.levels() if count < k <= count + spare), None)


def _fill_evenly(ranked: Sequence[StreamDemand], spare: int) -> dict[str, int]:
    """Devices per stream (camera included) under ``equal``: every stream its smallest plan if the
    spare devices allow (rank order), then one level at a time to the stream with the fewest."""
    counts = {s.camera: 1 for s in ranked}
    for s in ranked:
        smallest = s.levels()[0] if s.levels() else 1
        if 1 < smallest <= 1 + spare:
            counts[s.camera], spare = smallest, spare - (smallest - 1)
    while True:
        steps = [(counts[s.camera], i, s.camera, k) for i, s in enumerate(ranked)
                 if (k := _next_level(s, counts[s.camera], spare)) is not None]
        if not steps:
            return counts
        count, _, camera, k = min(steps)
        counts[camera], spare = k, spare - (k - count)


def _fill_in_turn(ranked: Sequence[StreamDemand], spare: int) -> dict[str, int]:
    """Devices per stream (camera included) under ``priority``: each in rank order takes the largest
    count its plans use before the next gets any."""
    counts = {}
    for s in ranked:
        reachable = [k for k in s.levels() if k <= 1 + spare]
        counts[s.camera] = max(reachable, default=1)
        spare -= counts[s.camera] - 1
    return counts


def seat(plan: Plan, devices: Sequence[str], seat_artifacts: Sequence[frozenset[str]],
         held: Mapping[str, frozenset[str]], sizes: Mapping[str, int], scales: Mapping[str, float]) -> Seating:
    """The best seating of ``plan`` on ``devices`` (the recorder first, on seat 0; more devices than
    seats is fine): smallest bottleneck period, then fewest bytes to load, then fewest loading devices."""
    keys = seat_keys(plan)
    if len(seat_artifacts) != len(keys):
        raise ValueError(f"{len(seat_artifacts)} artifact sets for {len(keys)} seats")
    if len(devices) < len(keys):
        raise ValueError(f"the plan has {len(keys)} seats, only {len(devices)} devices given")
    busy = np.array([plan.details[stage].busy_s for stage, _, _ in keys])
    period = np.outer(busy, [scales.get(d, 1.0) for d in devices])
    load = np.array([[sum(sizes[a] for a in need - held.get(d, frozenset())) for d in devices]
                     for need in seat_artifacts], dtype=np.int64)
    # Bytes first, then one more loading device: at most len(keys) of them, so bytes weigh len(keys)+1.
    cost = (load * (len(keys) + 1) + (load > 0)).astype(np.float64)
    columns = _bottleneck_assignment(period[1:, 1:], cost[1:, 1:], floor=period[0, 0])
    cols = [0, *(c + 1 for c in columns)]
    seats = range(len(keys))
    return Seating(tuple(devices[c] for c in cols), int(sum(load[i, c] for i, c in zip(seats, cols))),
                   float(max(period[i, c] for i, c in zip(seats, cols))),
                   sum(1 for i, c in zip(seats, cols) if load[i, c] > 0))


def _bottleneck_assignment(period: np.ndarray, cost: np.ndarray, floor: float) -> list[int]:
    """Column per row: the smallest threshold (at least ``floor``) with every row's period under it,
    and the cheapest assignment under that threshold."""
    if period.shape[0] == 0:
        return []
    # Any pair over the threshold costs more than every pair under it together.
    penalty = float(cost.sum()) + 1.0
    candidates = sorted({floor, *(float(p) for p in period.flat if p > floor)})

    def under(threshold: float) -> list[int] | None:
        rows, cols = linear_sum_assignment(np.where(period <= threshold, cost, cost + penalty))
        return [int(c) for c in cols[np.argsort(rows)]] if np.all(period[rows, cols] <= threshold) else None

    # Feasibility only grows with the threshold, and the largest candidate admits every pair.
    lo, hi = 0, len(candidates) - 1
    best = under(candidates[hi])
    while lo < hi:
        mid = (lo + hi) // 2
        found = under(candidates[mid])
        if found is None:
            lo = mid + 1
        else:
            hi, best = mid, found
    assert best is not None
    return best


def choose(devices: Sequence[str], plan_for: Callable[[int], Plan | None],
           seat_artifacts_for: Callable[[Plan], Sequence[frozenset[str]]], held: Mapping[str, frozenset[str]],
           sizes: Mapping[str, int], scales: Mapping[str, float]) -> Choice | None:
    """The plan and seating for a stream on ``devices`` (recorder first), or None when no plan fits.

    With every device at scale 1 the planner's plan for ``len(devices)`` is best, so only it is
    seated (smaller sizes only when it does not exist). Otherwise every size is seated: a plan for
    fewer devices may leave a slowed device out. The highest throughput wins; within 2% of it, the
    fewest bytes to load, then the fewest devices."""
    n = len(devices)
    uniform = all(scales.get(d, 1.0) == 1.0 for d in devices)
    choices: list[Choice] = []
    seen: set[tuple[Stage, ...]] = set()
    for k in range(n, 0, -1):
        plan = plan_for(k)
        # The plans for several sizes are often the same stages: seat them once.
        if plan is None or plan.stages in seen:
            continue
        seen.add(plan.stages)
        seating = seat(plan, devices, seat_artifacts_for(plan), held, sizes, scales)
        choices.append(Choice(plan, seating, _ips(plan, seating)))
        if uniform:
            break
    if not choices:
        return None
    best = max(c.ips for c in choices)
    near = [c for c in choices if c.ips >= best * (1 - TIE)]
    return min(near, key=lambda c: (c.seating.bytes_to_load, len(c.seating.order), -c.ips))


def _ips(plan: Plan, seating: Seating) -> float:
    """The plan's IPS on its seating: a seat slower than the planned period (the busiest stage, the
    medium or the camera) lengthens it; one that still keeps up costs nothing."""
    planned = plan.metrics.period_s
    return plan.metrics.ips * planned / max(planned, seating.period_s)


__all__ = ["Choice", "Seating", "StreamDemand", "choose", "seat", "share"]
