"""The artifact cache: chunks in any order, verified by sha256, names that cannot escape the directory,
runners loaded once; and an Assign whose artifact arrives corrupt is answered Ack(ok=False)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.agent import Agent, ArtifactCache, ArtifactError, Peers, parse_seat_label, seat_label
from worker.camera import SyntheticCamera
from worker.cluster import AgentSettings, load_cluster
from worker.errors import ConfigError
from worker.wire import STREAM_LIMIT, ArtifactChunk, Assign, Connection, Peer, Seat, Shutdown

from ._harness import SECRET, FakeMaster, Partitioned, make_table, run_async


def _chunks(data: bytes, sha: str, size: int) -> list[ArtifactChunk]:
    return [ArtifactChunk(sha256=sha, offset=o, total=len(data), data=data[o:o + size])
            for o in range(0, len(data), size)]


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


def _put(cache: ArtifactCache, data: bytes, mtime: float) -> str:
    """Write ``data`` into the cache as an artifact last used at ``mtime``; its sha256."""
    sha = hashlib.sha256(data).hexdigest()
    cache.directory.mkdir(parents=True, exist_ok=True)
    cache.path(sha).write_bytes(data)
    os.utime(cache.path(sha), (mtime, mtime))
    return sha


def test_over_its_cap_the_cache_prunes_the_least_recently_used_artifacts_no_seat_uses(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache", cap_bytes=2500)
    oldest, old, newer, newest = (_put(cache, bytes([i]) * 1000, 1000.0 + i) for i in range(4))
    # 4000 bytes: the oldest goes but is in use, so the next oldest two go instead.
    assert cache.use({oldest}) == [old, newer]
    assert cache.has(oldest) and cache.has(newest) and not cache.has(old) and not cache.has(newer)
    assert cache.path(oldest).stat().st_mtime > cache.path(newest).stat().st_mtime   # use() marks it as used
    # Nothing over the cap: nothing pruned, even what no seat uses.
    assert cache.use(set()) == [] and cache.has(newest) and cache.has(oldest)
    # Everything in use: over the cap, and kept.
    over = _put(cache, b"x" * 2000, 2000.0)
    assert cache.use({oldest, newest, over}) == [] and cache.has(over)
    # Once no seat needs them they go, down to the cap.
    assert set(cache.use({over})) == {newest, oldest} and cache.has(over)


def test_an_uncapped_cache_keeps_everything(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    shas = [_put(cache, bytes([i]) * 1000, 1000.0 + i) for i in range(3)]
    assert cache.use(set()) == [] and all(cache.has(sha) for sha in shas)


def test_the_cache_cap_is_read_from_cluster_yaml(tmp_path: Path) -> None:
    assert AgentSettings().cache_mb > 0
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text("agent: {cache_mb: 12}\n")
    assert load_cluster(cluster).agent.cache_mb == 12
    cluster.write_text("agent: {cache_mb: -1}\n")
    with pytest.raises(ConfigError, match="agent.cache_mb"):
        load_cluster(cluster)


def test_an_artifact_already_on_the_disk_is_hard_linked_not_copied(partitioned: Callable[[int], Partitioned],
                                                                    tmp_path: Path) -> None:
    source = next(partitioned(1).directory.glob("*.tflite"))   # <partitions>/<layout>/<sha256>.tflite
    data, sha = source.read_bytes(), source.stem

    async def scenario() -> None:
        linked = ArtifactCache(tmp_path / "linked", link_dir=source.parent.parent)
        copied = ArtifactCache(tmp_path / "copied", link_dir=tmp_path / "nowhere")
        for cache in (linked, copied):
            done = cache.expect(sha)
            for chunk in _chunks(data, sha, 4096):   # the bytes still arrive, and are verified
                assert cache.add_chunk(chunk) == ""
            assert await done == cache.path(sha)
            assert cache.path(sha).read_bytes() == data and not list(cache.directory.glob("*.part"))
        assert linked.path(sha).stat().st_ino == source.stat().st_ino
        assert copied.path(sha).stat().st_ino != source.stat().st_ino

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
