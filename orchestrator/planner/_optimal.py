"""The ``optimal`` planner: the best plan for every cluster size, most IPS first, exact while cheap.

``optimal_solutions`` runs, from n = 1 up, the exact search below until it has made
LABEL_BUDGET labels; past that (large n), and for deep models (over EXACT_UNITS units, planned
over about COARSE_CUTS cuts), the plan comes from the bisection over periods (``_periods``),
with a proven upper bound on any plan's IPS.

The exact search, over cuts of the unit chain:

1. For each n, the least candidate period tau reachable with n devices, ignoring the shared
   medium and the latency bound (``Periods.least``).
2. For that tau, every stage gets the fewest replicas that keep it under tau (more would only
   add devices and window copies, never speed a frame up), and a dynamic programme with Pareto
   labels finds the lowest t_forward, then the fewest devices. A label is a way to run units
   ``0..i-1``: devices, the medium's time, and when each value still needed is ready; one no
   better than another in all of these can never lead to a better plan.

When the best plan for tau breaks the latency bound or the medium cannot carry it, the next
candidate tau is tried: any plan faster than that candidate lies within tau's search, so the
first acceptable answer is the optimum of the whole plan space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._cost import EPS, CostModel, Metrics, Solution, Stage, better
from ._options import Option, build_options
from ._periods import Periods, Reach, unit_bounds

EXACT_UNITS = 48          # up to this many units every cut is an option; beyond, a coarse set of cuts
COARSE_CUTS = 40          # how many cuts a deep model keeps
LABEL_BUDGET = 20_000     # labels the exact search may make in all, before the bounded search takes over
MEDIUM_BUDGET = 400       # least-medium programmes (one per candidate period) the bounded search may run


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


class OverBudget(Exception):
    """The exact search would create more labels than it may: hand over to the bounded search."""


class ExactSearch:
    """The candidate periods, and the label searches under them shared by every n."""

    def __init__(self, cost: CostModel, periods: Periods, latency_bound: float | None, budget: int) -> None:
        self.cost, self.latency_bound = cost, latency_bound
        self.periods, self.taus, self.first = periods, periods.taus, periods.least()
        self.n_max = periods.n_max
        self.solved: dict[tuple[int, int], list[_Label]] = {}
        self.budget = budget

    def best(self, n: int) -> tuple[Stage, ...] | None:
        """The best stages on at most ``n`` devices (raises OverBudget when that takes too long)."""
        t0 = int(self.first[n - 1])
        if t0 < 0:
            return None
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
            cap = int(np.flatnonzero(self.first == t0)[-1]) + 1
        if (t, cap) not in self.solved:
            tau = float(self.taus[t])
            found, work = _best_under(self.cost, self.periods.choose(tau, cap), tau, cap, self.budget)
            self.budget -= work
            self.solved[(t, cap)] = found
        return self.solved[(t, cap)]

    def pick(self, n: int, t0: int, t: int, by_net: bool = False) -> tuple[tuple[float, float, int], _Label] | None:
        """The best label under taus[t] for ``n`` devices."""
        return _pick(self.labels(n, t0, t), n, self.latency_bound, float(self.taus[t]), by_net)

    def medium(self, n: int, t0: int, t: int) -> float:
        """Least medium time of a plan under taus[t] (inf: none meets the latency bound)."""
        found = self.pick(n, t0, t, by_net=True)
        return found[1].net if found else math.inf


def _best_under(cost: CostModel, chosen: list[tuple[Option, int, float]], tau: float, cap: int, budget: int
                ) -> tuple[list[_Label], int]:
    """Pareto labels of complete plans on at most ``cap`` devices whose stages all stay under ``tau``, and
    the labels it made (raises OverBudget past ``budget``)."""
    m = cost.m
    by_end: list[list[tuple[Option, int]]] = [[] for _ in range(m + 1)]
    rest = [cap + 1] * m + [0]     # fewest devices that can run units i.. under tau
    for o, r, _ in sorted(chosen, key=lambda c: -c[0].j):     # latest start first: rest[o.i] is final
        by_end[o.i].append((o, r))
        rest[o.j] = min(rest[o.j], r * o.k + rest[o.i])
    labels: list[list[_Label]] = [[] for _ in range(m + 1)]
    labels[0] = [_Label(0, 0.0, (), None, None)]
    work = len(chosen)
    for i in range(1, m + 1):
        found: list[_Label] = []
        for o, r in by_end[i]:
            if not labels[o.j]:
                continue
            take, waits = o.take, o.waits
            net = o.medium(r)
            stage = Stage(o.j, i - 1, r, o.k)
            for lab in labels[o.j]:
                devices = lab.devices + r * o.k
                if devices + rest[i] > cap:
                    continue
                finish = max((lab.ready[x] + a for x, a in waits), default=0.0) + o.seg.run_s
                found.append(_Label(devices, lab.net + net, tuple(lab.ready[x] if x >= 0 else finish for x in take),
                                    lab, stage))
        work += len(found)
        if work > budget:
            raise OverBudget
        labels[i] = _pareto(found)
    return labels[m], work


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


def optimal_stages(cost: CostModel, n_max: int, latency_bound: float | None = None
                   ) -> list[tuple[Stage, ...] | None]:
    """The best stages for each n = 1..n_max (None where no plan fits)."""
    return [s.stages if s else None for s in optimal_solutions(cost, n_max, latency_bound)]


def optimal_solutions(cost: CostModel, n_max: int, latency_bound: float | None = None) -> list[Solution | None]:
    """For each n = 1..n_max, the best plan the exact search finds within its budget, else the bounded
    search's plan, each with an upper bound on the IPS of any plan on n devices."""
    coarse = cost.m > EXACT_UNITS
    options = build_options(cost, n_max, _coarse_cuts(cost) if coarse else None)
    if not any(o.i == cost.m for o in options):
        return [None] * n_max       # some unit fits no device
    periods = Periods(cost, options, n_max)
    exact = None if coarse else ExactSearch(cost, periods, latency_bound, LABEL_BUDGET)
    reach = periods.reach(prove=not coarse)
    units_bound = unit_bounds(cost, n_max) if coarse else None
    result: list[Solution | None] = []
    previous = None
    for n in range(1, n_max + 1):
        if exact is not None:
            try:
                stages = exact.best(n)
                result.append(Solution(stages, cost.evaluate(stages).ips) if stages else None)
                previous = stages
                continue
            except OverBudget:
                exact = None    # larger n only cost more
        r = reach[n - 1]
        found = [previous]
        if math.isfinite(r.tau):    # the witness of the least period found, and the fewest devices under it
            found += [periods.stages(r.tau, x, n) for x in dict.fromkeys((r.lam, 0.0))]
        bound_s = float(units_bound[n - 1]) if units_bound is not None else r.bound_s
        # Unless one of them already has the least period, search it with the least medium per period.
        _, fastest = _best(cost, found, n, None)
        ceiling = fastest.period_s if fastest else math.inf
        if cost.shared and math.isfinite(r.bound_s) and ceiling > r.bound_s * (1 + EPS):
            period, more = _least_period(periods, r, n, ceiling)
            found += more
            if units_bound is None:
                bound_s = max(bound_s, period)
        stages, _ = _best(cost, found, n, latency_bound)
        result.append(Solution(stages, cost.out_rate / bound_s if bound_s > 0 else math.inf) if stages else None)
        previous = stages or previous
    return result


def _least_period(periods: Periods, reach: Reach, n: int, ceiling: float
                  ) -> tuple[float, list[tuple[Stage, ...] | None]]:
    """On a shared medium: the least period of any plan on ``n`` devices (0.0: not searched) and the plans
    that reach it, from the exact least medium time under each candidate, which only falls as the
    candidate grows (a bisection). ``ceiling``: the period of a plan at hand; a candidate above it
    cannot win, so the answer is exact."""
    if periods.medium_runs >= MEDIUM_BUDGET:
        return 0.0, []
    taus = periods.taus
    below = int(np.searchsorted(taus, ceiling * (1 + EPS), side="right")) - 1
    lo, hi = reach.first, min(reach.found, len(taus) - 1, below)

    def fits(t: int) -> bool:
        return periods.least_medium(t, n)[0] <= taus[t] * (1 + EPS)

    period, found = ceiling, []
    if lo <= hi and fits(hi):
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
        period, found = float(taus[lo]), [periods.least_medium(lo, n)[1]]
    else:
        lo = hi + 1         # nothing fits under taus[hi]: only the medium at hi can beat the ceiling
    if lo > 0:
        # Or the medium sets the period, below taus[lo], with every stage under taus[lo - 1].
        net, stages = periods.least_medium(lo - 1, n)
        period = min(period, max(float(taus[lo - 1]), net))
        found.append(stages)
    return period, found


def _best(cost: CostModel, found: list[tuple[Stage, ...] | None], n: int, latency_bound: float | None
          ) -> tuple[tuple[Stage, ...] | None, Metrics | None]:
    """The best of ``found`` on at most ``n`` devices within the latency bound, and its figures."""
    best, best_m = None, None
    for stages in found:
        if stages is None:
            continue
        m = cost.evaluate(stages)
        if m.devices <= n and (latency_bound is None or m.t_forward_s <= latency_bound * (1 + EPS)) \
                and better(m, best_m):
            best, best_m = stages, m
    return best, best_m


def _coarse_cuts(cost: CostModel) -> list[int]:
    """About COARSE_CUTS cuts of a deep model: in each of as many spans of equal work, the cut that
    the fewest bytes cross (where a residual or concatenation is not pending)."""
    units, values = cost.p.units, cost.p.values
    first = cost.recorder_units
    work = np.cumsum([u.times[0] * u.rate for u in units])
    crossing = [sum(values[vi].nbytes for vi in cost.live[c]) for c in range(cost.m + 1)]
    spans = np.linspace(work[first - 1], work[-1], COARSE_CUTS + 1)
    cuts = {0, first, cost.m}
    for lo, hi in zip(spans, spans[1:]):
        inside = [c for c in range(first + 1, cost.m) if lo <= work[c - 1] <= hi]
        if inside:
            cuts.add(min(inside, key=lambda c: (crossing[c], -c)))
    return sorted(cuts)


__all__ = ["EXACT_UNITS", "LABEL_BUDGET", "optimal_solutions", "optimal_stages"]
