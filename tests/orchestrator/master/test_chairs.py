"""Musical chairs with real agent processes: motion here and there, agents killed and joining.

Every stream's results are compared with the single-process reference epoch by epoch (tags and
windows start afresh with each epoch), must come in capture order, and never twice.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.motion import async_send_motion
from orchestrator.master import LocalCluster, Master, Stream
from orchestrator.toolchain.zoo import build_model, find_spec

from ._live import MODEL, NO_DETECTOR, PROFILE, check_stream, running, until


@asynccontextmanager
async def cluster(work: Path, devices: int, model: str = MODEL,
                  **options: object) -> AsyncIterator[tuple[LocalCluster, Master]]:
    """A local cluster and its master for ``model``; stops both (the agents exit on Shutdown)."""
    build_model(find_spec(model))
    local = LocalCluster(work, devices, seed=3, **options)  # type: ignore[arg-type]
    master, _ = await local.async_start_with_master(model, PROFILE)
    try:
        yield local, master
        await asyncio.sleep(1.5)   # a heartbeat more: the recorders' frame numbers of the last tags
    finally:
        await local.async_stop_with(master, "test over")


async def start_stream(master: Master, camera: str) -> Stream:
    """Motion on ``camera`` (as ``mchair motion`` sends it); its stream once results come."""
    await async_send_motion(master.cluster, camera, True)
    await until(f"first results of {camera}", running(master, camera))
    return master.streams[camera]


def test_two_cameras_alternating_motion(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, 4, cameras=2, settings=NO_DETECTOR) as (local, master):
            a, b = list(local.cameras)
            for camera, other in ((a, None), (b, a), (a, b)):
                if other is not None:
                    await async_send_motion(master.cluster, other, False)
                await async_send_motion(master.cluster, camera, True)
                await until(f"results of {camera}", running(master, camera))
                assert master.streams[other].current is None if other else True, "the other stream was released"
        moves = master.reassignments
        assert [m.stream for m in moves] == [a, b, a]
        assert all("motion started on" in m.reason for m in moves)
        assert all(m.first_result_s is not None for m in moves)
        # Camera a's devices went to b when a stopped, and came back to a.
        assert set(moves[1].new_devices) >= set(moves[0].new_devices) - {a} | {b}
        assert moves[0].bytes_to_load > 0 and moves[2].bytes_to_load == 0, "the third turn loads nothing new"
        for camera in (a, b):
            check_stream(master, local, camera)
        assert len(master.streams[a].runs) == 2

    asyncio.run(scenario())


def test_two_cameras_at_once_share_the_devices(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, 4, cameras=2, settings=NO_DETECTOR) as (local, master):
            a, b = list(local.cameras)
            await async_send_motion(master.cluster, a, True)
            await async_send_motion(master.cluster, b, True)
            await until("results of both streams", lambda: running(master, a)() and running(master, b)())
            tables = [master.streams[c].current.table for c in (a, b)]  # type: ignore[union-attr]
        devices = [{p.device for p in t.devices} for t in tables]
        assert not devices[0] & devices[1], "disjoint device sets"
        assert a in devices[0] and b in devices[1]
        assert len(devices[0]) == len(devices[1]) == 2, "equal policy: two devices each"
        for camera in (a, b):
            check_stream(master, local, camera)

    asyncio.run(scenario())


def test_killed_agent_stream_goes_on_without_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, 3, settings=NO_DETECTOR) as (local, master):
            camera = local.recorder
            stream = await start_stream(master, camera)
            before = stream.current
            assert before is not None and len(before.table.devices) == 3
            victim = before.table.devices[-1].device
            local.kill(victim)
            await until("a new epoch without the killed agent",
                        lambda: stream.current is not before and stream.current is not None)
            await until("results of the new epoch", running(master, camera))
            after = stream.current
            assert after is not None and victim not in {p.device for p in after.table.devices}
            assert f"{victim} lost" in after.reassignment.reason
        check_stream(master, local, camera)

    asyncio.run(scenario())


def test_agent_joining_is_seated_by_the_next_game(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster(tmp_path, 2, settings=NO_DETECTOR) as (local, master):
            camera = local.recorder
            stream = await start_stream(master, camera)
            first = stream.current
            newcomer = await local.async_add()
            await until("a game with the newcomer", lambda: stream.current is not first)
            await until("results with the newcomer", running(master, camera))
            assert stream.current is not None
            assert newcomer in {p.device for p in stream.current.table.devices}
            assert f"{newcomer} joined" in stream.current.reassignment.reason
        check_stream(master, local, camera)

    asyncio.run(scenario())


def test_motion_detector_starts_and_stops_the_stream(tmp_path: Path) -> None:
    # Still for 3 s (at the idle rate of 10 frames/s), moving for 90 frames, then still for good.
    script = "synthetic:5:still30,move90,still100000"

    async def scenario() -> None:
        async with cluster(tmp_path, 2, camera_specs=[script]) as (local, master):
            camera = local.recorder
            await until("motion to start the stream", running(master, camera))
            await until("motion to stop it", lambda: master.streams[camera].current is None)
        reasons = [m.reason for m in master.reassignments]
        assert reasons and reasons[0] == f"motion started on {camera}", reasons
        check_stream(master, local, camera)

    asyncio.run(scenario())


# Convolutions that keep a core busy for ~20 ms a frame: time-sliced with a hog, they take twice as long.
BUSY_NET = {
    "name": "busy-net", "description": "the CPU hog test's model",
    "input": {"name": "image", "shape": [1, 96, 96, 3], "fps": 30},
    "blocks": [{"name": "classifier", "inputs": ["image"], "layers": [
        {"name": "conv1", "type": "conv2d", "filters": 96, "kernel": 3, "activation": "relu"},
        {"name": "conv2", "type": "conv2d", "filters": 96, "kernel": 3, "activation": "relu"},
        {"name": "pool2", "type": "maxpool2d", "pool": 2, "stride": 2},
        {"name": "flatten", "type": "flatten"},
        {"name": "fc1", "type": "dense", "units": 10, "activation": "none"},
        {"name": "softmax", "type": "softmax"}]}],
}


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` on ``cpus`` (threads started later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cpus)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores: one shared with the hog")
def test_cpu_hog_on_a_device_leads_to_a_replan(tmp_path: Path) -> None:
    spec = tmp_path / "busy-net.yaml"
    spec.write_text(yaml.safe_dump(BUSY_NET))
    game = {"contention": {"margin": 0.5, "heartbeats": 3, "dwell_s": 5.0}}

    async def scenario() -> None:
        async with cluster(tmp_path / "run", 3, model=str(spec), settings={**NO_DETECTOR, "game": game}) \
                as (local, master):
            camera = local.recorder
            stream = await start_stream(master, camera)
            before = stream.current
            assert before is not None
            replicas = [p.device for p in before.table.devices if p.device != camera]
            assert len(replicas) == 2, before.plan.layout()
            victim = replicas[-1]
            cpus = sorted(os.sched_getaffinity(0))
            for name, process in local.processes.items():
                pin(process.pid, {cpus[1]} if name == victim else {cpus[0]})
            # Two hogs: the victim gets a third of its core, 3x slower; two replicas at 1/3 speed do less
            # than one at full speed, so the game must leave it out (at 2x it would be a tie).
            hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
            try:
                for hog in hogs:
                    pin(hog.pid, {cpus[1]})
                await until("a re-plan for contention", lambda: stream.current is not before, timeout=90)
                await until("results after the re-plan", running(master, camera))
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
            after = stream.current
            assert after is not None and after.reassignment.reason.startswith("contention: "), \
                after.reassignment.reason
            assert victim in after.reassignment.reason
            # The slowed device left the replicated stage: out of the plan, or on a lighter seat.
            busy = {s.device: after.plan.details[s.stage].busy_s for s in after.table.seats}
            assert victim not in busy or busy[victim] < max(busy.values())
        check_stream(master, local, camera, model=str(spec))

    asyncio.run(scenario())
