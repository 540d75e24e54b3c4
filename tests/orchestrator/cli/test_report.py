"""`mchair report RUN.json [--png DIR]` on hand-made run records, the record's JSON round trip, and one
real `mchair bench pipeline --devices 1,2 --json` sweep drawn by `mchair report`."""

from __future__ import annotations

import json
import math
import struct
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.report import PipelineBenchmark, PipelineRun, draw_ips_vs_devices, draw_latency_breakdown

Run = Callable[..., subprocess.CompletedProcess[str]]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(n: int, **changes: object) -> PipelineRun:
    run = PipelineRun(n=n, layout="camera..optical_flow [rec]" + " | conv1s..softmax" * (n > 1), ips_predicted=10.0 * n,
                      ips_measured=9.0 * n, ips_bound=12.0 * n, t_forward_predicted_s=0.08 / n,
                      t_forward_p50_s=0.07 / n, t_forward_p95_s=0.09 / n, compute_p50_s=0.05 / n,
                      communication_p50_s=0.004 * n, queueing_p50_s=0.002, reload_predicted_s=0.5 if n == 1 else 0.0,
                      inferences=100 * n, drops=n - 1, duplicates=0)
    return replace(run, **changes)


def _bench(*runs: PipelineRun) -> PipelineBenchmark:
    return PipelineBenchmark(model="action-recognition-tiny", profile="rpi3", fps=30.0, seconds=5.0,
                             single_process_ips=1500.0, date="2026-11-01T12:00:00+00:00", host_cores=2,
                             runs=runs or (_run(1), _run(2), _run(3)))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    return struct.unpack(">II", data[16:24])      # IHDR: width, height


def test_json_round_trip() -> None:
    bench = _bench()
    text = bench.to_json()
    data = json.loads(text)
    assert data["benchmark"] == "pipeline" and data["version"] == 1 and len(data["runs"]) == 3
    assert data["runs"][0]["reload_predicted_s"] == 0.5
    assert PipelineBenchmark.from_json(text) == bench


def test_a_run_without_results_round_trips_as_null() -> None:
    bench = _bench(_run(1, t_forward_p50_s=math.nan, compute_p50_s=math.nan, ips_measured=0.0))
    text = bench.to_json()                                   # strict JSON: no NaN
    assert json.loads(text)["runs"][0]["t_forward_p50_s"] is None
    again = PipelineBenchmark.from_json(text).runs[0]
    assert math.isnan(again.t_forward_p50_s) and math.isnan(again.compute_p50_s) and again.ips_measured == 0.0


def test_drawings_take_runs_without_results(tmp_path: Path) -> None:
    bench = _bench(_run(1), _run(2, t_forward_p50_s=math.nan, compute_p50_s=math.nan, ips_measured=math.nan))
    for draw in (draw_ips_vs_devices, draw_latency_breakdown):
        assert _png_size(draw(bench, tmp_path / f"{draw.__name__}.png")) == (750, 460)


def test_report_prints_a_row_per_size(mchair: Run, tmp_path: Path) -> None:
    _bench().save(tmp_path / "run.json")
    result = mchair("report", "run.json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("action-recognition-tiny on profile rpi3")
    header = next(line for line in lines if line.startswith("n "))
    for column in ("IPS", "predicted", "ratio", "t_fwd p50", "compute", "comm", "reload*", "queue", "layout"):
        assert column in header, column
    rows = [line.split() for line in lines if line[:1].isdigit()]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert rows[1][1:4] == ["18", "20", "0.9"]             # IPS measured, predicted, ratio
    assert rows[0][9] == "500"                               # reload (predicted) ms on one device
    last = next(line for line in lines if line.startswith("3 "))
    assert last.endswith("camera..optical_flow [rec] | conv1s..softmax")
    assert not (tmp_path / "ips-vs-devices.png").exists()


def test_report_png_writes_both_pictures(mchair: Run, tmp_path: Path) -> None:
    _bench().save(tmp_path / "run.json")
    result = mchair("report", "run.json", "--png", "out/figures")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "figures"
    for name in ("ips-vs-devices.png", "latency-breakdown.png"):
        path = folder / name
        assert f"wrote {Path('out/figures') / name}" in result.stdout
        assert path.stat().st_size > 10_000, path             # a drawing, not an empty canvas
        assert _png_size(path) == (750, 460)


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _bad_run(data: dict[str, Any]) -> dict[str, Any]:
    runs = [dict(r) for r in data["runs"]]
    del runs[1]["drops"]
    return {**data, "runs": runs}


@pytest.mark.parametrize(("make", "names"), [
    (lambda d: "{ not json", ("run.json", "not JSON")),
    (lambda d: [d], ("run.json", "expected a JSON object")),
    (lambda d: {**d, "version": 2}, ("run.json", "version", "expected 1")),
    (lambda d: _without(d, "version"), ("run.json", "version")),
    (lambda d: {**d, "benchmark": "wire"}, ("run.json", "benchmark", "pipeline")),
    (lambda d: _without(d, "fps"), ("run.json", "fps", "missing")),
    (lambda d: {**d, "host_cores": "two"}, ("run.json", "host_cores", "integer")),
    (lambda d: {**d, "runs": []}, ("run.json", "runs")),
    (_bad_run, ("run.json", "runs[1].drops", "missing")),
    (lambda d: {**d, "runs": [{**d["runs"][0], "ips_measured": "fast"}]}, ("run.json", "runs[0].ips_measured",
                                                                           "number")),
], ids=["not-json", "not-object", "wrong-version", "no-version", "other-benchmark", "missing-header-field",
        "wrong-type", "no-runs", "missing-run-field", "wrong-run-type"])
def test_report_bad_file_is_one_line(mchair: Run, user_error: Callable[..., str], tmp_path: Path,
                                      make: Callable[[dict[str, Any]], object], names: tuple[str, ...]) -> None:
    bad = make(json.loads(_bench().to_json()))
    (tmp_path / "run.json").write_text(bad if isinstance(bad, str) else json.dumps(bad))
    user_error(mchair("report", "run.json", "--png", "out"), *names)
    assert not (tmp_path / "out").exists()


def test_report_missing_file(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("report", "nowhere.json"), "nowhere.json", "no such file")


@pytest.mark.parametrize("devices", ["0", "1,x", "", "2,-1"])
def test_bench_pipeline_bad_devices(mchair: Run, user_error: Callable[..., str], devices: str) -> None:
    user_error(mchair("bench", "pipeline", "--model", "action-recognition-tiny", "--devices", devices), "--devices")


def test_bench_pipeline_sweep_then_report(mchair: Run, tmp_path: Path) -> None:
    """A real sweep of 1 and 2 agents on loopback, recorded, then drawn (about 20 s on 2 cores)."""
    result = mchair("bench", "pipeline", "--model", "action-recognition-tiny", "--devices", "1,2", "--seconds", "2",
                    "--json", "run.json", "--profile", "rpi3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\nmeasured / predicted") == 2 and "wrote run.json" in result.stdout
    bench = PipelineBenchmark.load(tmp_path / "run.json")
    assert (bench.model, bench.profile, bench.host_cores > 0) == ("action-recognition-tiny", "rpi3", True)
    assert [r.n for r in bench.runs] == [1, 2]
    for run in bench.runs:
        assert run.inferences > 0 and run.ips_measured > 0 and run.duplicates == 0, run
        assert run.t_forward_p50_s > 0 and run.compute_p50_s > 0 and run.ips_predicted > 0
    report = mchair("report", "run.json", "--png", "out")
    assert report.returncode == 0, report.stderr
    assert [line.split()[0] for line in report.stdout.splitlines() if line[:1].isdigit()] == ["1", "2"]
    for name in ("ips-vs-devices.png", "latency-breakdown.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG_SIGNATURE
