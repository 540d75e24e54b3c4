"""The handshake and sealed frames on real sockets: a peer without the secret gets nothing parsed and reads nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import numpy as np
import pytest

from worker.wire import (
    AEAD,
    HEADER_BYTES,
    MAC,
    ArtifactChunk,
    Connection,
    ConnectionLimits,
    HandshakeError,
    Heartbeat,
    Message,
    Peer,
    Rejects,
    Shutdown,
    Tensor,
    TensorBatch,
    WireError,
    encode,
    read_frame,
    write_frame,
)

from ._relay import Relay
from ._samples import SECRET, every_message

OTHER = b"another cluster's secret, 32 byt"


def _run(coro: Awaitable[object]) -> object:
    return asyncio.run(asyncio.wait_for(coro, 20))


class _Sink:
    """A server that keeps every message it accepts, with its connections' data modes."""

    def __init__(self, data: str = AEAD, limits: ConnectionLimits | None = None, timeout: float = 5.0) -> None:
        self.data, self.limits, self.timeout = data, limits, timeout
        self.rejects = Rejects()
        self.received: list[Message] = []
        self.modes: list[str] = []
        self.errors: list[str] = []
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> _Sink:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await Connection.async_accept(reader, writer, secret=SECRET, data=self.data, rejects=self.rejects,
                                                 limits=self.limits, timeout=self.timeout)
        except (EOFError, OSError):
            return
        self.modes.append(conn.session.mode)
        try:
            async for message in conn:
                self.received.append(message)
        except WireError as exc:
            self.errors.append(exc.kind)
        finally:
            conn.close()

    async def until(self, count: int) -> None:
        for _ in range(200):
            if len(self.received) + len(self.errors) >= count:
                return
            await asyncio.sleep(0.01)


def test_a_wrong_secret_is_refused_on_both_sides_and_the_stronger_mode_is_agreed() -> None:
    async def main() -> None:
        async with _Sink(data=MAC) as sink:
            client_rejects = Rejects()
            with pytest.raises(HandshakeError, match="did not prove the cluster secret"):
                await Connection.async_open("127.0.0.1", sink.port, secret=OTHER, rejects=client_rejects)
            assert client_rejects.count(kind="handshake") == 1
            for mode in (MAC, AEAD):
                conn = await Connection.async_open("127.0.0.1", sink.port, secret=SECRET, data=mode)
                await conn.async_send(Shutdown(reason=mode))
                await conn.async_close()
            await sink.until(2)
        assert sink.rejects.count(kind="handshake") == 1 and sink.modes == [MAC, AEAD]
        assert [m.reason for m in sink.received] == [MAC, AEAD]  # type: ignore[attr-defined]
    _run(main())


def test_injected_replayed_and_reordered_frames_close_the_connection() -> None:
    beat = Heartbeat(device="pi1", epoch=1, time_ns=1, queue_fill=0.5, ips=3.0)

    async def capture(conn: Connection, message: Message) -> list[bytes]:
        """The sealed frame ``message`` would be, as a sniffer sees it (it is not sent)."""
        parts = conn.session.seal(_parts(message))
        return [bytes(memoryview(p)) for p in parts]

    async def main() -> None:
        async with _Sink() as sink:
            # An unsealed frame injected mid-connection, by a third party that knows the format.
            conn = await Connection.async_open("127.0.0.1", sink.port, secret=SECRET)
            await conn.async_send(beat)
            write_frame(conn.writer, encode(Shutdown(reason="injected"), SECRET))
            await conn.writer.drain()
            await sink.until(2)
            # Every message, sealed for one connection, replayed on a new one as its first frame
            # (a captured Shutdown, Motion, Assign, heartbeat, StatusRequest, ...).
            first = await Connection.async_open("127.0.0.1", sink.port, secret=SECRET)
            for message in every_message():
                captured = await capture(first, message)
                replay = await Connection.async_open("127.0.0.1", sink.port, secret=SECRET)
                write_frame(replay.writer, captured)
                await replay.writer.drain()
            await sink.until(2 + len(every_message()))
            first = await Connection.async_open("127.0.0.1", sink.port, secret=SECRET)
            # Reordered on its own connection: frame 1 before frame 0.
            frame0 = await capture(first, beat)
            frame1 = await capture(first, Shutdown(reason="second"))
            write_frame(first.writer, frame1)
            write_frame(first.writer, frame0)
            await first.writer.drain()
            await sink.until(3 + len(every_message()))
        replays = len(every_message())
        assert sink.received == [beat] and sink.errors == ["bad-tag"] * (2 + replays)
        assert sink.rejects.count(kind="bad-tag") == 2 + replays and replays >= 10
    _run(main())


def test_a_passive_capture_finds_no_pixels_weights_or_names_with_aead() -> None:
    pixels = np.random.default_rng(7).integers(0, 255, (64, 64, 3), np.uint8)
    weights = np.random.default_rng(8).bytes(4096)
    batch = TensorBatch(epoch=1, stream="kitchen-camera", tag=0, source="pi1:0.0.0",
                        tensors=(Tensor.from_array("camera/frame", pixels),))
    chunk = ArtifactChunk(sha256="ab" * 32, offset=0, total=len(weights), data=weights)
    secrets = (pixels.tobytes()[1000:1032], weights[1000:1032], b"kitchen-camera", b"camera/frame")

    async def run(mode: str) -> bytes:
        """Everything on the wire of a connection through a relay."""
        relay = Relay()
        async with _Sink(data=mode) as sink:
            there = await relay.async_route(Peer("sink", "127.0.0.1", sink.port))
            conn = await Connection.async_open(there.host, there.port, secret=SECRET, data=mode)
            await conn.async_send(batch)
            await conn.async_send(chunk)
            await sink.until(2)
            await conn.async_close()
            relay.close()
        assert len(sink.received) == 2 and np.array_equal(sink.received[0].tensors[0].array(), pixels)  # type: ignore[attr-defined]
        return bytes(relay.wire)

    clear = _run(run(MAC))
    assert isinstance(clear, bytes) and all(s in clear for s in secrets), "mac sends in clear: the test can see"
    sealed = _run(run(AEAD))
    assert isinstance(sealed, bytes) and len(sealed) > pixels.nbytes + len(weights)
    assert not any(s in sealed for s in secrets)


def test_an_older_mchair_gets_one_clear_line_on_both_sides(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mchair.wire")

    async def old_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wire version 1: reads a frame at once; our hello's magic is a 1.3 GB length: refused, closed."""
        with pytest.raises(WireError):
            from worker.wire import _frame
            await _frame.read_frame(reader, 64 * 1024 * 1024)
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(old_server, "127.0.0.1", 0)
        with pytest.raises(HandshakeError, match="older mchair"):
            await Connection.async_open("127.0.0.1", server.sockets[0].getsockname()[1], secret=SECRET)
        server.close()
        async with _Sink() as sink:  # an old client sends its signed frame straight away
            reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
            write_frame(writer, encode(Shutdown(reason="old"), SECRET))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""
        assert sink.rejects.count(kind="old-version") == 1 and not sink.received
    _run(main())
    lines = [r.getMessage() for r in caplog.records if "older mchair" in r.getMessage()]
    assert len(lines) == 2 and all("127.0.0.1" in line for line in lines)   # one on each side
    assert "closed the connection" in lines[0] and "sent a frame, not a handshake" in lines[1]


def test_silent_peers_are_dropped_at_the_deadline_and_connections_are_capped() -> None:
    async def main() -> None:
        async with _Sink(limits=ConnectionLimits(per_peer=3, total=10), timeout=0.3) as sink:
            silent = [await asyncio.open_connection("127.0.0.1", sink.port) for _ in range(5)]
            # Three are admitted and closed at the handshake deadline; two more are closed at once.
            closed = await asyncio.gather(*(asyncio.wait_for(r.read(), 3) for r, _ in silent))
            assert closed == [b""] * 5
            assert sink.rejects.count(kind="too-many") == 2 and sink.rejects.count(kind="handshake") == 3
            assert sink.limits is not None and sink.limits.count() == 0   # their places were given back
            conn = await Connection.async_open("127.0.0.1", sink.port, secret=SECRET)
            await conn.async_send(Shutdown(reason="after"))
            await sink.until(1)
            assert sink.limits.count("127.0.0.1") == 1
            for _, writer in silent:
                writer.close()
    _run(main())


def test_a_half_sent_frame_times_out() -> None:
    async def main() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data((1000).to_bytes(4, "big") + b"x" * 10)   # 10 of 1000 bytes, then nothing
        with pytest.raises(WireError) as caught:
            await read_frame(reader, 10_000, grace_s=0.2)
        assert caught.value.kind == "timeout" and caught.value.fatal
    _run(main())


def _parts(message: Message) -> list[bytes]:
    payload = encode(message, SECRET)
    return [payload[:HEADER_BYTES], payload[HEADER_BYTES:]]
