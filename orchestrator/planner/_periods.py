"""How fast each cluster size can go: a plan near the least period, and a proven lower bound on it.

A plan's period is the largest of its busiest device, the shared medium's time per frame and the
camera interval. For a candidate period p (a busy time some option can have), every option takes
the fewest replicas that keep it under p, and a shortest path over cuts minimises
``devices + lam * medium / p``. For one ``lam`` that is a Lagrangian relaxation of "at most n
devices and the medium under p":

- if even the least weight exceeds ``n + lam``, no plan on n devices has period p: a *proof*;
- if the path found uses at most n devices and its medium time is under p, it is a plan of
  period p: a *witness*.

Both only get easier as p grows, so for every n at once a bisection over the candidates (about
log2(candidates) rounds, each a handful of shortest paths over up to n_max periods and a few
``lam`` with numpy) finds the least p without a proof (the bound) and the least p with a witness
(the plan). On a switched network ``lam = 0`` settles both: the bound is the plan's period.

Where neither settles it, ``least_medium`` gives, for one candidate, the exact least medium time
of a plan on at most n devices with every stage under it (a dynamic programme over cuts and
device counts), from which ``_optimal`` bisects to the least period itself.

The bound holds for any plan only when the options are every stage of the problem; over a
coarse set of cuts (deep models) ``unit_bounds`` gives one from the units alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._cost import EPS, CostModel, Stage
from ._options import Option
from ._problem import crossing


@dataclass(frozen=True)
class Reach:
    """What the bisection found for one cluster size."""

    bound_s: float            # no plan on n devices has a shorter period (inf: no plan at all)
    tau: float                # least candidate with a witness (inf: none)
    lam: float                # the weight of the medium that found it
    first: int                # index of the least candidate without a proof
    found: int                # index of the witness's candidate (len(taus): none)


class Periods:
    """Candidate periods of a set of options, and the shortest paths under them."""

    def __init__(self, cost: CostModel, options: list[Option], n_max: int) -> None:
        self.cost, self.options, self.n_max = cost, options, n_max
        found = [o.periods() for o in options] + [np.array([cost.floor])]
        self.taus = np.unique(np.maximum(np.concatenate(found), cost.floor))
        by_end: dict[int, list[Option]] = {}
        for o in options:
            by_end.setdefault(o.i, []).append(o)
        self.groups = [(i, _Group(group)) for i, group in sorted(by_end.items())]
        self._chosen: dict[float, list[tuple[Option, int, float]]] = {}
        self._medium: dict[int, tuple[list[tuple[Option, int, float]], np.ndarray, dict[int, np.ndarray]]] = {}
        self._all = _Group(sorted(options, key=lambda o: o.i))    # in the order a forward pass needs
        # The medium's weight, in devices per period: next to none (fewest devices, the least medium
        # among those), then spread up to past n_max.
        top = max(1, math.ceil(math.log2(n_max + 1)))
        self.lams = np.array([1e-6] + [2.0 ** e for e in range(-1, top + 3, 2)]) if cost.shared else np.zeros(1)

    def least(self) -> np.ndarray:
        """For n = 1..n_max, the index of the least candidate period with a plan of at most n devices
        whose stages are all under it, the medium aside (-1: none)."""
        n = np.arange(1, self.n_max + 1)
        top = len(self.taus) - 1
        zero = np.zeros(1)
        reachable = self.paths(self.taus[top:], zero)[1][0, 0] <= n
        lo, hi = np.zeros(self.n_max, dtype=np.int64), np.full(self.n_max, top, dtype=np.int64)
        while (open_ := reachable & (lo < hi)).any():
            mid = (lo + hi) // 2
            probes = np.unique(mid[open_])
            fewest = dict(zip(probes.tolist(), self.paths(self.taus[probes], zero)[1][0].tolist()))
            ok = np.array([fewest.get(int(x), 0) for x in mid]) <= n
            hi = np.where(open_ & ok, mid, hi)
            lo = np.where(open_ & ~ok, mid + 1, lo)
        return np.where(reachable, lo, -1)

    def choose(self, tau: float, cap: int) -> list[tuple[Option, int, float]]:
        """Every option that can stay under ``tau`` on at most ``cap`` devices, with its fewest replicas and
        its medium time then."""
        if tau not in self._chosen:
            need, medium = self._all.devices(np.array([tau * (1 + EPS)]), self.n_max + 1)
            self._chosen[tau] = [(o, d // o.k, w) for o, d, w in zip(self._all.options, need[:, 0].tolist(),
                                                                     medium[:, 0].tolist()) if d <= self.n_max]
        return [c for c in self._chosen[tau] if c[1] * c[0].k <= cap]

    def paths(self, taus: np.ndarray, lams: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each lam (default: ``self.lams``) and period: the least weight, and the devices and medium
        time of its path (arrays lams x taus; devices n_max + 1 where no path exists)."""
        lams = self.lams if lams is None else lams
        big = self.n_max + 1
        m, shape = self.cost.m, (len(lams), len(taus))
        weight = np.full((m + 1, *shape), np.inf)
        devices = np.full((m + 1, *shape), big, dtype=np.int64)
        net = np.zeros((m + 1, *shape))
        weight[0] = 0.0
        devices[0] = 0
        limit = taus * (1 + EPS)
        per_tau = lams[:, None, None] / taus[None, None, :]       # lam x 1 x taus
        for i, g in self.groups:
            need, medium = g.devices(limit, big)                       # options x taus
            w = weight[g.j].transpose(1, 0, 2) + need[None] + per_tau * medium[None]   # lams x options x taus
            w[:, need >= big] = np.inf
            best = w.argmin(axis=1)                                    # lams x taus
            pick = np.take_along_axis
            weight[i] = pick(w, best[:, None], axis=1)[:, 0]
            devices[i] = pick(devices[g.j].transpose(1, 0, 2) + need[None], best[:, None], axis=1)[:, 0]
            net[i] = pick(net[g.j].transpose(1, 0, 2) + medium[None], best[:, None], axis=1)[:, 0]
        return weight[m], np.minimum(devices[m], big), net[m]

    def reach(self, prove: bool = True) -> list[Reach]:
        """For n = 1..n_max: the proven least period (nan unless ``prove``) and the least candidate with a
        witness."""
        top = len(self.taus) - 1
        # lo..hi brackets the least index without a proof; wlo..whi the least with a witness.
        lo, hi = np.full(self.n_max, 0 if prove else top, dtype=np.int64), np.full(self.n_max, top, dtype=np.int64)
        wlo, whi = np.zeros(self.n_max, dtype=np.int64), np.full(self.n_max, top + 1, dtype=np.int64)
        seen: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        while True:
            mid, wmid = (lo + hi) // 2, (wlo + whi) // 2
            open_, wopen = lo < hi, wlo < whi
            probes = np.unique(np.concatenate([mid[open_], wmid[wopen], [top]]))
            probes = probes[[int(p) not in seen for p in probes]] if seen else probes
            if len(probes):
                weight, devices, net = self.paths(self.taus[probes])
                for c, p in enumerate(probes.tolist()):
                    seen[p] = (weight[:, c], devices[:, c], net[:, c])
            if not open_.any() and not wopen.any():
                break
            proof = np.array([bool(o) and bool((seen[int(t)][0] > x + 1 + self.lams).any())
                              for x, (t, o) in enumerate(zip(mid, open_))])
            hi = np.where(open_ & ~proof, mid, hi)
            lo = np.where(open_ & proof, mid + 1, lo)
            witness = np.array([bool(o) and self._witness(seen[int(t)], float(self.taus[t]), x + 1) is not None
                                for x, (t, o) in enumerate(zip(wmid, wopen))])
            whi = np.where(wopen & witness, wmid, whi)
            wlo = np.where(wopen & ~witness, wmid + 1, wlo)
        result = []
        for x in range(self.n_max):
            t = int(lo[x])
            weight = seen[t][0]
            bound = float(self.taus[t])
            if not prove:
                bound = math.nan
            elif (weight > x + 1 + self.lams).any():
                bound = math.inf      # not even the slowest candidate: no plan on n devices
            elif t > 0 and (positive := self.lams > 0).any():
                # Between two candidates only the medium's share can still rule periods out.
                below = float(self.taus[t - 1])
                beyond = below * (seen[t - 1][0][positive] - (x + 1)) / self.lams[positive]
                bound = max(below, min(bound, float(np.max(beyond))))
            lam = self._witness(seen[int(whi[x])], float(self.taus[whi[x]]), x + 1) if whi[x] <= top else None
            result.append(Reach(bound, float(self.taus[whi[x]]) if lam is not None else math.inf,
                                lam if lam is not None else 0.0, t, int(whi[x]) if lam is not None else top + 1))
        return result

    def _witness(self, found: tuple[np.ndarray, np.ndarray, np.ndarray], tau: float, n: int) -> float | None:
        """The first lam whose path is a plan of period ``tau`` on at most ``n`` devices."""
        _, devices, net = found
        ok = np.flatnonzero((devices <= n) & (net <= tau * (1 + EPS)))
        return float(self.lams[ok[0]]) if len(ok) else None

    def stages(self, tau: float, lam: float, cap: int) -> tuple[Stage, ...] | None:
        """The path of least ``devices + lam * medium / tau`` with every stage under ``tau`` (None: none)."""
        best: list[tuple[float, Option | None, int]] = [(math.inf, None, 0)] * (self.cost.m + 1)
        best[0] = (0.0, None, 0)
        for o, r, medium in self.choose(tau, cap):
            w = best[o.j][0] + r * o.k + lam * medium / tau
            if w < best[o.i][0]:
                best[o.i] = (w, o, r)
        if best[self.cost.m][1] is None:
            return None
        stages, i = [], self.cost.m
        while i > 0:
            _, step, replicas = best[i]
            assert step is not None
            stages.append(Stage(step.j, step.i - 1, replicas, step.k))
            i = step.j
        return tuple(reversed(stages))


    @property
    def medium_runs(self) -> int:
        """How many least-medium programmes have run."""
        return len(self._medium)

    def least_medium(self, t: int, n: int) -> tuple[float, tuple[Stage, ...] | None]:
        """The least medium time of a plan on at most ``n`` devices with every stage under ``taus[t]``, and
        that plan: a dynamic programme over cuts and device counts, exact (cached per candidate)."""
        tau = float(self.taus[t])
        if t not in self._medium:
            chosen = self.choose(tau, self.n_max)
            # medium[i][d]: the least medium time of units 0..i-1 on exactly d devices; back: the option.
            medium: dict[int, np.ndarray] = {0: np.full(self.n_max + 1, np.inf)}
            medium[0][0] = 0.0
            back: dict[int, np.ndarray] = {}
            for index, (o, r, net) in enumerate(chosen):      # by end cut: medium[o.j] is final
                d = r * o.k
                before = medium.get(o.j)
                if before is None:
                    continue
                if o.i not in medium:
                    medium[o.i], back[o.i] = np.full(self.n_max + 1, np.inf), np.full(self.n_max + 1, -1)
                after, came = medium[o.i], back[o.i]
                trial = before[:self.n_max + 1 - d] + net
                better = trial < after[d:]
                after[d:][better] = trial[better]
                came[d:][better] = index
            self._medium[t] = (chosen, medium.get(self.cost.m, np.full(self.n_max + 1, np.inf)), back)
        chosen, final, back = self._medium[t]
        d = int(np.argmin(final[:n + 1]))
        if not math.isfinite(final[d]):
            return math.inf, None
        stages, i = [], self.cost.m
        while i > 0:
            o, r, _ = chosen[int(back[i][d])]
            stages.append(Stage(o.j, o.i - 1, r, o.k))
            i, d = o.j, d - r * o.k
        return float(final[:n + 1].min()), tuple(reversed(stages))


class _Group:
    """The options ending at one cut, as arrays: their replicas and medium time for many periods at once."""

    def __init__(self, options: list[Option]) -> None:
        self.options = options
        self.j = np.array([o.j for o in options])
        self.k = np.array([o.k for o in options])[:, None]
        self.b = np.array([o.b for o in options])[:, None]
        self.first_tail = np.array([len(o.head) + 1 for o in options])[:, None]
        self.r_max = np.array([o.r_max for o in options])[:, None]
        # Heads padded with -inf (never above a period), medium times padded with their last value.
        width = max(len(o.head) for o in options)
        self.heads = np.full((len(options), max(width, 1), 1), -np.inf)
        for row, o in enumerate(options):
            self.heads[row, :len(o.head), 0] = o.head
        self.head_len = np.array([len(o.head) for o in options])[:, None]
        longest = max(len(o.net) for o in options)
        self.nets = np.array([o.net + (o.net[-1],) * (longest - len(o.net)) for o in options])
        self.net_len = np.array([len(o.net) for o in options])[:, None]

    def devices(self, limit: np.ndarray, big: int) -> tuple[np.ndarray, np.ndarray]:
        """Devices each option needs under each period ``limit`` (``big``: more than it may have), and
        its medium time then (options x periods)."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            r = np.maximum(self.first_tail, np.ceil(self.b / limit[None, :])).astype(np.int64)
        in_head = (self.heads > limit[None, None, :]).sum(axis=1) + 1
        r = np.where(in_head <= self.head_len, in_head, r)
        medium = np.take_along_axis(self.nets, np.minimum(r, self.net_len) - 1, axis=1)
        return np.where(r <= self.r_max, r * self.k, big), medium


def unit_bounds(cost: CostModel, n_max: int) -> np.ndarray:
    """For n = 1..n_max, a lower bound on the period of any plan on at most n devices, from the units alone."""
    whole = cost.segment(0, cost.m, 1)
    single = max(cost.busy(whole, 1, 1), cost.floor) if whole.valid else math.inf
    bounds = np.full(n_max, single)
    if n_max == 1 or cost.m == 1:
        return bounds
    # With two stages or more, the recorder's stage holds the camera and maybe some built-in steps,
    # and every layer runs on the other n - 1 devices: each unit at its best split and replicas,
    # and the device-seconds of a frame (k shards of a unit cost k times a shard) spread over them.
    recorder = min(cost.busy(s, 1, 1) for s in (cost.segment(0, i, 1) for i in range(1, cost.recorder_units + 1))
                   if s.valid)
    if cost.shared:
        # Whatever crosses the recorder's cut goes over the medium at least once (raw or in the cut's codec).
        recorder = max(recorder, min(_sent(cost, i) for i in range(1, cost.recorder_units + 1)))
    units = cost.p.units[1:]
    ways = max(u.max_shards for u in units)
    times = np.full((len(units), ways), np.inf)
    for row, u in enumerate(units):
        times[row, :u.max_shards] = u.times
    rates = np.array([u.rate for u in units])[:, None]
    k = np.arange(1, ways + 1)
    layers = np.arange(1, len(units) + 1) >= cost.recorder_units     # layers never run on the recorder
    for n in range(2, n_max + 1):
        replicas = (n - 1) // k
        with np.errstate(divide="ignore", invalid="ignore"):
            alone = np.where(replicas > 0, times * rates / replicas, np.inf).min(axis=1)
        work = (np.where(replicas > 0, times * k, np.inf).min(axis=1) * rates[:, 0])[layers].sum()
        bounds[n - 1] = min(single, max(cost.floor, recorder, alone.max(), work / (n - 1)))
    return bounds


def _sent(cost: CostModel, cut: int) -> float:
    """The medium's least time per frame for the values crossing ``cut``, each sent once."""
    values = cost.p.values
    return sum(values[vi].rate * min(cost.wire_bytes(vi, c) for c in ("raw", cost.codec_of[cut]))
               for vi in crossing(cost.p, cut)) * cost.link.seconds_per_byte


__all__ = ["Periods", "Reach", "unit_bounds"]
