"""Algorithm 1 of the Musical Chair paper (TASKASSIGN), on the shared cost model.

1. FIND_MIN_LOAD_TASKS: the fewest groups of consecutive units that each fit a device's memory
   (the recorder keeps the camera and the built-in steps).
2. Fewer devices than groups: MINIMIZE_LOAD_TIME regroups them onto n devices, the slowest
   device (reloading included) as fast as possible.
3. More devices: MODEL_VS_DATA weighs, for every stage, one more replica (data parallelism),
   one more shard of its split layer or a cut into two stages (model parallelism), and
   CHOOSE_BEST takes the move that predicts the most IPS (then lower t_forward, then fewer
   devices added), until the n devices are used.

The paper restarts step 3 from the groups for every n; the greedy choice only depends on the
plan so far, so plan n continues from plan n-1, which gives the same plans in O(n_max) steps.
"""

from __future__ import annotations

from ._cost import CostModel, Metrics, Stage, better


def paper_stages(cost: CostModel, n_max: int, latency_bound: float | None = None
                 ) -> list[tuple[Stage, ...] | None]:
    """The stages Algorithm 1 picks for each n = 1..n_max (None where it finds none)."""
    groups = find_min_load_tasks(cost)
    result: list[tuple[Stage, ...] | None] = []
    current: tuple[Stage, ...] | None = None
    for n in range(1, n_max + 1):
        if groups is None:
            plan = None
        elif sum(s.devices for s in groups) > n:
            plan = minimize_load_time(cost, groups, n)
        else:
            current = _grow(cost, current or groups, n, latency_bound)
            plan = current
        if plan is not None and latency_bound is not None and \
                cost.evaluate(plan).t_forward_s > latency_bound:
            plan = None
        result.append(plan)
    return result


def find_min_load_tasks(cost: CostModel) -> tuple[Stage, ...] | None:
    """The recorder's stage, then the fewest consecutive groups that each fit in memory
    (a layer too big for one device alone is split into the fewest shards that fit)."""
    stages = [Stage(0, cost.recorder_units - 1)]
    first = cost.recorder_units
    while first < cost.m:
        last = first
        if not _fits(cost, first, first):
            k = next((k for k in range(2, cost.p.units[first].max_shards + 1) if _fits(cost, first, first, k)), None)
            if k is None:
                return None    # fits no device even split: Algorithm 1 has no answer
            stages.append(Stage(first, first, 1, k))
            first += 1
            continue
        while last + 1 < cost.m and _fits(cost, first, last + 1):
            last += 1
        stages.append(Stage(first, last))
        first = last + 1
    return tuple(stages)


def minimize_load_time(cost: CostModel, groups: tuple[Stage, ...], n: int) -> tuple[Stage, ...] | None:
    """Regroup ``groups`` onto ``n`` devices: consecutive groups merged (a split layer stays
    alone on its shards), the slowest device as fast as possible."""
    if n == 1:
        return (Stage(0, cost.m - 1),) if cost.segment(0, cost.m, 1).valid else None
    rest = groups[1:]
    g = len(rest)
    inf = float("inf")
    # best[c][d]: the slowest device when the first c groups run on d devices.
    best = [[inf] * n for _ in range(g + 1)]
    back: list[list[tuple[int, int]]] = [[(0, 0)] * n for _ in range(g + 1)]
    best[0][0] = 0.0
    for c in range(1, g + 1):
        for b in range(c):
            if rest[c - 1].shards > 1 or rest[b].shards > 1:
                if b != c - 1:
                    continue   # a split layer is never merged with its neighbours
                stage = rest[b]
            else:
                stage = Stage(rest[b].first, rest[c - 1].last)
            seg = cost.segment(stage.first, stage.last + 1, stage.shards)
            if not seg.valid:
                continue
            busy = cost.busy(seg, 1, stage.shards)
            for d in range(n - stage.devices):
                slowest = max(best[b][d], busy)
                if slowest < best[c][d + stage.devices]:
                    best[c][d + stage.devices], back[c][d + stage.devices] = slowest, (b, d)
    if best[g][n - 1] == inf:
        return None
    stages, c, d = [], g, n - 1
    while c > 0:
        b, d_before = back[c][d]
        stages.append(rest[b] if rest[b].shards > 1 else Stage(rest[b].first, rest[c - 1].last))
        c, d = b, d_before
    return (groups[0], *reversed(stages))


def _fits(cost: CostModel, first: int, last: int, shards: int = 1) -> bool:
    seg = cost.segment(first, last + 1, shards)
    return seg.valid and seg.reload_run_s == 0


def _grow(cost: CostModel, stages: tuple[Stage, ...], n: int, latency_bound: float | None) -> tuple[Stage, ...]:
    """MODEL_VS_DATA and CHOOSE_BEST until ``n`` devices are used or no move fits."""
    used = sum(s.devices for s in stages)
    while used < n:
        best: tuple[Metrics, tuple[Stage, ...]] | None = None
        for index, stage in enumerate(stages):
            for moved in _moves(cost, stage):
                plan = stages[:index] + moved + stages[index + 1:]
                added = sum(s.devices for s in moved) - stage.devices
                if used + added > n:
                    continue
                metrics = cost.evaluate(plan)
                if latency_bound is not None and metrics.t_forward_s > latency_bound:
                    continue
                if best is None or better(metrics, best[0]):
                    best = (metrics, plan)
        if best is None:
            break
        stages = best[1]
        used = sum(s.devices for s in stages)
    return stages


def _moves(cost: CostModel, stage: Stage) -> list[tuple[Stage, ...]]:
    """MODEL_VS_DATA for one stage: data parallelism, a split layer, or two stages."""
    moves: list[tuple[Stage, ...]] = []
    seg = cost.segment(stage.first, stage.last + 1, stage.shards)
    if seg.replicable:
        moves.append((Stage(stage.first, stage.last, stage.replicas + 1, stage.shards),))
    if cost.segment(stage.first, stage.last + 1, stage.shards + 1).valid:
        moves.append((Stage(stage.first, stage.last, stage.replicas, stage.shards + 1),))
    if stage.shards == 1 and stage.last > stage.first and stage.first > 0:
        cuts = []
        for c in range(stage.first, stage.last):
            a, b = cost.segment(stage.first, c + 1, 1), cost.segment(c + 1, stage.last + 1, 1)
            if a.valid and b.valid and (stage.replicas == 1 or (a.replicable and b.replicable)):
                cuts.append((max(a.compute_s, b.compute_s), c))
        if cuts:
            c = min(cuts)[1]
            moves.append((Stage(stage.first, c, stage.replicas), Stage(c + 1, stage.last, stage.replicas)))
    return moves


__all__ = ["find_min_load_tasks", "minimize_load_time", "paper_stages"]
