"""Every message agents and the master exchange, as frozen dataclasses (schemas: worker/wire/schemas/*.avsc).

Field names and order match the Avro records exactly; `worker.wire` checks it when it loads the
schemas. Control messages carry an HMAC with the cluster secret on the wire; data messages
(tensors) do not, because an agent accepts data only from peers in its current task table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._codecs import RAW, Buffer, Codec, parse_codec

if TYPE_CHECKING:  # _table.py imports nothing from here; the wire resolves it lazily
    from ._table import TaskTable


@dataclass(frozen=True, slots=True, kw_only=True)
class Tensor:
    """One named tensor: its decoded dtype and shape, and its payload in a codec (worker.wire).

    A raw payload is the elements in C order, little-endian, never copied on the wire.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: Buffer
    codec: str = "raw"
    params: Buffer = b""

    def __post_init__(self) -> None:
        # Checked here so that a lying shape, unknown codec or forged params from the network are
        # rejected when the message is decoded, not later inside a stage.
        try:
            parse_codec(self.codec).check(self.dtype, self.shape, self.data, self.params)
        except ValueError as exc:
            raise ValueError(f"tensor {self.name!r}: {exc}") from None

    @classmethod
    def from_array(cls, name: str, array: np.ndarray) -> Tensor:
        """A raw tensor that shares the array's memory (copies only if it is not C-contiguous little-endian)."""
        return encode_tensor(name, array, RAW)

    def array(self) -> np.ndarray:
        """The decoded tensor, read-only: raw views the bytes (a received frame), lossy codecs give float32."""
        try:
            return parse_codec(self.codec).decode(self.dtype, self.shape, self.data, self.params)
        except ValueError as exc:
            raise ValueError(f"tensor {self.name!r}: {exc}") from None

    @property
    def nbytes(self) -> int:
        """Bytes the tensor's payload takes in the message: data and params."""
        return memoryview(self.data).nbytes + len(self.params)


def encode_tensor(name: str, array: np.ndarray, codec: str | Codec = "raw") -> Tensor:
    """``array`` as a Tensor in ``codec`` (a name or a Codec); ValueError naming the tensor if refused."""
    chosen = parse_codec(codec) if isinstance(codec, str) else codec
    try:
        encoded = chosen.encode(array)
    except ValueError as exc:
        raise ValueError(f"tensor {name!r}: {exc}") from None
    return Tensor(name=name, dtype=encoded.dtype, shape=tuple(int(d) for d in array.shape), data=encoded.data,
                  codec=encoded.codec, params=encoded.params)


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorBatch:
    """Tensors of one tag, from one seat to the next ones (data)."""

    epoch: int
    stream: str
    tag: int
    source: str
    shard: int = -1  # index of the shard that produced it, -1 when the stage is not sharded
    tensors: tuple[Tensor, ...]
    sent_ns: int = 0
    captured_ns: int = 0  # when the recorder captured the frame of this tag
    frame: int = -1  # the camera's frame number of this tag
    compute_ms: float = 0.0  # spent computing this tag along the path so far
    queue_ms: float = 0.0  # spent waiting in input buffers along the path so far


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The model's output for one tag, from the sink back to the master (data)."""

    epoch: int
    stream: str
    tag: int
    shard: int = -1  # the sink seat's shard, -1 when not sharded: the master joins the pieces
    tensors: tuple[Tensor, ...]
    captured_ns: int = 0
    frame: int = -1  # the camera's frame number of this tag
    compute_ms: float
    transfer_ms: float
    queue_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Assign:
    """The master's new task table for an agent (control)."""

    epoch: int
    table: TaskTable


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """An agent's answer to a control message: applied or not, and why (control)."""

    epoch: int
    device: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTime:
    """A stage's measured time per run on a device (mean over a heartbeat period), and the plan's
    (0: unknown, as in a heartbeat: the agent does not know the plan's)."""

    stage: str
    ms: float
    expected_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkBytes:
    """Tensor bytes a device sent to one peer over a heartbeat period: encoded, and before encoding."""

    peer: str
    codec: str
    bytes: int
    raw_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """An agent's periodic health report to the master (control)."""

    device: str
    epoch: int
    time_ns: int
    queue_fill: float
    ips: float
    stage_ms: tuple[StageTime, ...] = ()
    drops: int = 0
    rss_mb: float = 0.0
    first_tag: int = -1  # recorder: the tag of frames[0]
    frames: tuple[int, ...] = ()  # recorder: camera frame numbers of the tags kept since the last heartbeat
    links: tuple[LinkBytes, ...] = ()  # tensor bytes sent to each peer since the last heartbeat


@dataclass(frozen=True, slots=True, kw_only=True)
class AlmostFull:
    """A seat's input buffer is almost full: predecessors lower the sampling rate (control)."""

    epoch: int
    seat: str
    stream: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    """A seat's input buffer drained: predecessors restore the sampling rate (control)."""

    epoch: int
    seat: str
    stream: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Motion:
    """Motion started or stopped on a camera: the master plays musical chairs (control)."""

    device: str
    camera: str
    moving: bool  # True: motion started; False: it stopped
    score: float
    time_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """A stream's devices are freed: the agents running it drop their seats (control)."""

    epoch: int  # the master's new epoch: older tables and messages are dropped
    stream: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    """Stop the agent (control)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactRequest:
    """An agent asks for a task artifact it does not hold (control); the chunks go to its port."""

    device: str
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactChunk:
    """A piece of a task artifact: bytes [offset, offset + len(data)) of total (control)."""

    sha256: str
    offset: int
    total: int
    data: Buffer


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRequest:
    """``mchair status`` asks the master for a Status, answered on the same connection (control)."""

    time_ns: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkStatus:
    """One outgoing link of a device: its codec and tensor bytes per second (encoded and raw)."""

    peer: str
    codec: str
    bytes_per_s: float
    raw_bytes_per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus:
    """One device as the master sees it: its seats and its last heartbeat's figures."""

    device: str
    alive: bool
    camera: bool
    stream: str = ""
    seats: tuple[str, ...] = ()
    epoch: int = 0
    queue_fill: float = 0.0
    ips: float = 0.0
    stage_ms: tuple[StageTime, ...] = ()
    slowdown: float = 1.0
    drops: int = 0
    rss_mb: float = 0.0
    last_heartbeat_s: float = -1.0
    links: tuple[LinkStatus, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStatus:
    """One camera's stream: where it runs and how fast."""

    camera: str
    active: bool
    epoch: int = 0
    layout: str = ""
    devices: tuple[str, ...] = ()
    results: int = 0
    ips: float = 0.0
    t_forward_p50_ms: float = 0.0
    t_forward_p95_ms: float = 0.0
    lost: int = 0
    duplicates: int = 0
    error_budget: float = 0.0   # the plan's codecs keep the output error under this (0: lossless only)
    output_error: float = -1.0  # largest relative error of the checked results; -1: not checked
    refused: int = 0            # results the master refused (no live epoch, tag out of the window, wrong shape)


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """The master's view of the cluster (control): ``mchair status`` shows it, metrics export it."""

    model: str
    profile: str
    epoch: int
    time_ns: int
    reassignments: int = 0
    devices: tuple[DeviceStatus, ...] = ()
    streams: tuple[StreamStatus, ...] = ()


CONTROL_TYPES: tuple[type, ...] = (Assign, Ack, Heartbeat, AlmostFull, Resume, Motion, Release, Shutdown,
                                   ArtifactRequest, ArtifactChunk, StatusRequest, Status)
DATA_TYPES: tuple[type, ...] = (TensorBatch, Result)
MESSAGE_TYPES: tuple[type, ...] = DATA_TYPES + CONTROL_TYPES

Message = (TensorBatch | Result | Assign | Ack | Heartbeat | AlmostFull | Resume | Motion | Release | Shutdown
           | ArtifactRequest | ArtifactChunk | StatusRequest | Status)


def is_control(message: object) -> bool:
    """True for messages that must carry the cluster's HMAC."""
    return isinstance(message, CONTROL_TYPES)
