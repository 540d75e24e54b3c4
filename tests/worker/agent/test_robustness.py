"""Bad input against a running agent: each is refused and counted, and the agent serves the next message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worker.agent import Agent
from worker.camera import SyntheticCamera
from worker.cluster import AgentSettings
from worker.wire import HEADER_BYTES, MAGIC, Assign, Connection, Peer, Resume, Tensor, TensorBatch, encode, write_frame

from ._harness import SECRET, FakeMaster, Partitioned, make_table, run_async

FORGED = b"not-the-cluster-secret-0123456789"


def test_bad_input_is_refused_counted_and_the_agent_keeps_serving(partitioned: Callable[[int], Partitioned],
                                                                   tmp_path: Path) -> None:
    part = partitioned(1)

    async def scenario() -> None:
        async with FakeMaster(part.directory) as master, \
                Agent("pi0", SECRET, cache_dir=tmp_path / "cache", camera=SyntheticCamera(seed=1), max_frames=12,
                      settings=AgentSettings(heartbeat_s=30.0)) as agent:
            me = Peer("pi0", "127.0.0.1", agent.port)
            table = master.table = make_table(part, [me], master.peer, epoch=5)

            async def until(what: str, done: Callable[[], bool]) -> None:
                await master.async_until(done, 10, what)

            def rejected(kind: str) -> int:
                return agent.counters().rejected.get(kind, 0)

            def dropped(reason: str) -> int:
                return agent.counters().dropped.get(reason, 0)

            # A peer with the secret sends intact frames with a bad body: refused one by one, the
            # connection stays open.
            conn = await Connection.async_open("127.0.0.1", agent.port, secret=SECRET)
            reader, writer = conn.reader, conn.writer

            def send_raw(payload: bytes) -> None:
                write_frame(writer, conn.session.seal([payload[:HEADER_BYTES], payload[HEADER_BYTES:]]))

            send_raw( b"garbage! " * 8)                                     # not Avro at all
            send_raw(MAGIC + bytes(range(8)) + b"\x02\x04")                 # no such schema
            send_raw(encode(Assign(epoch=5, table=table), FORGED))          # forged: wrong secret
            send_raw(encode(Assign(epoch=5, table=table), SECRET))          # valid
            await writer.drain()
            await until("the Ack of epoch 5", lambda: bool(master.acked(5)))
            assert (rejected("bad-magic"), rejected("unknown-fingerprint"), rejected("bad-hmac")) == (1, 1, 1)
            assert agent.epoch == 5 and master.acked(5)["pi0"].ok

            # Decoded data that does not belong: refused by the agent, per reason.
            frame = np.zeros(table.frame_shape, np.float32)
            tensors = (Tensor.from_array("camera/frame", frame),)
            for batch in (TensorBatch(epoch=4, stream="pi0", tag=3, source="pi0:0.0.0", tensors=tensors),   # stale
                          TensorBatch(epoch=5, stream="pi0", tag=3, source="pi9:3.0.0", tensors=tensors),   # no seat
                          TensorBatch(epoch=5, stream="pi0", tag=3, source="mallory", tensors=tensors),     # no seat
                          TensorBatch(epoch=5, stream="cam7", tag=3, source="pi0:0.0.0", tensors=tensors),  # stream
                          TensorBatch(epoch=5, stream="pi0", tag=3, source="pi0:0.0.0", tensors=tensors)):  # to whom?
                send_raw(encode(batch, None))
            send_raw(encode(Assign(epoch=5, table=table), SECRET))          # replayed: not newer
            await writer.drain()
            await until("the data drops", lambda: sum(agent.counters().dropped.values()) == 6)
            assert (dropped("stale-epoch"), dropped("unknown-seat"), dropped("wrong-stream"),
                    dropped("misrouted")) == (2, 2, 1, 1)
            assert len(master.acked(5)) == 1 and len(master.acks) == 1, "the replayed Assign got no Ack"

            # A length prefix over the limit: refused before reading, the connection is closed.
            writer.write((3 * 1024**3).to_bytes(4, "big") + b"x" * 64)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            # Bytes of another protocol, on a new connection: no handshake, closed, nothing parsed.
            reader, writer = await asyncio.open_connection("127.0.0.1", agent.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: pi0\r\n\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            assert rejected("oversize") == 1 and rejected("handshake") == 1

            # The agent still serves: a newer Assign is taken (artifacts already cached) and runs.
            await master.async_send(me, Assign(epoch=6, table=make_table(part, [me], master.peer, epoch=6)))
            await until("the Ack of epoch 6", lambda: bool(master.acked(6)))
            assert master.acked(6)["pi0"].ok and agent.epoch == 6
            await master.async_send(me, Resume(epoch=6, seat="*", stream="pi0"))
            await until("results of epoch 6", lambda: {r.tag for r in master.results if r.epoch == 6} == {10, 11})
            counters = agent.counters()
            assert counters.compute_errors == 0 and counters.frames == 12
            assert sum(counters.rejected.values()) == 5 and sum(counters.dropped.values()) == 6
            assert len(master.requests) == 3, "each artifact was fetched once, for epoch 5 only"
            print(f"\nrejected {dict(counters.rejected)}, dropped {dict(counters.dropped)}, "
                  f"then epoch 6 ran: {counters.results_sent} results")

    run_async(scenario(), timeout=30)
