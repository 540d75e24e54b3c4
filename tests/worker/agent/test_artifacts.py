"""The artifact cache: chunks in any order, verified by sha256, names that cannot escape the directory,
runners loaded once; and an Assign whose artifact arrives corrupt is answered Ack(ok=False)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.agent import Agent, ArtifactCache, ArtifactError, Peers, parse_seat_label, seat_label
from worker.camera import SyntheticCamera
from worker.cluster import AgentSettings
from worker.wire import STREAM_LIMIT, ArtifactChunk, Assign, Connection, Peer, Seat, Shutdown

from ._harness import SECRET, FakeMaster, Partitioned, make_table, run_async


def _chunks(data: bytes, sha: str, size: int) -> list[ArtifactChunk]:
    return [ArtifactChunk(sha256=sha, offset=o, total=len(data), data=data[o:o + size]) for o in range(0, len(data), size)]


def test_chunks_in_any_order_assemble_and_verify(partitioned: Callable[[int], Partitioned], tmp_path: Path) -> None:
    source = next(partitioned(1).directory.glob("*.tflite"))
    data, sha = source.read_bytes(), source.stem

    async def scenario() -> None:
        cache = ArtifactCache(tmp_path / "cache")
        assert not cache.has(sha)
        done = cache.expect(sha)
        chunks = _chunks(data, sha, 1000)
        for chunk in reversed(chunks):   # out of order: the hash is computed from the file
            assert cache.add_chunk(chunk) == ""
        assert await done == cache.path(sha) and cache.has(sha)
        assert cache.runner(sha) is cache.runner(sha) and cache.loaded == 1   # loaded once, reused
        # Nobody asked for more: refused.
        assert "awaited" in cache.add_chunk(chunks[0])

        # The wrong bytes under a name: refused, nothing is kept.
        fake = hashlib.sha256(b"something else").hexdigest()
        done = cache.expect(fake)
        assert "outside" in cache.add_chunk(ArtifactChunk(sha256=fake, offset=90, total=100, data=b"x" * 20))
        for chunk in _chunks(data[:4000], fake, 1500):
            assert cache.add_chunk(chunk) == ""
        with pytest.raises(ArtifactError, match="arrived with sha256"):
            await done
        assert not cache.has(fake) and not list(cache.directory.glob("*.part"))
        # A name that is not a sha256 never becomes a path.
        with pytest.raises(ArtifactError):
            cache.path("../../etc/passwd")
        assert not cache.has("../" + sha)

    run_async(scenario())


def test_seat_labels_round_trip() -> None:
    seat = Seat("pi:7", 3, 1, 2)
    assert seat_label(seat) == "pi:7:3.1.2" and parse_seat_label(seat_label(seat)) == seat
    assert parse_seat_label("mallory") is None and parse_seat_label("pi1:1.x.0") is None


def test_a_bad_table_or_a_corrupt_artifact_is_answered_with_a_failed_ack(partitioned: Callable[[int], Partitioned],
                                                                           tmp_path: Path) -> None:
    part = partitioned(1)

    async def scenario() -> None:
        async with FakeMaster(part.directory) as master, \
                Agent("pi0", SECRET, cache_dir=tmp_path / "cache", camera=SyntheticCamera(),
                      settings=AgentSettings(heartbeat_s=30.0)) as agent:
            me = Peer("pi0", "127.0.0.1", agent.port)
            table = master.table = make_table(part, [me], master.peer, epoch=2)
            # An artifact name that would escape the cache directory: the table is refused.
            stage = table.stages[0]
            evil = dataclasses.replace(stage, tasks=(dataclasses.replace(stage.tasks[-1], sha256="../../x"),))
            await master.async_send(me, Assign(epoch=2, table=dataclasses.replace(table, stages=(evil,))))
            await master.async_until(lambda: bool(master.acked(2)), 10, "the Ack")
            assert not master.acked(2)["pi0"].ok and "not a sha256" in master.acked(2)["pi0"].detail
            assert agent.counters().dropped == {"bad-table": 1} and agent.epoch == 0
            # The right table, but the master serves other bytes for one artifact.
            master.acks.clear()
            victim = min(part.directory.glob("*.tflite"))
            real = victim.read_bytes()
            master.artifacts = tmp_path / "corrupt"
            master.artifacts.mkdir()
            for path in part.directory.glob("*.tflite"):
                (master.artifacts / path.name).write_bytes(real[:-1] + b"\0" if path == victim else path.read_bytes())
            await master.async_send(me, Assign(epoch=3, table=dataclasses.replace(table, epoch=3)))
            await master.async_until(lambda: bool(master.acked(3)), 10, "the Ack")
            assert not master.acked(3)["pi0"].ok and "arrived with sha256" in master.acked(3)["pi0"].detail
            # The master may try the same epoch again once it serves the right bytes.
            master.acks.clear()
            master.artifacts = part.directory
            await master.async_send(me, Assign(epoch=3, table=dataclasses.replace(table, epoch=3)))
            await master.async_until(lambda: bool(master.acked(3)), 10, "the Ack")
            assert master.acked(3)["pi0"].ok and agent.epoch == 3

    run_async(scenario())


def test_peers_reconnect_to_a_restarted_device() -> None:
    async def scenario() -> None:
        got: list[str] = []
        writers: list[asyncio.StreamWriter] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            async for message in await Connection.async_accept(reader, writer, secret=SECRET):
                assert isinstance(message, Shutdown)
                got.append(message.reason)

        async def until(done: Callable[[], bool]) -> None:
            while not done():
                await asyncio.sleep(0.01)

        server = await asyncio.start_server(serve, "127.0.0.1", 0, limit=STREAM_LIMIT)
        peer = Peer("pi1", "127.0.0.1", server.sockets[0].getsockname()[1])
        peers = Peers(SECRET)
        peers.send(peer, Shutdown(reason="one"))
        await until(lambda: got == ["one"])
        # The device goes down: its connections close, its port refuses.
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)
        peers.send(peer, Shutdown(reason="lost"))
        await until(lambda: bool(peers.failures.get("pi1")))   # counted, never raised
        # It comes back on the same port: the next message opens a new connection.
        server = await asyncio.start_server(serve, "127.0.0.1", peer.port, limit=STREAM_LIMIT)
        peers.send(peer, Shutdown(reason="two"))
        await until(lambda: "two" in got)
        assert got == ["one", "two"] and peers.failures["pi1"] == 1
        await peers.async_close()
        server.close()

    run_async(scenario(), timeout=15)
