"""`mchair demo`: the local cluster checked against the reference, and the single-process reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.cli import main


def test_demo_cluster_results_equal_the_reference(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["demo", "--model", "action-recognition-tiny", "--devices", "2", "--seconds", "3",
                 "--profile", "rpi3", "--work-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"^IPS\s+[\d.]+$", out, re.M) and re.search(r"^t_forward p50 / p95 ms\s+\d+ / \d+$", out, re.M)
    for part in ("compute", "communication", "queueing"):
        assert re.search(rf"^\s+{part} p50 / p95 ms\s+\d+ / \d+$", out, re.M), part
    assert re.search(r"^duplicate results\s+0$", out, re.M)
    m = re.search(r"all (\d+) results checked equal the single-process reference tag by tag", out)
    assert m and int(m.group(1)) > 10, out
    assert "agents exited with [3, 3] (3: stopped by the demo's Shutdown)" in out
    assert len(list((tmp_path / "logs").glob("*.log"))) == 2


def test_demo_single_process_prints_ips_and_block_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--devices", "0", "--model", "action-recognition-tiny", "--frames", "40"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"40 frames, (\d+) results in [\d.]+ s: ([\d.]+) inferences per second", out)
    assert m, out
    assert int(m.group(1)) == 40 - 10  # the first result needs 5 spatial and 7 temporal features
    assert float(m.group(2)) > 0
    for block in ("optical_flow", "spatial", "temporal", "fusion"):
        assert re.search(rf"^{block}\s+\d+", out, re.M), block
    assert "first result at tag 10" in out
