"""A peer with the cluster secret (a buggy or old agent) floods a running stream with tags far in the
future: the agents refuse and count them, and the stream's results are still the reference's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worker.agent import seat_label
from worker.wire import Connection, Peer, TaskTable, Tensor, TensorBatch

from ._harness import SECRET, Partitioned, async_play, check_results, run_async

FLOOD = 1000


async def _flood(table: TaskTable, agents: list[Peer], master: Peer) -> None:
    """Once the stream runs, FLOOD TensorBatches of far-future tags along the recorder's first route to every agent."""
    await asyncio.sleep(0.5)
    route = table.stages[0].routes[0]
    source = seat_label(table.seat(0, 0, 0))
    value = Tensor.from_array(route.name, np.zeros(tuple(table.frame_shape), np.float32))
    for agent in agents:
        conn = await Connection.async_open(agent.host, agent.port, secret=SECRET)
        try:
            for k in range(FLOOD):
                await conn.async_send(TensorBatch(epoch=table.epoch, stream=table.stream, tag=10**6 + k,
                                                  source=source, tensors=(value,)))
        finally:
            await conn.async_close()


def test_a_flood_of_far_future_tags_is_refused_and_the_stream_goes_on(partitioned: Callable[[int], Partitioned],
                                                                      tmp_path: Path) -> None:
    part = partitioned(3)
    played = run_async(async_play(part, ["pi0", "pi1", "pi2"], tmp_path, frames=40, seed=5, fps=20.0,
                                  attack=_flood), timeout=120)
    check_results(played)
    takers = {d.device for r in played.table.stages[0].routes
              for d in played.table.destinations(r, 0)} - {played.table.stream}
    far = {name: c.dropped.get("far-tag", 0) for name, c in played.counters.items()}
    assert takers and all(far[name] >= FLOOD - played.table.buffer for name in takers), far
    for name, counters in played.counters.items():
        assert set(counters.dropped) <= {"far-tag", "misrouted"}, (name, counters)
        assert counters.overflow_drops == 0 and counters.compute_errors == 0, (name, counters)
