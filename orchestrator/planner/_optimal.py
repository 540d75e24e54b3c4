"""The exact planner: the best plan for every cluster size, most IPS first.

Two steps, both over cuts of the unit chain:

1. For every candidate period tau (each stage's busy time with some replicas), the fewest
   devices that keep every device under tau: a shortest path over cuts, computed for all
   candidates at once with numpy. This gives, for each n, the smallest tau reachable with
   n devices, ignoring the shared medium and the latency bound.
2. For that tau, every stage gets the fewest replicas that keep it under tau (more would only
   add devices and window copies, never speed a frame up), and a dynamic programme with Pareto
   labels finds the lowest t_forward, then the fewest devices. A label is a way to run units
   ``0..i-1``: devices, busiest device, the medium's time, and when each value still needed
   is ready; one no better than another in all of these can never lead to a better plan.

When the best plan for tau breaks the latency bound or the medium cannot carry it, the next
candidate tau is tried: any plan faster than that candidate lies within tau's search, so the
first acceptable answer is the optimum of the whole plan space.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from ._cost import EPS, CostModel, SegmentCost, Stage


@dataclass(frozen=True)
class _Label:
    devices: int
    net: float
    ready: tuple[float, ...]
    prev: _Label | None
    stage: Stage | None

    @property
    def vector(self) -> tuple[float, ...]:
        """What dominance compares: devices, medium time, ready times."""
        return (self.devices, self.net, *self.ready)


@dataclass(frozen=True)
class _Option:
    """A stage that may appear in a plan: units j..i-1 split k ways."""

    j: int
    i: int
    k: int
    seg: SegmentCost
    lower: tuple[float, ...]   # minus its devices' busy time with r = 1, 2, ... replicas (ascending)
    take: tuple[int, ...]                   # for each value live after it: index in the labels before, -1 if its own
    waits: tuple[tuple[int, float], ...]    # inputs: index in the labels before, arrival delay


def optimal_stages(cost: CostModel, n_max: int, latency_bound: float | None = None
                   ) -> list[tuple[Stage, ...] | None]:
    """The best stages for each n = 1..n_max (None where no plan fits)."""
    search = _Search(cost, n_max, latency_bound)
    return [search.best(n) for n in range(1, n_max + 1)]


class _Search:
    """The candidate periods, and the label searches under them shared by every n."""

    def __init__(self, cost: CostModel, n_max: int, latency_bound: float | None) -> None:
        self.cost, self.latency_bound = cost, latency_bound
        self.options = _options(cost, n_max)
        self.taus, self.fewest = _fewest_devices(cost, self.options, n_max)
        self.n_max = n_max
        self.solved: dict[tuple[int, int], list[_Label]] = {}

    def best(self, n: int) -> tuple[Stage, ...] | None:
        """The best stages on at most ``n`` devices."""
        reachable = np.flatnonzero(self.fewest <= n)
        if not len(reachable):
            return None
        t0 = int(reachable[0])
        # The period is max(tau, medium time): tau grows with t, the least medium time of the
        # plans under tau shrinks; the best plan sits where they cross. Usually at t0 already.
        last = len(self.taus) - 1
        lo, step = t0, 1
        while lo <= last and self.medium(n, t0, lo) > self.taus[lo] * (1 + EPS):
            lo, step = lo + step, step * 2
        hi = min(lo, last + 1)
        lo = max(t0, lo - step // 2 + 1) if lo > t0 else t0
        while lo < hi:
            mid = (lo + hi) // 2
            if self.medium(n, t0, mid) <= self.taus[mid] * (1 + EPS):
                hi = mid
            else:
                lo = mid + 1
        best = self.pick(n, t0, lo) if lo <= last else None
        if lo > t0 and self.medium(n, t0, lo - 1) < math.inf:
            # Or the medium sets the period below taus[lo], with stages under taus[lo - 1].
            other = self.pick(n, t0, lo - 1)
            if other is not None and (best is None or _less(other[0], best[0])):
                best = other
        return _stages(best[1]) if best else None

    def labels(self, n: int, t0: int, t: int) -> list[_Label]:
        """Complete plans under taus[t]; sizes that first reach taus[t] share one search."""
        cap = n
        if t == t0:
            cap = max(n, int(self.fewest[t0 - 1]) - 1) if t0 > 0 else self.n_max
        if (t, cap) not in self.solved:
            self.solved[(t, cap)] = _best_under(self.cost, self.options, float(self.taus[t]), cap)
        return self.solved[(t, cap)]

    def pick(self, n: int, t0: int, t: int, by_net: bool = False) -> tuple[tuple[float, float, int], _Label] | None:
        """The best label under taus[t] for ``n`` devices."""
        return _pick(self.labels(n, t0, t), n, self.latency_bound, float(self.taus[t]), by_net)

    def medium(self, n: int, t0: int, t: int) -> float:
        """Least medium time of a plan under taus[t] (inf: none meets the latency bound)."""
        found = self.pick(n, t0, t, by_net=True)
        return found[1].net if found else math.inf


def _options(cost: CostModel, n_max: int) -> list[_Option]:
    """Every valid stage, latest start first (the order the suffix bound is computed in)."""
    units, values = cost.p.units, cost.p.values
    options = []
    for j in reversed(range(cost.m)):
        live_j = {vi: x for x, vi in enumerate(cost.live[j])}
        for i in range(j + 1, cost.m + 1):
            take = tuple(live_j[vi] if values[vi].producer < j else -1 for vi in cost.live[i])
            for k in range(1, (units[i - 1].max_shards if j > 0 else 1) + 1):
                seg = cost.segment(j, i, k)
                if not seg.valid:
                    continue
                # Busy time falls with replicas, but not as 1/r: on a switched network each replica
                # of a windowed stage receives min(W, r) copies of every input.
                busy = []
                for r in range(1, (n_max // k if seg.replicable else 1) + 1):
                    busy.append(cost.busy(seg, r, k))
                    if busy[-1] <= cost.floor:
                        break
                waits = tuple((live_j[vi], cost.arrival(vi, k, seg.codec)) for vi in seg.inputs)
                options.append(_Option(j, i, k, seg, tuple(-b for b in busy), take, waits))
    return options


def _replicas(o: _Option, tau: float, n_max: int) -> int:
    """Fewest replicas keeping the stage's devices under ``tau`` (0: impossible within ``n_max``)."""
    r = bisect.bisect_left(o.lower, -tau * (1 + EPS)) + 1
    return r if r <= len(o.lower) and r * o.k <= n_max else 0


def _fewest_devices(cost: CostModel, options: list[_Option], n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate periods (ascending) and, for each, the fewest devices keeping every stage under it."""
    taus = np.array(sorted({cost.floor} | {max(-b, cost.floor) for o in options for b in o.lower}))
    big = n_max + 1
    best = [np.full(len(taus), big, dtype=np.int64) for _ in range(cost.m + 1)]
    best[0][:] = 0
    for o in sorted(options, key=lambda o: o.i):
        replicas = np.searchsorted(np.array(o.lower), -taus * (1 + EPS), side="left") + 1
        need = np.where(replicas <= len(o.lower), replicas * o.k, big)
        np.minimum(best[o.i], np.minimum(best[o.j] + need, big), out=best[o.i])
    return taus, best[cost.m]


def _best_under(cost: CostModel, options: list[_Option], tau: float, cap: int) -> list[_Label]:
    """Pareto labels of complete plans on at most ``cap`` devices whose stages all stay under ``tau``."""
    m = cost.m
    by_end: list[list[tuple[_Option, int]]] = [[] for _ in range(m + 1)]
    rest = [cap + 1] * m + [0]     # fewest devices that can run units i.. under tau
    for o in options:
        r = _replicas(o, tau, cap)
        if r:
            by_end[o.i].append((o, r))
            rest[o.j] = min(rest[o.j], r * o.k + rest[o.i])
    labels: list[list[_Label]] = [[] for _ in range(m + 1)]
    labels[0] = [_Label(0, 0.0, (), None, None)]
    for i in range(1, m + 1):
        found: list[_Label] = []
        for o, r in by_end[i]:
            if not labels[o.j]:
                continue
            take, waits = o.take, o.waits
            net = cost.in_bytes(o.seg, r, o.k) * cost.link.seconds_per_byte if cost.shared else 0.0
            stage = Stage(o.j, i - 1, r, o.k)
            for lab in labels[o.j]:
                devices = lab.devices + r * o.k
                if devices + rest[i] > cap:
                    continue
                finish = max((lab.ready[x] + a for x, a in waits), default=0.0) + o.seg.run_s
                found.append(_Label(devices, lab.net + net, tuple(lab.ready[x] if x >= 0 else finish for x in take),
                                    lab, stage))
        labels[i] = _pareto(found)
    return labels[m]


def _pick(labels: list[_Label], n: int, latency_bound: float | None, tau: float, by_net: bool = False
          ) -> tuple[tuple[float, float, int], _Label] | None:
    """Most IPS, then lowest t_forward, then fewest devices, among labels using at most ``n`` devices
    (``by_net``: the least medium time first).

    The period counts as ``tau``: a plan whose stages are all faster was found under a smaller tau.
    """
    best = None
    for lab in labels:
        t_forward = max(lab.ready, default=0.0)
        if lab.devices > n or (latency_bound is not None and t_forward > latency_bound * (1 + EPS)):
            continue
        key = (lab.net if by_net else max(tau, lab.net), t_forward, lab.devices)
        if best is None or _less(key, best[0]):
            best = (key, lab)
    return best


def _less(a: tuple[float, float, int], b: tuple[float, float, int]) -> bool:
    if abs(a[0] - b[0]) > EPS * max(a[0], b[0]):
        return a[0] < b[0]
    if abs(a[1] - b[1]) > EPS * max(a[1], b[1], 1.0):
        return a[1] < b[1]
    return a[2] < b[2]


def _pareto(labels: list[_Label], chunk: int = 256) -> list[_Label]:
    """The labels no other label is as good as in every respect (first of equals kept)."""
    if len(labels) < 2:
        return labels
    labels.sort(key=lambda lab: (lab.devices, lab.net, sum(lab.ready)))
    vectors = np.array([lab.vector for lab in labels])
    limits = vectors * (1 + EPS)
    kept = np.zeros(len(labels), dtype=bool)
    # Dominance is transitive, so a label is dropped exactly when some label sorted before it
    # dominates it: compare each chunk with the kept ones and with its own earlier rows.
    for c0 in range(0, len(labels), chunk):
        x, lim = vectors[c0:c0 + chunk], limits[c0:c0 + chunk]
        dominated = np.zeros(len(x), dtype=bool)
        if kept.any():
            k = vectors[kept]
            dominated |= np.any(np.all(k[None, :, :] <= lim[:, None, :], axis=2), axis=1)
        inner = (x[None, :, :] <= lim[:, None, :]).all(axis=2)
        dominated |= np.tril(inner, k=-1).any(axis=1)
        kept[c0:c0 + chunk] = ~dominated
    return [lab for lab, keep in zip(labels, kept) if keep]


def _stages(label: _Label) -> tuple[Stage, ...]:
    stages = []
    node: _Label | None = label
    while node is not None and node.stage is not None:
        stages.append(node.stage)
        node = node.prev
    return tuple(reversed(stages))


__all__ = ["optimal_stages"]
