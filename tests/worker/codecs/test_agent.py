"""A tensor whose codec payload is broken costs the agent that tensor (counted as bad-tensor), nothing more."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np

from worker.agent._counters import Drops
from worker.agent._dataplane import DataPlane
from worker.wire import Message, Seat, TensorBatch, encode_tensor

from ..wire._samples import task_table


def test_a_corrupt_compressed_tensor_is_a_bad_tensor_and_the_plane_keeps_serving() -> None:
    table = task_table()  # stage 0 on pi1 sends net/conv1 to stage 1, which pi2 holds
    x = np.maximum(np.random.default_rng(0).standard_normal((1, 8, 8, 4)), 0).astype(np.float32)
    good = encode_tensor("net/conv1", x, "uint8+zstd")
    data = bytearray(good.data)
    data[len(data) // 2:] = bytes(len(data) - len(data) // 2)  # the header (content size) survives
    broken = dataclasses.replace(good, data=bytes(data))
    drops = Drops()
    sent: list[Message] = []

    async def run() -> None:
        plane = DataPlane("pi2", table, {}, None, lambda _peer, m: sent.append(m),  # type: ignore[arg-type]
                          lambda _seat, _full: None, drops)
        try:
            plane.feed_batch(TensorBatch(epoch=table.epoch, stream=table.stream, tag=0, source="pi1:0.0.0",
                                         tensors=(broken,)), "10.0.0.11")
            assert plane.fill(Seat("pi2", 1, 0, 0)) == 0  # nothing queued for the seat
        finally:
            await plane.async_close()
    asyncio.run(run())
    assert drops.count("bad-tensor", "10.0.0.11") == 1 and not sent
