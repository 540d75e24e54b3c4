"""Length-prefixed frames on asyncio streams, and a Connection that sends and receives messages.

A frame is a 4-byte big-endian length and that many bytes of payload. A length over the limit is
refused before reading the body (nothing is allocated for it) and the connection is closed,
because the stream is out of step from then on. A frame's body must follow its length at
``MIN_RATE`` bytes/s after ``GRACE_S`` seconds, so a half-sent frame does not hold memory for ever.
A Connection starts with the handshake (``_handshake``) and seals every frame (``_secure``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence

from ._avro import HEADER_BYTES, decode, encode_parts
from ._codecs import Buffer
from ._errors import WireError
from ._handshake import HANDSHAKE_S, HandshakeError, async_accept_session, async_open_session
from ._limits import ConnectionLimits
from ._messages import Message
from ._registry import Registry
from ._rejects import Rejects
from ._secure import AEAD, Session

PREFIX_BYTES = 4
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # a stack of 10 optical flows at 224x224 is ~4 MB
STREAM_LIMIT = 1024 * 1024  # StreamReader buffer; the 64 KiB default pauses reading every 128 KiB
GRACE_S = 10.0              # a frame's body may take this long ...
MIN_RATE = 1024 * 1024      # ... plus its size at this many bytes/s (a slow Wi-Fi link is ~2 MB/s)

# Before 3.12, transport.writelines joins its pieces into one bytes (3.12 sends them with sendmsg).
# Below this size that copy is cheaper than a second send; above it, big pieces are written alone.
_JOIN_BELOW = 64 * 1024
_WRITELINES_SENDS_PIECES = sys.version_info >= (3, 12)


async def read_frame(reader: asyncio.StreamReader, max_bytes: int, grace_s: float = GRACE_S) -> bytes:
    """The next frame's payload. EOFError on a clean close between frames; WireError (fatal) when the
    length is over ``max_bytes`` (the body is not read), the stream ends inside a frame or the body
    does not arrive in ``grace_s`` plus its size at MIN_RATE."""
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
    deadline = grace_s + size / MIN_RATE
    try:
        return await asyncio.wait_for(reader.readexactly(size), deadline)
    except asyncio.IncompleteReadError as exc:
        raise WireError("truncated", f"stream ended after {len(exc.partial)} of {size} bytes",
                        fatal=True) from None
    except asyncio.TimeoutError:   # the builtin TimeoutError from Python 3.11 on
        raise WireError("timeout", f"a frame of {size} bytes did not arrive in {deadline:.0f} s",
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
    """Messages over one TCP connection, after a handshake: encode + seal + frame on send, read + open +
    decode + verify on receive. Made by ``async_open`` (this side connects) or ``async_accept``.

    A frame that breaks the stream (oversize, cut short, too slow, not authentic) closes the
    connection and raises WireError; a frame that is authentic but refused (bad marker, unknown
    type, bad HMAC, bad body) is counted in ``rejects`` and skipped, and the next one is read.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, secret: bytes,
                 session: Session, max_bytes: int = DEFAULT_MAX_BYTES, rejects: Rejects | None = None,
                 registry: Registry | None = None, peer: str | None = None) -> None:
        self.reader, self.writer = reader, writer
        self.max_bytes = max_bytes
        self.bytes_sent = 0   # framed bytes written (Peers paces a capped sender by it)
        self.rejects = rejects if rejects is not None else Rejects()
        self.peer = peer or _peer_name(writer)
        self.session = session
        self.on_close: list[Callable[[], None]] = []   # run once when the connection closes
        self._secret, self._registry = secret, registry

    @classmethod
    async def async_open(cls, host: str, port: int, *, secret: bytes, data: str = AEAD,
                         max_bytes: int = DEFAULT_MAX_BYTES, rejects: Rejects | None = None,
                         registry: Registry | None = None, timeout: float = HANDSHAKE_S) -> Connection:
        """Connect to ``host:port`` and do the handshake (``data``: aead or mac, what this side asks for).

        OSError when it cannot connect; HandshakeError (a ConnectionError, counted in ``rejects``)
        when the peer does not prove the secret in ``timeout`` seconds.
        """
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=STREAM_LIMIT), timeout)
        rejects = rejects if rejects is not None else Rejects()
        try:
            session = await async_open_session(reader, writer, secret, data, clear_bytes=HEADER_BYTES,
                                               timeout=timeout)
        except (HandshakeError, OSError) as exc:
            writer.close()
            if isinstance(exc, HandshakeError):
                rejects.record(host, exc.error)
            raise
        return cls(reader, writer, secret=secret, session=session, max_bytes=max_bytes, rejects=rejects,
                   registry=registry)

    @classmethod
    async def async_accept(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, secret: bytes,
                           data: str = AEAD, max_bytes: int = DEFAULT_MAX_BYTES, rejects: Rejects | None = None,
                           registry: Registry | None = None, limits: ConnectionLimits | None = None,
                           timeout: float = HANDSHAKE_S) -> Connection:
        """The connection a server was given, once the peer proved the secret (within ``timeout``).

        HandshakeError (counted in ``rejects``, socket closed) when it did not or ``limits`` refuse it;
        EOFError when it closed before sending anything (a port probe: not counted).
        """
        rejects = rejects if rejects is not None else Rejects()
        peer = _peer_name(writer)
        why = limits.admit(peer) if limits is not None else ""
        try:
            if why:
                raise HandshakeError("too-many", why)
            session = await async_accept_session(reader, writer, secret, data, clear_bytes=HEADER_BYTES,
                                                 timeout=timeout)
        except BaseException as exc:   # the place is given back even when the server is cancelled
            writer.close()
            if limits is not None and not why:
                limits.release(peer)
            if isinstance(exc, HandshakeError):
                rejects.record(peer, exc.error)
            raise
        conn = cls(reader, writer, secret=secret, session=session, max_bytes=max_bytes, rejects=rejects,
                   registry=registry, peer=peer)
        if limits is not None:
            conn.on_close.append(lambda: limits.release(peer))
        return conn

    async def async_send(self, message: Message) -> None:
        """Encode, frame and send one message; waits while the peer's socket buffer is full."""
        parts = encode_parts(message, self._secret, registry=self._registry)
        size = sum(memoryview(p).nbytes for p in parts)
        if size > self.max_bytes:  # the peer would drop the connection: refuse here instead
            raise WireError("oversize", f"{type(message).__name__} of {size} bytes, the limit is {self.max_bytes}")
        write_frame(self.writer, self.session.seal(parts))
        self.bytes_sent += size + self.session.overhead
        await self.writer.drain()

    async def async_receive(self) -> Message:
        """The next accepted message (refused ones are counted and skipped).

        EOFError when the peer closed between frames; WireError (fatal, connection closed) when the
        stream broke; ConnectionError when the connection dropped.
        """
        while True:
            try:
                payload = self.session.open(await read_frame(self.reader, self.max_bytes + self.session.overhead))
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
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            callback()

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
