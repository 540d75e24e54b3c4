"""What the codecs do to a real (tiny) model, measured: bytes per value, output error per cut, cached."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.planner import _codec_facts as facts_module
from orchestrator.planner import build_problem, codec_facts, crossing, plan_model
from orchestrator.profile import LinkModel, find_profile
from orchestrator.toolchain import open_model
from worker.cluster import CodecSettings

MODEL = "alexnet-tiny"
SETTINGS = CodecSettings(("raw", "raw+zstd", "fp16", "uint8", "uint8+zstd"), 0.05, frames=2)


def _problem():  # type: ignore[no-untyped-def]
    return build_problem(open_model(MODEL), find_profile("xeon-2core"))


def test_bytes_per_value_and_error_per_cut_are_measured() -> None:
    problem = _problem()
    facts = codec_facts(problem, open_model(MODEL), SETTINGS, progress=False)
    n = len(problem.values)
    assert facts.ratios["raw"] == (1.0,) * n
    assert all(r == pytest.approx(0.5, abs=0.01) for r in facts.ratios["fp16"])
    # ReLU outputs are half zeros: zstd after uint8 beats uint8 alone on the conv activations.
    conv1 = next(i for i, v in enumerate(problem.values) if v.name == "conv1")
    assert facts.ratio("uint8+zstd", conv1) < facts.ratio("uint8", conv1) <= 0.26
    cuts = [j for j in range(1, len(problem.units)) if crossing(problem, j)]
    for j in cuts:
        assert facts.error("raw+zstd", j) == 0.0
        assert 0 <= facts.error("fp16", j) < facts.error("uint8", j) < 0.05
        assert facts.error("uint8+zstd", j) == facts.error("uint8", j)
    assert facts.errors["uint8"][0] == 0.0 and facts.results >= 2


def test_the_figures_are_cached_by_model_content(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = _problem()
    first = codec_facts(problem, open_model(MODEL), SETTINGS, progress=False)
    monkeypatch.setattr(facts_module, "_measure", lambda *a, **k: pytest.fail("measured again"))
    assert codec_facts(problem, open_model(MODEL), SETTINGS, progress=False) == first


def test_on_a_slow_shared_link_the_planner_picks_codecs_within_the_budget() -> None:
    # A Pi 3's layers (rpi3.yaml has no codec timings: this machine's), a 2 Mbps medium.
    slow = dataclasses.replace(find_profile("rpi3"), codecs=find_profile("xeon-2core").codecs,
                               link=LinkModel(8 / 2e6, 0.002, "shared", 2.0, "test: 2 Mbps"))
    raw = plan_model(open_model(MODEL), slow, 3)
    coded = plan_model(open_model(MODEL), slow, 3, codecs=SETTINGS, progress=False)
    for plan in coded.plans:
        assert plan is not None and plan.error <= SETTINGS.error_budget
    assert any(d.codec != "raw" for p in coded.plans if p for d in p.details)
    best_raw = max(p.metrics.ips for p in raw.plans if p)
    best = max(p.metrics.ips for p in coded.plans if p)
    assert best > best_raw


def test_codecs_the_profile_cannot_time_are_left_out_and_said_so(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(facts_module, "_measure", lambda *a, **k: pytest.fail("nothing left to measure"))
    plans = plan_model(open_model(MODEL), find_profile("rpi3"), 2, codecs=CodecSettings(("raw", "fp16"), 0.05))
    assert all(d.codec == "raw" for p in plans.plans if p for d in p.details)
    assert "profile rpi3 has no encode/decode time for fp16" in caplog.text
