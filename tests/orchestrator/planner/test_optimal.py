"""The exact planner against a brute force over the whole plan space, on random small problems.

The brute force (``_random_problems.all_plans``) shares no code with the planners' searches:
every cut of the unit chain, every shards k of each stage's last unit, every replicas r, the
validity rules of the plan space, ``CostModel.evaluate`` and ``better``.
"""

from __future__ import annotations

import math
import random

import pytest

from orchestrator.planner._cost import CostModel, Metrics, Stage
from orchestrator.planner._optimal import optimal_stages
from orchestrator.planner._paper import paper_stages
from orchestrator.planner._problem import Problem, Unit, Value

from ._random_problems import (
    all_plans,
    best_by_n,
    evaluate_all,
    latency_bound_between,
    make_profile,
    random_problem,
)

N_MAX = 6
SEEDS = range(240)

def _same(got: Metrics, want: Metrics) -> bool:
    return (math.isclose(got.period_s, want.period_s, rel_tol=1e-9)
            and math.isclose(got.t_forward_s, want.t_forward_s, rel_tol=1e-9)
            and got.devices == want.devices)


def _check_against_brute_force(cost: CostModel, evaluated: list[tuple[Metrics, tuple[Stage, ...]]],
                               latency_bound: float | None) -> None:
    want = best_by_n(evaluated, N_MAX, latency_bound)
    got = optimal_stages(cost, N_MAX, latency_bound)
    assert len(got) == N_MAX
    for n, (g, w) in enumerate(zip(got, want), 1):
        if w is None:
            assert g is None, f"n={n}, bound={latency_bound}: optimal found {g}, the brute force no plan"
            continue
        assert g is not None, f"n={n}, bound={latency_bound}: optimal found no plan, the brute force {w[1]}"
        metrics = cost.evaluate(g)
        assert metrics.devices <= n
        if latency_bound is not None:
            assert metrics.t_forward_s <= latency_bound
        assert _same(metrics, w[0]), (
            f"n={n}, bound={latency_bound}: optimal {g} gives period {metrics.period_s}, t_forward "
            f"{metrics.t_forward_s}, {metrics.devices} devices; the brute force {w[1]} gives {w[0].period_s}, "
            f"{w[0].t_forward_s}, {w[0].devices}")


@pytest.mark.parametrize("seed", SEEDS)
def test_optimal_matches_brute_force(seed: int) -> None:
    cost = CostModel(random_problem(seed))
    evaluated = evaluate_all(cost, N_MAX)
    _check_against_brute_force(cost, evaluated, None)
    rng = random.Random(seed)
    if rng.random() < 0.35:
        bound = latency_bound_between(evaluated, rng)
        if bound is not None:
            _check_against_brute_force(cost, evaluated, bound)


@pytest.mark.parametrize("seed", SEEDS)
def test_optimal_never_worse_than_paper(seed: int) -> None:
    cost = CostModel(random_problem(seed))
    optimal = optimal_stages(cost, N_MAX)
    paper = paper_stages(cost, N_MAX)
    legal = set(all_plans(cost, N_MAX))
    ips = 0.0
    for n, (o, p) in enumerate(zip(optimal, paper), 1):
        if o is not None:
            om = cost.evaluate(o)
            assert om.ips >= ips * (1 - 1e-9), f"n={n}: optimal IPS fell from {ips} to {om.ips}"
            ips = om.ips
        else:
            assert ips == 0.0, f"n={n}: optimal found no plan, but did with fewer devices"
        if p is None:
            continue
        assert p in legal, f"n={n}: paper plan {p} is outside the plan space"
        pm = cost.evaluate(p)
        assert pm.devices <= n
        assert o is not None, f"n={n}: paper found {p}, optimal nothing"
        om = cost.evaluate(o)
        if math.isclose(om.period_s, pm.period_s, rel_tol=1e-9):
            assert om.t_forward_s <= pm.t_forward_s * (1 + 1e-9), f"n={n}: paper {p} beats optimal {o} on t_forward"
        else:
            assert om.period_s < pm.period_s, f"n={n}: paper {p} beats optimal {o} on the period"


def test_generator_is_deterministic_and_varied() -> None:
    assert random_problem(7) == random_problem(7)
    problems = [random_problem(s) for s in SEEDS]
    assert len({p.units for p in problems}) == len(problems)
    costs = [CostModel(p) for p in problems]
    # Every feature the property tests rely on shows up in some problems.
    assert any(c.recorder_units > 1 for c in costs)
    assert all(4 <= len(p.units) <= 7 and p.units[0].kind == "camera" for p in problems)
    assert all(any(v.is_output and v.producer == len(p.units) - 1 for v in p.values) for p in problems)
    assert sum(any(v.window > 1 and v.producer > 0 for v in p.values) for p in problems) > 40
    assert sum(any(len(v.consumers) > 1 for v in p.values) for p in problems) > 40
    assert sum(p.profile.link.medium == "switched" for p in problems) > 60
    assert sum(p.fps < 5 for p in problems) > 20
    reloads = splits_only = 0
    for c in costs:
        m = c.m
        reloads += any(c.segment(j, i, 1).valid and c.segment(j, i, 1).reload_run_s > 0
                       for j in range(m) for i in range(j + 1, m + 1))
        splits_only += any(not c.segment(i, i + 1, 1).valid and any(c.segment(i, i + 1, k).valid
                                                                     for k in range(2, c.p.units[i].max_shards + 1))
                           for i in range(1, m))
    assert reloads > 40
    assert splits_only > 10


# --- The bug the random problems found, on a hand-built problem ---------------------------------------------------


def _switched_window_problem() -> Problem:
    """camera -> a (1 s) -> b (0.2 s), a's 1.5 MB output kept in a window of 4 by b, on a switched network
    at 1 us/byte: b's NIC receives every tag of it whatever its replicas (min(4, r) copies over r devices)."""
    profile = make_profile(medium="switched", seconds_per_byte=1e-6, latency_s=0.0, base_mb=0.0,
                           task_overhead_s=0.0, camera_s=0.01, usable_memory_mb=1000.0)
    units = (Unit("camera", "recorder", "camera", (0.01,)),
             Unit("a", "net", "CONV_2D", (1.0,), 0, 1_500_000, 1.0, 0),
             Unit("b", "net", "CONV_2D", (0.2,), 0, 1_000, 1.0, 1))
    values = (Value("frame", 0, (1,), 1_000),
              Value("a", 1, (2,), 1_500_000, window=4),
              Value("b", 2, (), 1_000, is_output=True))
    return Problem("switched-window", profile, units, values, 30.0, 1000e6)


def test_switched_window_problem_costs() -> None:
    """The cost model's side of the case below, by hand."""
    cost = CostModel(_switched_window_problem())
    b = cost.segment(2, 3, 1)
    for r in (1, 2, 3, 4):
        # min(4, r) copies of 1.5 MB over r devices: 1.5 s of NIC time on each, whatever r.
        assert cost.busy(b, r, 1) == pytest.approx(1.5)
    whole = cost.segment(1, 3, 1)          # a..b together: the window stays inside, nothing to send
    assert not whole.replicable
    assert cost.evaluate((Stage(0, 0), Stage(1, 2))).period_s == pytest.approx(1.2)
    assert cost.evaluate((Stage(0, 0), Stage(1, 1, 2), Stage(2, 2, 2))).period_s == pytest.approx(1.5)


def test_switched_window_replicas_do_not_help() -> None:
    """recorder | a..b, period 1.2 s, for n = 2..7 (any plan sending a's output to b's stage keeps b's
    NIC busy 1.5 s per frame with up to 4 replicas), and recorder | a | b x6, period 1.0 s (4 copies over
    6 NICs), at n = 8: replicas do not divide a windowed stage's NIC time by r."""
    cost = CostModel(_switched_window_problem())
    want = best_by_n(evaluate_all(cost, 8), 8)
    got = optimal_stages(cost, 8)
    expected = {n: (1.2, (Stage(0, 0), Stage(1, 2))) for n in range(2, 8)}
    expected[8] = (1.0, (Stage(0, 0), Stage(1, 1), Stage(2, 2, 6)))
    for n, (period, stages) in expected.items():
        best = want[n - 1]
        assert best is not None and best[1] == stages and best[0].period_s == pytest.approx(period)
    for n in range(1, 9):
        best, plan = want[n - 1], got[n - 1]
        assert best is not None and plan is not None
        assert _same(cost.evaluate(plan), best[0]), f"n={n}: {plan}, want {best[1]}"
