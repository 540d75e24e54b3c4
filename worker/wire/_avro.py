"""Messages <-> bytes: Avro single-object encoding, plus an HMAC-SHA256 after control messages.

A payload is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint of the message's schema + the Avro
body; a control message (the fingerprint says which type it is) is followed by 32 bytes of
HMAC-SHA256 over everything before it, keyed with the cluster secret. The HMAC is checked before
the body is parsed, so unauthenticated bytes never reach the Avro reader.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from ._buffer import BufferReader, Truncated
from ._codecs import Buffer
from ._errors import WireError
from ._messages import Message
from ._registry import MAGIC, MessageType, Registry, default_registry

HEADER_BYTES = len(MAGIC) + 8
HMAC_BYTES = hashlib.sha256().digest_size


class _Sink:
    """Keeps what fastavro writes instead of copying it into a BytesIO."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[Buffer] = []

    def write(self, data: Buffer) -> None:
        self.parts.append(data)

    def body(self) -> Buffer:
        # fastavro's compiled writer hands over one bytearray; its pure-Python twin writes pieces.
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


def encode_parts(message: Message, secret: bytes | None, *, registry: Registry | None = None) -> tuple[Buffer, ...]:
    """The payload as pieces (header, body[, hmac]) to write one after the other, without joining them.

    The body is the one copy of the tensor bytes an encode makes. Raises ValueError for a control
    message without a secret, TypeError for an object that is not a registered message.
    """
    reg = registry or default_registry()
    mt = reg.by_class(type(message))
    sink = _Sink()
    schemaless_writer(sink, mt.schema, reg.converter.to_datum(message))  # type: ignore[arg-type]  # only write()
    body = sink.body()
    if not mt.control:
        return mt.header, body
    if not secret:
        raise ValueError(f"{mt.name} is a control message: it needs the cluster secret")
    mac = hmac.new(secret, mt.header, hashlib.sha256)
    mac.update(body)
    return mt.header, body, mac.digest()


def encode(message: Message, secret: bytes | None, *, registry: Registry | None = None) -> bytes:
    """The payload of a message as one bytes object (a frame writer should prefer encode_parts)."""
    return b"".join(encode_parts(message, secret, registry=registry))


def message_type(payload: Buffer, *, registry: Registry | None = None) -> MessageType:
    """The message type a payload announces; WireError for a short payload, a bad marker, an unknown type."""
    view = memoryview(payload)
    if view.nbytes < HEADER_BYTES:
        raise WireError("truncated", f"{view.nbytes} bytes, shorter than the {HEADER_BYTES}-byte header")
    if view[:2] != MAGIC:
        raise WireError("bad-magic", f"starts with {view[:2].hex()}, expected {MAGIC.hex()}")
    fp = view[2:HEADER_BYTES].tobytes()
    mt = (registry or default_registry()).by_fingerprint(fp)
    if mt is None:
        raise WireError("unknown-fingerprint", f"no schema with fingerprint {fp.hex()}")
    return mt


def decode(payload: Buffer, secret: bytes | None, *, registry: Registry | None = None) -> Message:
    """The message in a payload; tensor bytes are views of ``payload``. Raises WireError when rejected."""
    reg = registry or default_registry()
    view = memoryview(payload).cast("B") if isinstance(payload, memoryview) else memoryview(payload)
    mt = message_type(view, registry=reg)
    end = view.nbytes
    if mt.control:
        end -= HMAC_BYTES
        if secret is None:
            raise WireError("bad-hmac", f"{mt.name}: no cluster secret to check it with")
        if end < HEADER_BYTES:
            raise WireError("bad-hmac", f"{mt.name}: HMAC missing ({view.nbytes} bytes)")
        expected = hmac.digest(secret, view[:end], "sha256")
        if not hmac.compare_digest(expected, view[end:]):
            raise WireError("bad-hmac", f"{mt.name}: HMAC does not match (wrong secret or altered)")
    datum = _read(payload, view, end, mt)
    try:
        return reg.converter.from_datum(mt.cls, datum)
    except (TypeError, ValueError, KeyError) as exc:
        raise WireError("undecodable", f"{mt.name}: {exc}") from None


def _read(payload: Buffer, view: memoryview, end: int, mt: MessageType) -> Any:
    reader: BufferReader | None = BufferReader(payload, view, HEADER_BYTES, end)
    try:
        datum = schemaless_reader(reader, mt.schema, None)  # type: ignore[arg-type]  # only read()
    except Truncated as exc:
        raise WireError("truncated", f"{mt.name}: {exc}") from None
    except (TypeError, AttributeError):
        # The zero-copy reader relies on how fastavro reads values (numbers as short bytes reads,
        # strings via .decode); if a fastavro release reads differently, copy rather than fail.
        reader = None
        datum = _read_copy(view, end, mt)
    except Exception as exc:  # noqa: BLE001 - any failure inside the Avro reader means "undecodable"
        raise WireError("undecodable", f"{mt.name}: {type(exc).__name__}: {exc}") from None
    if reader is not None and reader.pos != end:
        raise WireError("undecodable", f"{mt.name}: {end - reader.pos} bytes after the body")
    return datum


def _read_copy(view: memoryview, end: int, mt: MessageType) -> Any:
    fo = io.BytesIO(view[HEADER_BYTES:end])
    try:
        datum = schemaless_reader(fo, mt.schema, None)
    except EOFError as exc:
        raise WireError("truncated", f"{mt.name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - as in _read
        raise WireError("undecodable", f"{mt.name}: {type(exc).__name__}: {exc}") from None
    if fo.tell() != end - HEADER_BYTES:
        raise WireError("undecodable", f"{mt.name}: {end - HEADER_BYTES - fo.tell()} bytes after the body")
    return datum
