"""The lab's options: links, sizes, losses; bad input is one line naming the option (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.lab import LabSpec, LinkSpec, parse_link, parse_loss, parse_memory
from orchestrator.lab._profile import lab_profile
from orchestrator.profile import find_profile
from worker.errors import UserError


def test_link_memory_and_loss_parse() -> None:
    assert parse_link("62mbit,4ms,1ms,0.1%") == LinkSpec(62e6, 4.0, 1.0, 0.001)
    assert parse_link("500kbit") == LinkSpec(5e5)
    assert parse_memory("1GB") == 2**30 and parse_memory("512mb") == 512 * 2**20
    assert parse_loss("30%") == pytest.approx(0.3) and parse_loss("0.3") == pytest.approx(0.3)


@pytest.mark.parametrize(("call", "names"), [
    (lambda: parse_link("fast"), "--link rate"),
    (lambda: parse_link("62mbit,4ms,9ms"), "--link jitter"),
    (lambda: parse_link("62mbit,4parsecs"), "--link delay"),
    (lambda: parse_loss("120%"), "loss"),
    (lambda: parse_memory("lots"), "--memory"),
    (lambda: LabSpec(devices=0), "--devices"),
    (lambda: LabSpec(devices=2, cameras=3), "--cameras"),
    (lambda: LabSpec(devices=2, medium="air"), "--medium"),
])
def test_bad_options_name_the_option(call, names: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserError, match=names):
        call()


def test_status_without_a_lab_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "status", "--name", "mclabn", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no lab is up" in err


def test_lab_profile_stretches_compute_by_the_quota_and_takes_the_lab_link() -> None:
    host = find_profile("xeon-2core")
    lab = lab_profile(host, LabSpec(devices=2, cpu=0.25, memory_bytes=2**30, link=parse_link("62mbit")), 0.0004)
    assert lab.camera_s == pytest.approx(4 * host.camera_s)
    op = next(iter(host.ops))
    assert lab.ops[op].s_per_mmac == pytest.approx(4 * host.ops[op].s_per_mmac)
    assert lab.link.bandwidth_mbps == 62 and lab.link.latency_s == pytest.approx(0.0002)
    assert lab.device.memory_mb == 1024
