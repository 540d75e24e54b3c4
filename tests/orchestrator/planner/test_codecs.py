"""The cost model with tensor codecs: encoded bytes, codec time, and the error budget, by hand."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.planner import CodecFacts, crossing, make_plan, plan_problem
from orchestrator.planner._cost import CostModel, Stage
from orchestrator.planner._planner import _within_budget
from orchestrator.planner._problem import Problem, Value
from orchestrator.profile import CodecTiming
from worker.cluster import CodecSettings

from .test_cost import _layer, _problem

UINT8 = CodecTiming(encode_s_per_mb=0.01, decode_s_per_mb=0.005)   # 10 / 5 ms per MB of float32


def problem(budget: float, errors: tuple[float, ...] = (0.0, 0.02, 0.02, 0.0), timed: bool = True,
            choose: tuple[str, ...] = ("raw", "uint8")) -> Problem:
    """camera -> a -> b: a 100 kB frame and a 100 kB activation on a 1 us/byte link; uint8 keeps 1/4."""
    units = [_layer("a", (0.05,), out=100_000), _layer("b", (0.05,), out=100, index=1)]
    values = [Value("frame", 0, (1,), 100_000), Value("a", 1, (2,), 100_000), Value("b", 2, (), 100, is_output=True)]
    p = _problem(units, values)
    facts = CodecFacts({"raw": (1.0, 1.0, 1.0), "uint8": (0.25, 0.25, 1.0)}, {"uint8": errors}, frames=3, results=3)
    profile = dataclasses.replace(p.profile, codecs={"uint8": UINT8} if timed else {})
    return dataclasses.replace(p, profile=profile, codecs=CodecSettings(choose, budget), codec_facts=facts)


def test_crossing_is_what_a_stage_starting_there_receives() -> None:
    p = problem(0.05)
    assert crossing(p, 1) == (0,) and crossing(p, 2) == (1,) and crossing(p, 3) == ()


def test_a_cut_takes_the_codec_with_the_least_transfer_and_codec_time() -> None:
    cost = CostModel(problem(0.05))
    # raw: 100 kB * 1 us = 0.1 s; uint8: 25 kB * 1 us + 0.1 MB * 15 ms/MB = 0.0265 s.
    assert cost.codec_of == ["raw", "uint8", "uint8", "raw"]
    seg = cost.segment(1, 2, 1)
    assert seg.codec == "uint8"
    assert cost.in_bytes(seg, 1, 1) == pytest.approx(25_000)
    # Arrival: encode 1 ms + latency 10 ms + 25 kB * 1 us.
    assert cost.arrival(0, 1, "uint8") == pytest.approx(0.001 + 0.01 + 0.025)
    # The receiver decodes: 0.5 ms more per run than raw would cost.
    raw = CostModel(problem(0.0))
    assert seg.run_s == pytest.approx(raw.segment(1, 2, 1).run_s + 0.0005)
    m, m_raw = cost.evaluate((Stage(0, 0), Stage(1, 1), Stage(2, 2))), raw.evaluate((Stage(0, 0), Stage(1, 1),
                                                                                       Stage(2, 2)))
    assert m.network_s == pytest.approx(0.05) and m_raw.network_s == pytest.approx(0.2)


def test_no_budget_allows_lossless_codecs_only() -> None:
    assert CostModel(problem(0.0)).codec_of == ["raw"] * 4


def test_a_cut_whose_error_is_over_the_budget_stays_raw() -> None:
    assert CostModel(problem(0.05, errors=(0.0, 0.2, 0.02, 0.0))).codec_of == ["raw", "raw", "uint8", "raw"]


def test_a_codec_the_profile_has_no_time_for_is_never_chosen() -> None:
    assert CostModel(problem(0.05, timed=False)).codec_of == ["raw"] * 4


PIPELINE = (Stage(0, 0), Stage(1, 1), Stage(2, 2))


def test_a_pipeline_whose_cuts_add_up_past_the_budget_is_planned_again_within_it() -> None:
    # Each cut alone fits 0.05, both together (0.03 + 0.03) do not.
    p = problem(0.05, (0.0, 0.03, 0.03, 0.0))
    over = make_plan(CostModel(p), 3, "optimal", PIPELINE)
    assert over.error == pytest.approx(0.06)
    fixed = _within_budget(p, over, "optimal", None)
    assert fixed.error <= 0.05
    for plan in plan_problem(p, 3).plans:
        assert plan is not None and plan.error <= 0.05


def test_the_plan_reports_each_stage_codec_and_error() -> None:
    plan = make_plan(CostModel(problem(0.05)), 3, "optimal", PIPELINE)
    assert [d.codec for d in plan.details] == ["raw", "uint8", "uint8"]
    assert [d.error for d in plan.details] == [0.0, 0.02, 0.02]
    assert plan.to_dict()["error"] == pytest.approx(0.04)
    assert plan.details[1].in_bytes == pytest.approx(25_000)
