"""``mchair bench codec``: bytes and speed of every codec against raw, measured in the same run; and a
plan with and without codecs on a capped link, planned and measured."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from orchestrator.cli._codec_link import link_plans, link_table, run_link_benchmark, shared_link
from orchestrator.profile import find_profile, save_profile
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.cluster import CodecSettings
from worker.wire import CODECS

from .conftest import Run

LINK_CODECS = CodecSettings(("raw", "fp16", "uint8-channel+zstd"), 0.05)


def test_bench_codec_prints_every_codec_against_raw(mchair: Run) -> None:
    result = mchair("bench", "codec", "--sizes", "16KB", "--seconds", "0.02", "--no-link")
    assert result.returncode == 0, result.stderr
    for codec in CODECS:
        assert f" {codec} " in result.stdout, codec
    assert "alexnet-tiny" in result.stdout, "a real model's activations are measured too"


def test_bench_codec_sizes_are_checked(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("bench", "codec", "--sizes", "lots"), "lots")


def test_bench_codec_error_budget_is_checked(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("bench", "codec", "--error-budget", "2"), "codecs.error_budget")


def _profile(tmp_path: Path) -> Path:
    # rpi3 (slow layers) with this machine's codec timings (rpi3.yaml has none).
    profile = dataclasses.replace(find_profile("rpi3"), name="rpi3-codecs", codecs=find_profile("xeon-2core").codecs)
    return save_profile(profile, tmp_path / "rpi3-codecs.yaml")


def test_link_plans_keep_the_codec_layout_and_send_it_raw(tmp_path: Path) -> None:
    profile = shared_link(find_profile(str(_profile(tmp_path))), 8.0)
    (_, raw), (_, forced), (_, coded) = link_plans("action-recognition-tiny", profile, 3, LINK_CODECS)
    best, same = coded.plan(3), forced.plan(3)
    assert best is not None and same is not None and raw.plan(3) is not None
    assert same.layout() == best.layout() and {d.codec for d in same.details} == {"raw"}
    assert {d.codec for d in best.details[1:]} - {"raw"}, "an 8 Mbps medium makes codecs pay"
    assert best.metrics.ips >= same.metrics.ips and best.error <= LINK_CODECS.error_budget


def test_link_benchmark_measures_both_and_checks_every_result(tmp_path: Path) -> None:
    build_model(find_spec("action-recognition-tiny"))
    runs = run_link_benchmark("action-recognition-tiny", str(_profile(tmp_path)), 3, 8.0, 4.0, LINK_CODECS,
                              tmp_path / "runs")
    assert [r.label for r in runs] == ["planner, raw only", "codec layout, raw", "codec layout, codecs"]
    assert all(r.checked > 0 and r.ips_measured > 0 for r in runs)
    coded = runs[-1]
    assert 0 < coded.error_measured <= LINK_CODECS.error_budget
    assert coded.sent_mb_per_s < coded.raw_mb_per_s
    assert runs[1].sent_mb_per_s == runs[1].raw_mb_per_s
    assert "codec layout, codecs" in link_table(runs, 8.0)
