"""A camera agent reads its camera for its whole life: without any table, its motion detector tells
the master when motion starts and stops (unless motion is disabled); a failing camera is counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from worker.agent import Agent
from worker.camera import open_camera
from worker.cluster import AgentSettings
from worker.motion import MotionSettings

from ._harness import SECRET, FakeMaster, run_async

SCRIPT = "synthetic:7:still5,move20,still1000"   # moves from frame 5, still again from frame 25
QUICK = MotionSettings(fps=100.0, start_frames=2, quiet_frames=5)


def test_motion_start_and_stop_reach_the_master_without_a_table(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeMaster(tmp_path) as master, \
                Agent("cam1", SECRET, cache_dir=tmp_path / "cache", camera=open_camera(SCRIPT), master=master.peer,
                      motion=QUICK, settings=AgentSettings(heartbeat_s=30.0)) as agent:
            await master.async_until(lambda: len(master.motions) >= 2, 10, "motion start and stop")
            await asyncio.sleep(0.1)
            assert [m.moving for m in master.motions] == [True, False], master.motions
            assert all(m.device == m.camera == "cam1" and m.time_ns > 0 for m in master.motions)
            assert master.motions[0].score >= QUICK.min_area
            assert agent.table is None and agent.counters().motions_sent == 2
            assert agent.camera_loop is not None and agent.camera_loop.frames_read >= 25 + QUICK.quiet_frames

    run_async(scenario(), timeout=20)


def test_no_motion_is_sent_when_disabled_and_the_idle_pace_is_motion_fps(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = MotionSettings(fps=50.0, start_frames=2, quiet_frames=5, enabled=False)
        async with FakeMaster(tmp_path) as master, \
                Agent("cam1", SECRET, cache_dir=tmp_path / "cache", camera=open_camera(SCRIPT), master=master.peer,
                      motion=settings, settings=AgentSettings(heartbeat_s=30.0)) as agent:
            loop = agent.camera_loop
            assert loop is not None
            await asyncio.sleep(0.8)   # 40 frames at 50 frames/s: the script moved and stopped
            assert 20 <= loop.frames_read <= 45, loop.frames_read
            assert loop.detector.frames == 0
            assert not master.motions and agent.counters().motions_sent == 0

    run_async(scenario(), timeout=20)


class _FlakyCamera:
    """Every third read fails."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> np.ndarray:
        self.reads += 1
        if self.reads % 3 == 0:
            raise OSError("camera unplugged for a moment")
        return np.full((24, 32, 3), self.reads % 255, np.uint8)


def test_a_failing_camera_is_counted_and_the_loop_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        camera = _FlakyCamera()
        async with Agent("cam1", SECRET, cache_dir=tmp_path / "cache", camera=camera,
                         motion=MotionSettings(fps=200.0)) as agent:
            loop = agent.camera_loop
            assert loop is not None
            while camera.reads < 12:
                await asyncio.sleep(0.02)
            assert loop.errors >= 3 and loop.frames_read >= 8 and loop.running
            assert loop.frames_read + loop.errors == camera.reads
        assert not loop.running

    run_async(scenario(), timeout=20)


def test_an_agent_without_camera_has_no_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Agent("pi2", SECRET, cache_dir=tmp_path / "cache") as agent:
            assert agent.camera_loop is None

    run_async(scenario(), timeout=10)
