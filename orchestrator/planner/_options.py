"""The stages a plan may use, and how many replicas each needs to stay under a period.

An *option* is units ``j..i-1`` with the last one split ``k`` ways. Its devices' busy time falls
with its replicas ``r`` but not always as ``1/r``: on a switched network each replica of a stage
fed through a window of ``W`` tags receives ``min(W, r)`` copies. From ``r = W_max`` on the busy
time is exactly ``B / r``, so an option keeps the busy times below ``W_max`` (its ``head``) and
``B``: the replicas for any period are a formula, however many devices there are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._cost import CostModel, SegmentCost


@dataclass(frozen=True)
class Option:
    """A stage that may appear in a plan: units j..i-1 split k ways."""

    j: int
    i: int
    k: int
    seg: SegmentCost
    head: tuple[float, ...]   # busy time with r = 1 .. len(head) replicas (where it is not B / r)
    b: float                  # busy time with r replicas is b / r from r = len(head) + 1 on
    r_max: int                # most replicas worth having (1: not replicable; beyond: under the floor)
    net: tuple[float, ...]    # the shared medium's seconds per frame for its inputs, r = 1 .. len(net); then net[-1]
    take: tuple[int, ...]                   # for each value live after it: index in the labels before, -1 if its own
    waits: tuple[tuple[int, float], ...]    # inputs: index in the labels before, arrival delay

    def medium(self, r: int) -> float:
        """The shared medium's time per frame for its inputs with ``r`` replicas (0 on a switched network)."""
        return self.net[min(r, len(self.net)) - 1]

    def periods(self) -> np.ndarray:
        """Every busy time it can have (one per replica count up to ``r_max``)."""
        tail = self.b / np.arange(len(self.head) + 1, self.r_max + 1, dtype=float)
        return np.concatenate([np.array(self.head, dtype=float), tail])


def build_options(cost: CostModel, n_max: int, cuts: Sequence[int] | None = None) -> list[Option]:
    """Every valid stage between ``cuts`` (default: every unit boundary), latest start first."""
    units, values = cost.p.units, cost.p.values
    bounds = sorted(set(range(cost.m + 1) if cuts is None else cuts) | {0, cost.recorder_units, cost.m})
    options = []
    for a in reversed(range(len(bounds) - 1)):
        j = bounds[a]
        live_j = {vi: x for x, vi in enumerate(cost.live[j])}
        for i in bounds[a + 1:]:
            take = tuple(live_j[vi] if values[vi].producer < j else -1 for vi in cost.live[i])
            for k in range(1, (units[i - 1].max_shards if j > 0 else 1) + 1):
                seg = cost.segment(j, i, k)
                if not seg.valid:
                    continue
                options.append(_option(cost, seg, j, i, k, n_max, take, live_j))
    return options


def _option(cost: CostModel, seg: SegmentCost, j: int, i: int, k: int, n_max: int, take: tuple[int, ...],
            live_j: dict[int, int]) -> Option:
    values = cost.p.values
    # Below the largest window the copies per replica change with r; from there on busy = b / r.
    w_max = max((values[vi].window for vi in seg.inputs if values[vi].window > 1), default=1)
    r_top = n_max // k if seg.replicable else 1
    head: list[float] = []
    for r in range(1, min(w_max - 1, r_top) + 1):
        head.append(cost.busy(seg, r, k))
        if head[-1] <= cost.floor:
            break
    b = seg.compute_s
    if not cost.shared:
        b = max(b, cost.link.seconds_per_byte * cost.in_bytes(seg, w_max, k) / k)
    reached = bool(head) and head[-1] <= cost.floor
    r_max = min(r_top, len(head) if reached else max(len(head) + 1, math.ceil(b / cost.floor)))
    waits = tuple((live_j[vi], cost.arrival(vi, k, seg.codec)) for vi in seg.inputs)
    # Windowed inputs go to min(W, r) replicas: the medium's time grows with r up to W_max.
    spb = cost.link.seconds_per_byte if cost.shared else 0.0
    net = tuple(cost.in_bytes(seg, r, k) * spb for r in range(1, w_max + 1))
    return Option(j, i, k, seg, tuple(head), b, max(1, r_max), net, take, waits)


__all__ = ["Option", "build_options"]
