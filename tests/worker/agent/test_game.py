"""The agent's side of musical chairs: Release frees a stream's devices and advances the epoch, camera
frame numbers continue across epochs while tags restart, and a retired recorder's last tags reach the
master in a final heartbeat."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from worker.agent import Agent
from worker.camera import open_camera
from worker.cluster import AgentSettings
from worker.wire import Assign, Peer, Release, Resume, TaskTable

from ._harness import (
    SECRET,
    FakeMaster,
    Partitioned,
    frame_numbers,
    make_table,
    run_async,
)

FPS = 40.0


def _table(part: Partitioned, me: Peer, master: FakeMaster, epoch: int) -> TaskTable:
    return dataclasses.replace(make_table(part, [me], master.peer, epoch=epoch), fps=FPS)


async def _run(master: FakeMaster, me: Peer, table: TaskTable) -> None:
    """Assign ``table``, wait for its Ack, start the recorder."""
    master.table = table
    await master.async_send(me, Assign(epoch=table.epoch, table=table))
    await master.async_until(lambda: table.epoch in {a.epoch for a in master.acks if a.ok}, 20, f"Ack {table.epoch}")
    await master.async_send(me, Resume(epoch=table.epoch, seat="*", stream=table.stream))


def test_release_frees_the_agent_and_advances_its_epoch(partitioned: Callable[[int], Partitioned],
                                                        tmp_path: Path) -> None:
    part = partitioned(1)

    async def scenario() -> None:
        async with FakeMaster(part.directory) as master, \
                Agent("pi0", SECRET, cache_dir=tmp_path / "cache", camera=open_camera("synthetic:2"),
                      settings=AgentSettings(heartbeat_s=0.2)) as agent:
            me = Peer("pi0", "127.0.0.1", agent.port)
            table = _table(part, me, master, 1)
            await _run(master, me, table)
            await master.async_until(lambda: len(master.results) >= 3, 20, "results of epoch 1")
            recorder = agent.recorder
            assert recorder is not None and recorder.running

            await master.async_send(me, Release(epoch=2, stream=table.stream, reason="motion stopped"))
            await master.async_until(lambda: agent.table is None, 5, "the release")
            assert agent.epoch == 2 and agent.recorder is None and not recorder.running
            kept = agent.counters().frames
            assert kept == recorder.kept
            await asyncio.sleep(0.3)   # whatever was on its way has come
            results = len(master.results)
            await asyncio.sleep(0.4)
            assert len(master.results) == results and agent.counters().frames == kept, "still running"
            # The final heartbeat of epoch 1 told the camera frame of every tag the recorder kept.
            assert sorted(frame_numbers(master.heartbeats, "pi0", 1)) == list(range(kept))
            assert any(h.epoch == 1 and h.stage_ms and all(s.ms > 0 for s in h.stage_ms)
                       for h in master.heartbeats)

            # An older Assign is refused; so is an older (or equal) Release; a newer Assign runs.
            stale = agent.drops.count("stale-epoch")
            await master.async_send(me, Assign(epoch=1, table=table))
            await master.async_send(me, Release(epoch=2, stream=table.stream, reason="again"))
            await master.async_until(lambda: agent.drops.count("stale-epoch") == stale + 2, 5, "two stale drops")
            assert agent.table is None and agent.epoch == 2
            table3 = _table(part, me, master, 3)
            await _run(master, me, table3)
            await master.async_until(lambda: any(r.epoch == 3 for r in master.results), 20, "results of epoch 3")
            assert agent.table == table3 and agent.epoch == 3

            # A release of another stream advances the epoch only: the table runs on, older Assigns are stale.
            await master.async_send(me, Release(epoch=5, stream="elsewhere", reason="other camera still"))
            await master.async_until(lambda: agent.epoch == 5, 5, "epoch 5")
            results = sum(r.epoch == 3 for r in master.results)
            await master.async_until(lambda: sum(r.epoch == 3 for r in master.results) > results + 2, 10,
                                     "more results of epoch 3")
            assert agent.table == table3 and agent.recorder is not None
            await master.async_send(me, Assign(epoch=4, table=_table(part, me, master, 4)))
            await master.async_until(lambda: agent.drops.count("stale-epoch") == stale + 3, 5, "a stale Assign")
            assert agent.table == table3
            assert not [a for a in master.acks if not a.ok]

    run_async(scenario(), timeout=60)


def test_frame_numbers_continue_across_epochs_and_tags_restart(partitioned: Callable[[int], Partitioned],
                                                               tmp_path: Path) -> None:
    part = partitioned(1)
    frames = 8

    async def scenario() -> None:
        # No periodic heartbeat in the test's time: the frame numbers come from the final ones only.
        async with FakeMaster(part.directory) as master:
            async with Agent("pi0", SECRET, cache_dir=tmp_path / "cache", camera=open_camera("synthetic:4"),
                             max_frames=frames, settings=AgentSettings(heartbeat_s=60.0)) as agent:
                me = Peer("pi0", "127.0.0.1", agent.port)
                await _run(master, me, _table(part, me, master, 1))
                await master.async_until(lambda: agent.counters().frames >= frames, 10, "the frames of epoch 1")
                await _run(master, me, _table(part, me, master, 2))
                await master.async_until(lambda: agent.counters().frames >= 2 * frames, 10, "the frames of epoch 2")
                assert agent.camera_loop is not None and agent.camera_loop.frames_read > 2 * frames
            # Stopped: the recorder of epoch 2 sent its final heartbeat before the agent closed its connections.
            await master.async_until(lambda: len(frame_numbers(master.heartbeats, "pi0", 2)) == frames, 5,
                                     "the final heartbeat of epoch 2")
        first, second = (frame_numbers(master.heartbeats, "pi0", epoch) for epoch in (1, 2))
        assert sorted(first) == sorted(second) == list(range(frames)), (first, second)
        assert [first[t] for t in range(frames)] == sorted(first.values())
        assert min(second.values()) > max(first.values()), (first, second)

    run_async(scenario(), timeout=60)
