"""Algorithm 1 of the paper (TASKASSIGN) on hand-built problems: groups, merges and growth moves."""

from __future__ import annotations

import pytest

from orchestrator.planner._cost import CostModel, Stage, better
from orchestrator.planner._paper import (
    find_min_load_tasks,
    minimize_load_time,
    paper_stages,
)
from orchestrator.planner._problem import Problem, Unit, Value

from ._random_problems import MB, make_profile, random_problem

# 100 MB per device, 10 MB of it the runtime; weights and activations count once.
# Load: 0.5 s + 0.1 s/MB. 5 ms per task run. A fast shared link: 1 ns/byte, 1 ms.
PROFILE: dict[str, float] = {
    "seconds_per_byte": 1e-9, "latency_s": 0.001, "base_mb": 10.0, "weights_factor": 1.0,
    "activations_factor": 1.0, "load_base_s": 0.5, "load_s_per_mb": 0.1, "task_overhead_s": 0.005,
    "camera_s": 0.01, "usable_memory_mb": 100.0,
}


def _layer(name: str, time: float | tuple[float, ...], weights_mb: float = 0.0, kind: str = "CONV_2D") -> Unit:
    times = time if isinstance(time, tuple) else (time,)
    return Unit(name, "net", kind, times, int(weights_mb * MB), 1000, 1.0, 0)


def _chain(layers: list[Unit], steps: int = 0, windows: dict[int, int] | None = None) -> CostModel:
    """camera, ``steps`` built-in steps, then ``layers``, each unit reading the previous one's output."""
    prof = make_profile(**PROFILE)  # type: ignore[arg-type]
    units = [Unit("camera", "recorder", "camera", (prof.camera_s,))]
    units += [Unit(f"step{s}", f"step{s}", "step", (0.02,), 0, 1000, 1.0) for s in range(steps)]
    units += layers
    windows = windows or {}
    values = [Value(u.name, i, (i + 1,) if i + 1 < len(units) else (), 1000, windows.get(i, 1), 1.0,
                    i + 1 == len(units)) for i, u in enumerate(units)]
    return CostModel(Problem("hand", prof, tuple(units), tuple(values), 30.0, 100 * MB))


def _plans(cost: CostModel, n_max: int) -> dict[int, tuple[Stage, ...] | None]:
    return dict(enumerate(paper_stages(cost, n_max), 1))


# --- FIND_MIN_LOAD_TASKS ---------------------------------------------------------------------------------------


def test_groups_fill_memory_greedily() -> None:
    # a 40 + b 30 MB fit together (10 + 70 MB), c does not join them (120 MB); c 40 + d 20 MB fit.
    cost = _chain([_layer("a", 0.1, 40), _layer("b", 0.1, 30), _layer("c", 0.1, 40), _layer("d", 0.1, 20)],
                  steps=1)
    assert find_min_load_tasks(cost) == (Stage(0, 1), Stage(2, 3), Stage(4, 5))


def test_a_unit_that_fits_only_split_gets_the_fewest_shards_that_fit() -> None:
    big2 = _layer("big", (2.0, 1.2, 0.9), 150, kind="FULLY_CONNECTED")    # 10 + 75 MB split 2 ways
    big3 = _layer("big", (2.0, 1.2, 0.9), 200, kind="FULLY_CONNECTED")    # 10 + 100 MB: 3 ways (76.7 MB)
    for big, k in ((big2, 2), (big3, 3)):
        cost = _chain([_layer("a", 0.1, 40), _layer("b", 0.1, 30), big, _layer("e", 0.1)])
        assert find_min_load_tasks(cost) == (Stage(0, 0), Stage(1, 2), Stage(3, 3, 1, k), Stage(4, 4))
    # 300 MB cannot fit even 3 ways (110 MB a shard): Algorithm 1 has no answer.
    cost = _chain([_layer("a", 0.1, 40), _layer("big", (2.0, 1.2, 0.9), 300, kind="FULLY_CONNECTED")])
    assert find_min_load_tasks(cost) is None
    assert paper_stages(cost, 6) == [None] * 6


def test_a_split_layer_is_never_merged() -> None:
    cost = _chain([_layer("a", 0.1, 40), _layer("big", (2.0, 1.2), 150, kind="FULLY_CONNECTED"),
                   _layer("c", 0.1, 40)])
    groups = (Stage(0, 0), Stage(1, 1), Stage(2, 2, 1, 2), Stage(3, 3))
    assert find_min_load_tasks(cost) == groups
    plans = _plans(cost, 6)
    # a, big /2 and c need 4 devices besides the recorder, and none can share one.
    assert [plans[n] for n in range(1, 5)] == [None] * 4
    assert plans[5] == groups


# --- MINIMIZE_LOAD_TIME: fewer devices than groups -------------------------------------------------------------


def test_one_device_runs_everything_and_reloads() -> None:
    cost = _chain([_layer("a", 0.1, 40), _layer("b", 0.1, 30), _layer("c", 0.1, 40), _layer("d", 0.1, 20)],
                  steps=1)
    plans = _plans(cost, 3)
    assert plans[1] == (Stage(0, 5),)
    m = cost.evaluate(plans[1])
    # Groups on the one device: camera, step, a, b (80 MB) then c, d (70 MB): 0.5 + 7 and 0.5 + 6 s of loading.
    assert m.reload_s == pytest.approx(14.0)
    # Two devices: the recorder, and every layer on the other, reloading the same two groups.
    assert plans[2] == (Stage(0, 1), Stage(2, 5))
    assert cost.evaluate(plans[2]).reload_s == pytest.approx(14.0)
    # Three: the groups as found, nothing reloaded.
    assert plans[3] == (Stage(0, 1), Stage(2, 3), Stage(4, 5))
    assert cost.evaluate(plans[3]).reload_s == 0.0


def test_merges_minimise_the_slowest_device() -> None:
    # Four layers of 60 MB: one per device. Merged, each costs 0.5 + 6 s of loading per run.
    cost = _chain([_layer("g1", 0.5, 60), _layer("g2", 1.2, 60), _layer("g3", 1.0, 60), _layer("g4", 3.0, 60)])
    groups = find_min_load_tasks(cost)
    assert groups == (Stage(0, 0), Stage(1, 1), Stage(2, 2), Stage(3, 3), Stage(4, 4))
    # 3 devices for 4 groups: g1+g2 (1.7 + 13 s) beats g2+g3 (2.2 + 13 s) and g3+g4 (4 + 13 s).
    assert minimize_load_time(cost, groups, 4) == (Stage(0, 0), Stage(1, 2), Stage(3, 3), Stage(4, 4))
    # 2 devices: g1+g2 | g3+g4 (slowest 17 s) beats g1 | g2..g4 (24.7 s) and g1..g3 | g4 (22.2 s).
    assert minimize_load_time(cost, groups, 3) == (Stage(0, 0), Stage(1, 2), Stage(3, 4))
    assert minimize_load_time(cost, groups, 2) == (Stage(0, 0), Stage(1, 4))
    assert minimize_load_time(cost, groups, 1) == (Stage(0, 4),)
    plans = _plans(cost, 5)
    assert plans[3] == (Stage(0, 0), Stage(1, 2), Stage(3, 4))
    assert cost.evaluate(plans[3]).period_s == pytest.approx(4.0 + 13.0 + 0.005)
    assert plans[5] == groups


# --- MODEL_VS_DATA and CHOOSE_BEST: more devices -----------------------------------------------------------------


def test_growth_splits_then_replicates() -> None:
    # pool (10 ms) then an fc of 1 s, 0.3 s split 2 ways: splitting beats a replica and a cut.
    cost = _chain([_layer("pool", 0.01, kind="MAX_POOL_2D"), _layer("fc", (1.0, 0.3), 40, kind="FULLY_CONNECTED")])
    plans = _plans(cost, 5)
    assert plans[2] == (Stage(0, 0), Stage(1, 2))
    assert plans[3] == (Stage(0, 0), Stage(1, 2, 1, 2))
    assert cost.evaluate(plans[3]).period_s == pytest.approx(0.01 + 0.3 + 0.005)
    # Four devices: another replica needs two more, a third shard does not exist: no move fits.
    assert plans[4] == plans[3]
    assert plans[5] == (Stage(0, 0), Stage(1, 2, 2, 2))


def test_growth_cuts_then_replicates_the_slowest_stage() -> None:
    # a -> b through a window of 3: a..b together cannot be replicated, and b cannot be split.
    cost = _chain([_layer("a", 1.0, 40), _layer("b", 1.2, 40)], windows={1: 3})
    plans = _plans(cost, 6)
    assert plans[2] == (Stage(0, 0), Stage(1, 2))
    assert plans[3] == (Stage(0, 0), Stage(1, 1), Stage(2, 2))
    assert plans[4] == (Stage(0, 0), Stage(1, 1), Stage(2, 2, 2))
    assert plans[5] == (Stage(0, 0), Stage(1, 1, 2), Stage(2, 2, 2))
    assert plans[6] == (Stage(0, 0), Stage(1, 1, 2), Stage(2, 2, 3))
    assert cost.evaluate(plans[6]).period_s == pytest.approx(1.005 / 2)


def _moves(cost: CostModel, stages: tuple[Stage, ...], balanced: bool = False) -> list[tuple[Stage, ...]]:
    """Every plan one move away: a replica, a shard, or a cut of a stage in two (``balanced``: only the cut
    whose halves' busy times have the smallest maximum, the one MODEL_VS_DATA weighs)."""
    out = []
    for x, s in enumerate(stages):
        seg = cost.segment(s.first, s.last + 1, s.shards)
        if seg.replicable:
            out.append(stages[:x] + (Stage(s.first, s.last, s.replicas + 1, s.shards),) + stages[x + 1:])
        if cost.segment(s.first, s.last + 1, s.shards + 1).valid:
            out.append(stages[:x] + (Stage(s.first, s.last, s.replicas, s.shards + 1),) + stages[x + 1:])
        if s.shards == 1 and s.first > 0:
            cuts = []
            for c in range(s.first, s.last):
                a, b = cost.segment(s.first, c + 1, 1), cost.segment(c + 1, s.last + 1, 1)
                if a.valid and b.valid and (s.replicas == 1 or (a.replicable and b.replicable)):
                    cuts.append((max(a.compute_s, b.compute_s), c))
            for _, c in sorted(cuts)[:1] if balanced else cuts:
                out.append(stages[:x] + (Stage(s.first, c, s.replicas), Stage(c + 1, s.last, s.replicas))
                           + stages[x + 1:])
    return out


@pytest.mark.parametrize("seed", range(0, 240, 3))
def test_growth_is_one_move_at_a_time_and_uses_every_device(seed: int) -> None:
    cost = CostModel(random_problem(seed))
    n_max = 8
    plans = _plans(cost, n_max)
    groups = find_min_load_tasks(cost)
    if groups is None:
        assert all(p is None for p in plans.values())
        return
    start = sum(s.devices for s in groups)
    previous = None
    for n in range(start, n_max + 1):
        plan = plans[n]
        assert plan is not None
        devices = cost.evaluate(plan).devices
        assert devices <= n
        if previous is None:
            assert plan == groups
        else:
            fitting = [p for p in _moves(cost, previous) if sum(s.devices for s in p) <= n]
            if plan == previous:
                assert not fitting, f"n={n}: {previous} kept though a move fits"
            else:
                assert plan in fitting, f"n={n}: {plan} is not one move from {previous}"
                # CHOOSE_BEST: no candidate move predicts better figures.
                candidates = [p for p in _moves(cost, previous, balanced=True) if sum(s.devices for s in p) <= n]
                assert plan in candidates
                assert not any(better(cost.evaluate(p), cost.evaluate(plan)) for p in candidates), \
                    f"n={n}: a better move than {plan}"
        if devices < n:
            assert not [p for p in _moves(cost, plan) if sum(s.devices for s in p) <= n], \
                f"n={n}: {plan} uses {devices} devices though a move fits"
        previous = plan
