"""The views of ``mchair status``: plain tables when piped, rich ones in a terminal."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from orchestrator.cli.status import plain_view, rich_view
from worker.wire import DeviceStatus, LinkStatus, StageTime, Status, StreamStatus

STATUS = Status(
    model="alexnet-tiny", profile="rpi3", epoch=4, time_ns=1, reassignments=2,
    devices=(DeviceStatus(device="pi0", alive=True, camera=True, stream="pi0", seats=("camera",), epoch=4),
             DeviceStatus(device="pi1", alive=True, camera=False, stream="pi0", seats=("conv1..softmax 0/0",),
                          epoch=4, queue_fill=0.25, ips=15.0, slowdown=2.5,
                          stage_ms=(StageTime(stage="conv1..softmax", ms=3.5, expected_ms=56.2),),
                          last_heartbeat_s=0.3),
             DeviceStatus(device="pi2", alive=False, camera=False)),
    streams=(StreamStatus(camera="pi0", active=True, epoch=4, layout="camera [rec] | conv1..softmax",
                          devices=("pi0", "pi1"), results=99, ips=15.0, t_forward_p50_ms=40, t_forward_p95_ms=61),))


def test_plain_view_lists_devices_seats_and_streams() -> None:
    text = plain_view(STATUS)
    assert "2 of 3 devices alive" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("pi")}
    assert "conv1..softmax 3.5 (56.2)" in lines["pi1"] and "x2.50" in lines["pi1"] and "25%" in lines["pi1"]
    assert " NO " in lines["pi2"] and "never" in lines["pi2"]
    assert "40 / 61" in text and "camera [rec] | conv1..softmax" in text


def test_rich_view_renders_in_a_terminal() -> None:
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=True).print(rich_view(STATUS))
    text = out.getvalue()
    assert "pi2" in text and "streams" in text and "\x1b[" in text, "coloured rows"


def test_links_and_the_output_error_are_shown() -> None:
    pi0 = dataclasses.replace(STATUS.devices[0], links=(
        LinkStatus(peer="pi1", codec="uint8+zstd", bytes_per_s=20_000.0, raw_bytes_per_s=160_000.0),))
    stream = dataclasses.replace(STATUS.streams[0], error_budget=0.02, output_error=0.0042)
    text = plain_view(dataclasses.replace(STATUS, devices=(pi0, *STATUS.devices[1:]), streams=(stream,)))
    row = next(line for line in text.splitlines() if "uint8+zstd" in line)
    assert row.split() == ["pi0", "pi1", "uint8+zstd", "20", "160", "0.125"]
    assert "0.0042 (0.02)" in text
    assert "no tensors on the network" in plain_view(STATUS) and "- (0)" in plain_view(STATUS)
