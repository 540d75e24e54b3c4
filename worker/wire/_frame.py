"""Length-prefixed frames on asyncio streams, and a Connection that sends and receives messages.

A frame is a 4-byte big-endian length and that many bytes of payload. A length over the limit is
refused before reading the body (nothing is allocated for it) and the connection is closed,
because the stream is out of step from then on.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from ._avro import decode, encode_parts
from ._codecs import Buffer
from ._errors import WireError
from ._messages import Message
from ._registry import Registry
from ._rejects import Rejects

PREFIX_BYTES = 4
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # a stack of 10 optical flows at 224x224 is ~4 MB
STREAM_LIMIT = 1024 * 1024  # StreamReader buffer; the 64 KiB default pauses reading every 128 KiB

# Before 3.12, transport.writelines joins its pieces into one bytes (3.12 sends them with sendmsg).
# Below this size that copy is cheaper than a second send; above it, big pieces are written alone.
_JOIN_BELOW = 64 * 1024
_WRITELINES_SENDS_PIECES = sys.version_info >= (3, 12)


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    """The next frame's payload. EOFError on a clean close between frames; WireError (fatal) when the
    length is over ``max_bytes`` (the body is not read) or the stream ends inside a frame."""
    try:
        prefix = await reader.readexactly(PREFIX_BYTES)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise EOFError("connection closed") from None
        raise WireError("truncated", f"stream ended inside a length prefix ({len(exc.partial)} bytes)",
                        fatal=True) from None
    size = int.from_bytes(prefix, "big")
    if size > max_bytes:
        raise WireError("oversize", f"frame of {size} bytes, the limit is {max_bytes}", fatal=True)
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise WireError("truncated", f"stream ended after {len(exc.partial)} of {size} bytes",
                        fatal=True) from None


def write_frame(writer: asyncio.StreamWriter, payload: Buffer | Sequence[Buffer]) -> None:
    """Queue one frame (the caller awaits ``writer.drain()``); pieces of a payload are not concatenated."""
    parts = [payload] if isinstance(payload, (bytes, bytearray, memoryview)) else list(payload)
    size = sum(memoryview(p).nbytes for p in parts)
    pieces = [size.to_bytes(PREFIX_BYTES, "big"), *parts]
    if _WRITELINES_SENDS_PIECES or size < _JOIN_BELOW:
        writer.writelines(pieces)
        return
    # Before 3.12 writelines is b"".join + write: join the small pieces, write big ones as they are.
    small: list[Buffer] = []
    for piece in pieces:
        if memoryview(piece).nbytes < _JOIN_BELOW:
            small.append(piece)
            continue
        if small:
            writer.write(b"".join(small))
            small = []
        writer.write(piece)
    if small:
        writer.write(b"".join(small))


class Connection:
    """Messages over one TCP connection: encode + frame on send, read + decode + verify on receive.

    A frame that breaks the stream (oversize, cut short) closes the connection and raises
    WireError; a frame that is intact but refused (bad marker, unknown type, bad HMAC, bad body)
    is counted in ``rejects`` and skipped, and the next one is read.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, secret: bytes | None,
                 max_bytes: int = DEFAULT_MAX_BYTES, rejects: Rejects | None = None,
                 registry: Registry | None = None, peer: str | None = None) -> None:
        self.reader, self.writer = reader, writer
        self.max_bytes = max_bytes
        self.bytes_sent = 0   # framed bytes written (Peers paces a capped sender by it)
        self.rejects = rejects if rejects is not None else Rejects()
        self.peer = peer or _peer_name(writer)
        self._secret, self._registry = secret, registry

    @classmethod
    async def async_open(cls, host: str, port: int, *, secret: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES,
                         rejects: Rejects | None = None, registry: Registry | None = None) -> Connection:
        """Connect to ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port, limit=STREAM_LIMIT)
        return cls(reader, writer, secret=secret, max_bytes=max_bytes, rejects=rejects, registry=registry)

    async def async_send(self, message: Message) -> None:
        """Encode, frame and send one message; waits while the peer's socket buffer is full."""
        parts = encode_parts(message, self._secret, registry=self._registry)
        size = sum(memoryview(p).nbytes for p in parts)
        if size > self.max_bytes:  # the peer would drop the connection: refuse here instead
            raise WireError("oversize", f"{type(message).__name__} of {size} bytes, the limit is {self.max_bytes}")
        write_frame(self.writer, parts)
        self.bytes_sent += size
        await self.writer.drain()

    async def async_receive(self) -> Message:
        """The next accepted message (refused ones are counted and skipped).

        EOFError when the peer closed between frames; WireError (fatal, connection closed) when the
        stream broke; ConnectionError when the connection dropped.
        """
        while True:
            try:
                payload = await read_frame(self.reader, self.max_bytes)
            except WireError as exc:
                self.rejects.record(self.peer, exc)
                self.close()
                raise
            try:
                return decode(payload, self._secret, registry=self._registry)
            except WireError as exc:
                self.rejects.record(self.peer, exc)

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.async_receive()
        except EOFError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self.writer.is_closing():
            self.writer.close()

    async def async_close(self) -> None:
        """Close the connection and wait until it is closed."""
        self.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass  # the peer went first: closed anyway


def _peer_name(writer: asyncio.StreamWriter) -> str:
    # Rejects are counted per host, not per ephemeral port, so one bad device is logged once.
    peername = writer.get_extra_info("peername")
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return str(peername or "unknown")
