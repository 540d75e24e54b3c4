"""The scalable planner against the brute force: exact where the label budget allows, and when it is
not, a plan on at most n devices and an IPS bound no plan beats (hypothesis draws the problems)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.planner import _optimal
from orchestrator.planner._cost import CostModel, Solution
from orchestrator.planner._optimal import optimal_solutions
from orchestrator.planner._periods import unit_bounds
from orchestrator.planner._synthetic import DEEP_DAGS, deep_dag
from orchestrator.profile import find_profile

from ._random_problems import best_by_n, evaluate_all, random_problem

N_MAX = 6
SEEDS = st.integers(min_value=1000, max_value=10**6)


@contextmanager
def _limits(**values: int) -> Iterator[None]:
    """The planner's limits (LABEL_BUDGET, EXACT_UNITS, COARSE_CUTS) set for a block."""
    saved = {name: getattr(_optimal, name) for name in values}
    for name, value in values.items():
        setattr(_optimal, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(_optimal, name, value)


def _check(cost: CostModel, found: list[Solution | None], exact: bool, best_ips: bool = False) -> None:
    """Every plan fits n devices and its bound is at least the brute force's best IPS; exact plans
    are the brute force's (same period, t_forward and devices); with ``best_ips``, the plan has the
    most IPS and its bound is that IPS."""
    want = best_by_n(evaluate_all(cost, N_MAX), N_MAX)
    for n, (got, best) in enumerate(zip(found, want), 1):
        if best is None:
            assert got is None, f"n={n}: {got} where the brute force has no plan"
            continue
        if got is None:
            assert not exact, f"n={n}: no plan, the brute force has {best[1]}"
            continue
        metrics = cost.evaluate(got.stages)
        assert metrics.devices <= n
        assert got.bound_ips >= best[0].ips * (1 - 1e-9), f"n={n}: bound {got.bound_ips} < best IPS {best[0].ips}"
        assert got.bound_ips >= metrics.ips * (1 - 1e-9)
        if best_ips:
            assert math.isclose(metrics.ips, best[0].ips, rel_tol=1e-9), f"n={n}: {metrics.ips} < {best[0].ips}"
            assert math.isclose(got.bound_ips, best[0].ips, rel_tol=1e-9)
        if exact:
            assert math.isclose(metrics.period_s, best[0].period_s, rel_tol=1e-9)
            assert math.isclose(metrics.t_forward_s, best[0].t_forward_s, rel_tol=1e-9)
            assert metrics.devices == best[0].devices
            assert math.isclose(got.bound_ips, metrics.ips, rel_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(SEEDS)
def test_within_budget_it_is_the_brute_force(seed: int) -> None:
    cost = CostModel(random_problem(seed))
    _check(cost, optimal_solutions(cost, N_MAX), exact=True)


@settings(max_examples=40, deadline=None)
@given(SEEDS)
def test_past_the_budget_the_bound_holds(seed: int) -> None:
    """No label budget at all: every n goes to the bisection and the least medium per period, which
    still find the most IPS (not always the lowest t_forward), and prove it."""
    with _limits(LABEL_BUDGET=0):
        cost = CostModel(random_problem(seed))
        _check(cost, optimal_solutions(cost, N_MAX), exact=False, best_ips=True)


@settings(max_examples=40, deadline=None)
@given(SEEDS)
def test_coarse_cuts_and_the_unit_bound_hold(seed: int) -> None:
    """As for a deep model: a few cuts only, and the bound from the units alone."""
    with _limits(EXACT_UNITS=0, COARSE_CUTS=2):
        cost = CostModel(random_problem(seed))
        _check(cost, optimal_solutions(cost, N_MAX), exact=False)
    best = best_by_n(evaluate_all(cost, N_MAX), N_MAX)
    for n, (bound, b) in enumerate(zip(unit_bounds(cost, N_MAX), best), 1):
        assert b is None or bound <= b[0].period_s * (1 + 1e-9), f"n={n}: unit bound {bound} > best period"


def test_the_bound_is_tight_on_a_switched_network() -> None:
    """Without a shared medium the least period is reached: the bound is the plan's IPS from the budget on."""
    seeds = [s for s in range(2000, 2200) if random_problem(s).profile.link.medium == "switched"][:5]
    for seed in seeds:
        cost = CostModel(random_problem(seed))
        exact = optimal_solutions(cost, N_MAX)
        with _limits(LABEL_BUDGET=0):
            bounded = optimal_solutions(cost, N_MAX)
        for e, b in zip(exact, bounded):
            assert (e is None) == (b is None)
            if e is not None and b is not None:
                assert math.isclose(cost.evaluate(b.stages).ips, e.bound_ips, rel_tol=1e-9)
                assert math.isclose(b.bound_ips, e.bound_ips, rel_tol=1e-9)


@pytest.mark.parametrize("name", sorted(DEEP_DAGS))
def test_deep_dags_plan_many_devices(name: str) -> None:
    """A shrunk deep model on 1..48 devices: plans fit, IPS never falls, the bound is never below."""
    cost = CostModel(deep_dag(name, find_profile("rpi3"), scale=0.25))
    found = optimal_solutions(cost, 48)
    ips = 0.0
    for n, s in enumerate(found, 1):
        assert s is not None, f"n={n}: no plan"
        metrics = cost.evaluate(s.stages)
        assert metrics.devices <= n
        assert metrics.ips >= ips * (1 - 1e-9)
        assert s.bound_ips >= metrics.ips * (1 - 1e-9)
        ips = metrics.ips
    assert ips > 10 * cost.evaluate(found[0].stages).ips    # many devices do help


def test_deep_dags_have_their_architectures_shape() -> None:
    rpi3 = find_profile("rpi3")
    kinds = {name: [u.kind for u in deep_dag(name, rpi3).units] for name in DEEP_DAGS}
    assert kinds["densenet121"].count("CONCATENATION") == 58
    assert kinds["resnet50"].count("ADD") == 16
    assert len(kinds["nasnet-mobile"]) > 500
    problem = deep_dag("densenet121", rpi3)
    # A concatenation reads the block's running concatenation and the new layer's output.
    concat = next(i for i, u in enumerate(problem.units) if u.kind == "CONCATENATION")
    assert sum(concat in v.consumers for v in problem.values) == 2
