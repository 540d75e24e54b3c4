"""The wire contract: messages, their Avro schemas, framing, the task table, tensor codecs, and the
security of every connection (a handshake on the cluster secret, then every frame sealed: docs/security.md).

Public API (the modules behind it are private)::

    Messages (_messages.py, schemas/*.avsc)   Assign, Ack, Heartbeat, ..., Status; Message (their union)
                                              Tensor, TensorBatch, Result; encode_tensor(name, array, codec)
    Task table (_table.py)                    TaskTable, Seat, StageSpec, InputSpec, Route, TaskSpec, Peer
    Encoding (_avro.py)                       encode(message, secret) -> bytes, decode(payload, secret)
                                              encode_parts(message, secret) -> pieces
    Framing (_frame.py)                       read_frame(reader, max_bytes) / write_frame(writer, payload)
                                              Connection.async_open(host, port, secret=, data=),
                                              Connection.async_accept(reader, writer, secret=, ...):
                                              .async_send(msg), .async_receive(), async for msg in conn
    Security (_handshake.py, _secure.py,      the handshake (HandshakeError), Session: seal/open of one
              _limits.py)                     connection's frames (aead or mac); ConnectionLimits: caps on
                                              a server's connections, per peer host and in all
    Refusals (_rejects.py, _errors.py)        Rejects() counts refused frames per (peer, kind), logs each
                                              once; WireError(kind, detail), kind in KINDS
    Tensor codecs (_codecs/)                  CODECS, parse_codec(name) -> Codec: .encode(array),
                                              .check(...), .decode(...); DTYPES, wire_dtype(name), Buffer

"Encoding" is how a message becomes bytes (Avro single-object encoding, always the same); a
"codec" is how a tensor's elements are compressed inside a Tensor message (chosen per route).
"""

from ._avro import HEADER_BYTES, HMAC_BYTES, decode, encode, encode_parts, message_type
from ._codecs import (
    CODECS,
    DTYPES,
    MAX_DECODED_BYTES,
    RAW,
    ZSTD_LEVEL,
    Buffer,
    Codec,
    Encoded,
    element_count,
    parse_codec,
    wire_dtype,
)
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
from ._messages import (
    CONTROL_TYPES,
    DATA_TYPES,
    MESSAGE_TYPES,
    Ack,
    AlmostFull,
    ArtifactChunk,
    ArtifactRequest,
    Assign,
    DeviceStatus,
    Heartbeat,
    LinkBytes,
    LinkStatus,
    Message,
    Motion,
    Release,
    Result,
    Resume,
    Shutdown,
    StageTime,
    Status,
    StatusRequest,
    StreamStatus,
    Tensor,
    TensorBatch,
    encode_tensor,
    is_control,
)
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
from ._table import CAMERA_FRAME, InputSpec, Peer, Route, Seat, StageSpec, TaskSpec, TaskTable

__all__ = [
    # messages
    "CONTROL_TYPES", "DATA_TYPES", "MESSAGE_TYPES", "Ack", "AlmostFull", "ArtifactChunk", "ArtifactRequest",
    "Assign", "DeviceStatus", "Heartbeat", "LinkBytes", "LinkStatus", "Message", "Motion", "Release", "Result",
    "Resume", "Shutdown", "StageTime", "Status", "StatusRequest", "StreamStatus", "Tensor",
    "TensorBatch", "encode_tensor", "is_control",
    # task table
    "CAMERA_FRAME", "InputSpec", "Peer", "Route", "Seat", "StageSpec", "TaskSpec", "TaskTable",
    # encoding, framing, security, refusals
    "AEAD", "DATA_MODES", "HANDSHAKE_S", "MAC", "VERSION", "ConnectionLimits", "HandshakeError", "Session",
    "DEFAULT_MAX_BYTES", "HEADER_BYTES", "HMAC_BYTES", "KINDS", "MAGIC", "PREFIX_BYTES", "SCHEMA_DIR",
    "STREAM_LIMIT", "Connection", "Converter", "MessageType", "Registry", "RejectCount", "Rejects",
    "WireError", "decode", "default_registry", "encode", "encode_parts", "load_schemas", "message_type",
    "read_frame", "registry_for", "schema_fingerprint", "write_frame",
    # tensor codecs
    "CODECS", "DTYPES", "MAX_DECODED_BYTES", "RAW", "ZSTD_LEVEL", "Buffer", "Codec", "Encoded",
    "element_count", "parse_codec", "wire_dtype",
]
