"""`mchair demo` runs the stream reference on synthetic video and reports IPS."""

from __future__ import annotations

import re

import pytest

from orchestrator.cli import main


def test_demo_prints_ips_and_block_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--model", "action-recognition-tiny", "--frames", "40"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"40 frames, (\d+) results in [\d.]+ s: ([\d.]+) inferences per second", out)
    assert m, out
    assert int(m.group(1)) == 40 - 10  # the first result needs 5 spatial and 7 temporal features
    assert float(m.group(2)) > 0
    for block in ("optical_flow", "spatial", "temporal", "fusion"):
        assert re.search(rf"^{block}\s+\d+", out, re.M), block
    assert "first result at tag 10" in out
