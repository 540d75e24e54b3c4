"""Frames on asyncio streams, and a real server that survives garbage, oversize frames and forged messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from worker.wire import (
    AEAD,
    HEADER_BYTES,
    PREFIX_BYTES,
    Ack,
    Connection,
    Heartbeat,
    Message,
    Rejects,
    Session,
    Shutdown,
    Tensor,
    TensorBatch,
    WireError,
    _frame,
    encode,
    encode_parts,
    read_frame,
    write_frame,
)

from ._samples import SECRET

LIMIT = 64 * 1024


def _run(coro: Awaitable[object]) -> object:
    return asyncio.run(asyncio.wait_for(coro, 10))


def _reader(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


def _error(coro_fn: Callable[[], Awaitable[object]]) -> WireError:
    async def main() -> WireError:
        with pytest.raises(WireError) as caught:
            await coro_fn()
        return caught.value
    result = _run(main())
    assert isinstance(result, WireError)
    return result


def test_frames_are_read_back_in_order() -> None:
    async def main() -> None:
        reader = _reader(b"\x00\x00\x00\x03abc", b"\x00\x00", b"\x00\x00", b"\x00\x00\x00\x01z")
        assert await read_frame(reader, 10) == b"abc"
        assert await read_frame(reader, 10) == b""
        assert await read_frame(reader, 10) == b"z"
        with pytest.raises(EOFError):
            await read_frame(reader, 10)
    _run(main())


def test_an_oversize_length_is_refused_without_waiting_for_the_body() -> None:
    no_body = (LIMIT + 1).to_bytes(4, "big")  # and no end of stream: waiting would hang
    error = _error(lambda: read_frame(_reader(no_body, eof=False), LIMIT))
    assert (error.kind, error.fatal) == ("oversize", True) and str(LIMIT) in error.detail


def test_a_stream_cut_inside_a_frame_is_truncated() -> None:
    for data in (b"\x00\x00", b"\x00\x00\x00\x09abc"):
        error = _error(lambda data=data: read_frame(_reader(data), LIMIT))
        assert (error.kind, error.fatal) == ("truncated", True)


class _RecordingWriter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[object]]] = []

    def write(self, data: object) -> None:
        self.calls.append(("write", [data]))

    def writelines(self, data: list[object]) -> None:
        self.calls.append(("writelines", list(data)))

    def sent(self) -> bytes:
        return b"".join(bytes(piece) for _, pieces in self.calls for piece in pieces)  # type: ignore[arg-type]


@pytest.mark.parametrize("sends_pieces", [False, True])
def test_write_frame_never_joins_a_big_tensor(monkeypatch: pytest.MonkeyPatch, sends_pieces: bool) -> None:
    monkeypatch.setattr(_frame, "_WRITELINES_SENDS_PIECES", sends_pieces)
    values = np.arange(100_000, dtype=np.float32)
    parts = encode_parts(TensorBatch(epoch=1, stream="s", tag=0, source="a",
                                     tensors=(Tensor.from_array("x", values),)), None)
    writer = _RecordingWriter()
    write_frame(writer, parts)  # type: ignore[arg-type]
    assert writer.sent() == len(b"".join(parts)).to_bytes(4, "big") + b"".join(parts)
    assert any(piece is parts[1] for _, pieces in writer.calls for piece in pieces)
    small = _RecordingWriter()
    write_frame(small, b"abc")  # type: ignore[arg-type]
    assert small.calls == [("writelines", [b"\x00\x00\x00\x03", b"abc"])]


class _Server:
    """An agent-like server: answers every accepted message with an Ack, never crashes."""

    def __init__(self) -> None:
        self.rejects = Rejects()
        self.received: list[Message] = []
        self.closed_by_error: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await Connection.async_accept(reader, writer, secret=SECRET, max_bytes=LIMIT,
                                                 rejects=self.rejects)
        except (EOFError, OSError):
            return
        try:
            async for message in conn:
                self.received.append(message)
                await conn.async_send(Ack(epoch=1, device="agent", ok=True, detail=type(message).__name__))
        except WireError as exc:
            self.closed_by_error.append(exc.kind)
        finally:
            await conn.async_close()


async def _raw_client(port: int, *frames: bytes) -> bytes:
    """Send raw bytes, then end of stream; everything the server sent before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for frame in frames:
        writer.write(frame)
    await writer.drain()
    writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), 2)
    finally:
        writer.close()


def _framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(PREFIX_BYTES, "big") + payload


def test_server_survives_garbage_oversize_and_forgeries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mchair.wire")
    server = _Server()

    async def main() -> None:
        tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        try:
            # Garbage without a handshake: nothing parsed, the connection closed, nothing answered.
            assert await _raw_client(port, b"garbage, not a handshake" * 2) == b""
            # A frame of an older mchair (no handshake) is told apart.
            assert await _raw_client(port, _framed(encode(Shutdown(reason="old"), SECRET))) == b""
            # A genuine message is answered; a frame forged into the connection closes it.
            conn = await Connection.async_open("127.0.0.1", port, secret=SECRET, max_bytes=LIMIT)
            await conn.async_send(Heartbeat(device="pi1", epoch=1, time_ns=1, queue_fill=0.5, ips=3.0))
            ack = await conn.async_receive()
            assert ack == Ack(epoch=1, device="agent", ok=True, detail="Heartbeat")
            conn.writer.write(_framed(encode(Shutdown(reason="forged"), SECRET)))
            with pytest.raises((EOFError, ConnectionError)):
                await conn.async_receive()
            # The limit holds after the handshake too: the oversize prefix closes the connection.
            conn = await Connection.async_open("127.0.0.1", port, secret=SECRET, max_bytes=LIMIT)
            conn.writer.write((LIMIT + 1024).to_bytes(4, "big") + b"body never read")
            with pytest.raises((EOFError, ConnectionError)):
                await conn.async_receive()
            # More garbage, on another connection: counted, not logged again.
            assert await _raw_client(port, b"more garbage, not a handshake" * 2) == b""
        finally:
            tcp.close()
            await tcp.wait_closed()
    _run(main())

    assert [type(m) for m in server.received] == [Heartbeat]
    assert server.closed_by_error == ["bad-tag", "oversize"]
    counts = {(r.peer, r.kind): r.count for r in server.rejects.summary()}
    assert counts == {("127.0.0.1", "handshake"): 2, ("127.0.0.1", "old-version"): 1,
                      ("127.0.0.1", "bad-tag"): 1, ("127.0.0.1", "oversize"): 1}
    warnings = [r.getMessage() for r in caplog.records if r.name == "mchair.wire"]
    assert len(warnings) == 4
    assert sum("older mchair" in w for w in warnings) == 1 and all("127.0.0.1" in w for w in warnings)
    assert server.rejects.count(kind="handshake") == 2 and server.rejects.count("127.0.0.1") == 5


def test_send_refuses_a_message_the_peer_would_refuse() -> None:
    async def main() -> None:
        reader = _reader()
        writer = _RecordingWriter()
        session = Session(bytes(32), bytes(32), AEAD, HEADER_BYTES)
        conn = Connection(reader, writer, secret=SECRET, session=session, max_bytes=1000,  # type: ignore[arg-type]
                          peer="pi9")
        big = TensorBatch(epoch=1, stream="s", tag=0, source="a",
                          tensors=(Tensor.from_array("x", np.zeros(1000, np.uint8)),))
        with pytest.raises(WireError) as caught:
            await conn.async_send(big)
        assert caught.value.kind == "oversize" and writer.calls == []
    _run(main())
