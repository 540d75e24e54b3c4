"""Outgoing connections: tensor bytes counted per device and codec as written, and a capped sender paced."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from worker.agent._peers import Peers
from worker.wire import STREAM_LIMIT, Connection, Peer, TensorBatch, encode_tensor

from ._harness import SECRET, run_async


async def _sink(received: list[TensorBatch]) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for message in await Connection.async_accept(reader, writer, secret=SECRET):
            if isinstance(message, TensorBatch):
                received.append(message)
    return await asyncio.start_server(handle, "127.0.0.1", 0, limit=STREAM_LIMIT)


def _batch(tag: int, codec: str, size: int = 100_000) -> TensorBatch:
    value = np.maximum(np.random.default_rng(tag).standard_normal(size // 4, dtype=np.float32), 0)
    return TensorBatch(epoch=1, stream="cam", tag=tag, source="1/0/0", tensors=(encode_tensor("net/x", value, codec),))


async def _send(batches: list[TensorBatch], mbps: float) -> tuple[Peers, list[TensorBatch], float]:
    received: list[TensorBatch] = []
    server = await _sink(received)
    peers = Peers(SECRET, send_mbps=mbps)
    peer = Peer("pi2", "127.0.0.1", server.sockets[0].getsockname()[1])
    started = time.monotonic()
    for batch in batches:
        peers.send(peer, batch)
    while len(received) < len(batches):
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    await peers.async_close()
    server.close()
    return peers, received, elapsed


def test_tensor_bytes_are_counted_per_device_and_codec_as_written() -> None:
    batches = [_batch(0, "uint8+zstd"), _batch(1, "uint8+zstd"), _batch(2, "raw")]
    peers, received, _ = run_async(_send(batches, 0.0))
    links = {(link.peer, link.codec): link for link in peers.tensor_bytes.take()}
    coded = links[("pi2", "uint8+zstd")]
    assert coded.bytes == sum(b.tensors[0].nbytes for b in batches[:2]) < coded.raw_bytes == 200_000
    assert links[("pi2", "raw")].bytes == links[("pi2", "raw")].raw_bytes == 100_000
    assert peers.tensor_bytes.take() == (), "taken: the next heartbeat starts afresh"
    assert [b.tag for b in received] == [0, 1, 2]


def test_a_capped_sender_is_paced_to_its_rate() -> None:
    # Four raw 100 kB batches at 8 Mbit/s: at least 3 x 0.1 s after the first one is written.
    _, received, elapsed = run_async(_send([_batch(t, "raw") for t in range(4)], 8.0))
    assert len(received) == 4
    assert elapsed >= 0.3
