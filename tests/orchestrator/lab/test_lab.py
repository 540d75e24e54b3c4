"""The lab end to end: real agents in namespaces and cgroups, a master in its own namespace, found
by multicast across the bridge; results equal the single-process reference tag by tag, through a
link going down silently and a device stopped and continued."""

from __future__ import annotations

import asyncio
import os
import socket
import types
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from orchestrator.lab import Lab, LabSpec, parse_link, with_master
from orchestrator.lab import _cgroups as cgroups
from orchestrator.lab import _net as net
from orchestrator.lab._processes import AGENT_PORT
from orchestrator.lab._shaping import nft_available
from orchestrator.master import Device, Master
from orchestrator.profile import find_profile
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.errors import UserError

from ..master._live import check_stream, running, until
from .conftest import BUILD, namespaces_unavailable

MODEL = "action-recognition-tiny"
PROFILE = find_profile("rpi3")
CAMERA = "pi0"
T = TypeVar("T")


def stream(lab: Lab, scenario: Callable[[Master], Awaitable[T]],
           discovery: str = "zeroconf") -> tuple[Master, list[Device], T]:
    """The agents (again: a master's Shutdown ends them), a master in the lab, ``scenario`` run, and
    the stream checked against the reference."""
    build_model(find_spec(MODEL))
    lab.respawn()

    async def run(master: Master, devices: list[Device]) -> tuple[Master, list[Device], T]:
        await master.async_assign(devices, CAMERA)
        await until("first results", running(master, CAMERA))
        outcome = await scenario(master)
        await asyncio.sleep(1.0)   # two heartbeats more: the recorder's frame numbers of the last tags
        return master, devices, outcome

    master, devices, outcome = with_master(lab, MODEL, PROFILE, run, discovery)
    check_stream(master, types.SimpleNamespace(cameras=lab.cameras()), CAMERA, model=MODEL)  # type: ignore[arg-type]
    return master, devices, outcome


def sink_device(master: Master) -> str:
    """The device of the last stage (it sends the results), never the camera's."""
    table = master.streams[CAMERA].current.table  # type: ignore[union-attr]
    return next(s.device for s in table.seats if s.stage == table.sink.index and s.device != CAMERA)


def test_multicast_discovery_across_namespaces_and_a_4_device_stream(lab: Lab) -> None:
    async def steady(master: Master) -> None:
        await until("40 results", running(master, CAMERA, 40))

    master, devices, _ = stream(lab, steady)
    addresses = {d.name: d.address for d in lab.state().devices}
    # Found by zeroconf on each device's own address (not loopback), across the bridge.
    assert {d.name: d.peer.host for d in devices} == addresses
    run = master.streams[CAMERA].runs[0]
    assert len(run.table.devices) == 4 and len(run.table.stages) >= 3


def test_static_device_list_as_the_fallback(lab: Lab) -> None:
    async def steady(master: Master) -> None:
        await until("20 results", running(master, CAMERA, 20))

    _, devices, _ = stream(lab, steady, discovery="static")
    assert sorted(d.name for d in devices) == ["pi0", "pi1", "pi2", "pi3"]


def test_link_down_silently_the_stream_is_reseated_by_heartbeat_timeout(lab: Lab) -> None:
    async def cut(master: Master) -> str:
        s = master.streams[CAMERA]
        before = s.current
        victim = sink_device(master)
        lab.fault(victim, "link-down")
        await until("a new epoch without the cut device", lambda: s.current is not before, timeout=30)
        await until("results of the new epoch", running(master, CAMERA, 10))
        assert victim not in {p.device for p in s.current.table.devices}  # type: ignore[union-attr]
        return victim

    try:
        master, _, victim = stream(lab, cut)
    finally:
        for device in lab.state().devices:
            if not device.link_up:
                lab.fault(device.name, "link-up")
    reason = master.streams[CAMERA].runs[1].reassignment.reason
    # No RST came: the device was lost by its silence, not by a refused connection.
    assert f"{victim} lost" in reason, reason


def test_stopped_device_late_results_are_fenced_by_the_epoch(lab: Lab) -> None:
    async def pause(master: Master) -> tuple[str, int]:
        s = master.streams[CAMERA]
        before = s.current
        victim = sink_device(master)
        lab.fault(victim, "stop")
        try:
            await until("a new epoch without the stopped device", lambda: s.current is not before, timeout=30)
        finally:
            lab.fault(victim, "cont")
        # Back: its heartbeats make it alive again and a game seats it again.
        await until("the continued device seated again",
                    lambda: s.current is not None and victim in {p.device for p in s.current.table.devices}
                    and len(s.current.results.inferences) >= 10, timeout=30)
        return victim, before.epoch  # type: ignore[union-attr]

    master, _, (victim, old_epoch) = stream(lab, pause)
    s = master.streams[CAMERA]
    assert len(s.runs) >= 3 and s.duplicates() == 0
    i = next(i for i, r in enumerate(s.runs) if r.epoch == old_epoch)
    old, new = s.runs[i], next(r for r in s.runs[i + 1:] if r.results.inferences)
    # Whatever it finished after continuing was for a closed epoch: counted late (if any), never
    # delivered after a later epoch's results began.
    assert old.results.closed and old.results.inferences
    assert max(r.received_s for r in old.results.inferences) <= min(r.received_s for r in new.results.inferences), \
        f"a result of epoch {old_epoch} from {victim} was delivered after its epoch ({old.results.late} late)"


def test_down_after_a_crash_removes_everything_by_name() -> None:
    why = namespaces_unavailable()
    if why:
        pytest.skip(f"network namespaces unavailable here, the lab cannot run: {why}")
    crashed = Lab("mclabc", BUILD)
    crashed.down()
    state = crashed.up(LabSpec(devices=1, cameras=0, cpu=0.2, link=parse_link("10mbit")))
    (BUILD / "mclabc" / "state.json").unlink()   # the lab died and its record with it
    assert Lab("mclabc", BUILD).down() == []
    assert net.namespaces("mclabc") == [] and cgroups.members("mclabc") == []
    assert not os.path.exists(f"/proc/{state.devices[0].pid}") or \
        "worker.agent" not in open(f"/proc/{state.devices[0].pid}/cmdline").read()
    assert not (cgroups.ROOT / "cpu" / "mclabc").exists()


def connects(lab: Lab) -> bool:
    """True when the master's namespace can open a TCP connection to pi0's agent within a second."""
    state = lab.state()

    async def attempt() -> bool:
        try:
            socket.create_connection((state.devices[0].address, AGENT_PORT), timeout=1.0).close()
            return True
        except OSError:
            return False

    return net.run_in(state.master_ns, attempt)


def test_delay_by_the_relay_and_loss_by_nftables() -> None:
    why = namespaces_unavailable()
    if why:
        pytest.skip(f"network namespaces unavailable here, the lab cannot run: {why}")
    delayed = Lab("mclabd", BUILD)
    delayed.down()
    delayed.up(LabSpec(devices=1, cameras=0, cpu=0.2, link=parse_link("62mbit,5ms,1ms")))
    try:
        low, median, _ = delayed.measure_rtt(samples=10)
        assert 8.0 <= low and median < 30.0, (low, median)   # 5 ms +- 1 each way, plus the relay's own time
        delayed.fault("pi0", "delay", "0")
        low, median, _ = delayed.measure_rtt(samples=10)
        assert low < 5.0, low
        if not nft_available():
            with pytest.raises(UserError, match="nftables"):
                delayed.fault("pi0", "loss", "100%")
            return
        delayed.fault("pi0", "loss", "100%")
        assert not connects(delayed), "every packet dropped: no connection"
        delayed.fault("pi0", "loss", "0")
        assert connects(delayed)
    finally:
        assert delayed.down() == []
    assert net.namespaces("mclabd") == []
