"""The wire format: Avro single-object messages in length-prefixed frames, HMAC on control messages,
every connection opened by a handshake on the cluster secret and every frame sealed (docs/security.md).

Public API (the modules behind it are private)::

    encode(message, secret) -> bytes              decode(payload, secret) -> message
    encode_parts(message, secret) -> pieces       read_frame(reader, max_bytes) / write_frame(writer, payload)
    Connection.async_open(host, port, secret=, data=)      Connection.async_accept(reader, writer, secret=, ...)
                                                  .async_send(msg), .async_receive(), async for msg in conn
    Session                                       seal/open of one connection's frames (aead or mac)
    ConnectionLimits()                            caps on a server's connections, per peer host and in all
    Rejects()                                     counts refused frames per (peer, kind), logs each once
    WireError(kind, detail)                       kind in KINDS
"""

from ._codec import HEADER_BYTES, HMAC_BYTES, decode, encode, encode_parts, message_type
from ._convert import Converter
from ._errors import KINDS, WireError
from ._frame import (
    DEFAULT_MAX_BYTES,
    PREFIX_BYTES,
    STREAM_LIMIT,
    Connection,
    read_frame,
    write_frame,
)
from ._handshake import HANDSHAKE_S, VERSION, HandshakeError
from ._limits import ConnectionLimits
from ._registry import (
    MAGIC,
    SCHEMA_DIR,
    MessageType,
    Registry,
    default_registry,
    load_schemas,
    registry_for,
    schema_fingerprint,
)
from ._rejects import RejectCount, Rejects
from ._secure import AEAD, DATA_MODES, MAC, Session

__all__ = [
    "AEAD", "DATA_MODES", "HANDSHAKE_S", "MAC", "VERSION", "ConnectionLimits", "HandshakeError", "Session",
    "DEFAULT_MAX_BYTES", "HEADER_BYTES", "HMAC_BYTES", "KINDS", "MAGIC", "PREFIX_BYTES", "SCHEMA_DIR",
    "STREAM_LIMIT", "Connection", "Converter", "MessageType", "Registry", "RejectCount", "Rejects",
    "WireError", "decode", "default_registry", "encode", "encode_parts", "load_schemas", "message_type",
    "read_frame", "registry_for", "schema_fingerprint", "write_frame",
]
