"""Every message agents and the master exchange, as frozen dataclasses (schemas: worker/schemas/*.avsc).

Field names and order match the Avro records exactly; `worker.wire` checks it when it loads the
schemas. Control messages carry an HMAC with the cluster secret on the wire; data messages
(tensors) do not, because an agent accepts data only from peers in its current task table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # worker/table.py imports nothing from here; the wire resolves it lazily
    from .table import TaskTable

# Tensor bytes as they come: bytes from a file, a memoryview of an array or of a received frame.
Buffer = bytes | bytearray | memoryview

# Only plain numeric types: np.frombuffer with "object" (or any pointer-holding dtype) on bytes
# from the network would build Python objects out of attacker-chosen addresses.
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "float32", "float64"})

# Tensor payload encodings; only "raw" is handled by Tensor.array(), the others by the codecs stage.
CODECS = frozenset({"raw", "fp16", "uint8-affine"})


@cache
def _wire_dtype(dtype: str) -> np.dtype:
    # The wire is little-endian whatever the host is (Pis are, but tests may run elsewhere).
    if dtype not in DTYPES:
        raise ValueError(f"unsupported tensor dtype {dtype!r} (expected one of {sorted(DTYPES)})")
    return np.dtype(dtype).newbyteorder("<")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tensor:
    """One named tensor: dtype, shape and its bytes (C order, little-endian), never copied on the wire."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: Buffer
    codec: str = "raw"

    def __post_init__(self) -> None:
        # Checked here so that a lying shape from the network is rejected when the message is
        # decoded, not later inside a stage.
        if self.codec not in CODECS:
            raise ValueError(f"tensor {self.name!r}: unknown codec {self.codec!r}")
        if any(d < 0 for d in self.shape):
            raise ValueError(f"tensor {self.name!r}: negative dimension in shape {self.shape}")
        if self.codec == "raw":
            expected = math.prod(self.shape) * _wire_dtype(self.dtype).itemsize
            nbytes = memoryview(self.data).nbytes
            if nbytes != expected:
                raise ValueError(f"tensor {self.name!r}: {nbytes} bytes for {self.dtype} {self.shape} "
                                 f"(expected {expected})")

    @classmethod
    def from_array(cls, name: str, array: np.ndarray) -> Tensor:
        """A tensor that shares the array's memory (copies only if it is not C-contiguous little-endian)."""
        wire = _wire_dtype(array.dtype.name)
        flat = np.ascontiguousarray(array, dtype=wire).reshape(-1)  # reshape(-1) makes 0-d arrays 1-d
        return cls(name=name, dtype=array.dtype.name, shape=tuple(int(d) for d in array.shape),
                   data=memoryview(flat).cast("B"))

    def array(self) -> np.ndarray:
        """A read-only numpy view of the bytes (zero-copy; a decoded tensor views the received frame)."""
        if self.codec != "raw":
            raise ValueError(f"tensor {self.name!r} is {self.codec}-encoded: decode the codec first")
        out = np.frombuffer(self.data, dtype=_wire_dtype(self.dtype)).reshape(self.shape)
        out.flags.writeable = False  # the buffer may be a frame other tensors also view
        return out

    @property
    def nbytes(self) -> int:
        """Size of the payload in bytes."""
        return memoryview(self.data).nbytes


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
class StageLatency:
    """Mean time of one stage on a device over the last heartbeat period."""

    stage: str
    ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """An agent's periodic health report to the master (control)."""

    device: str
    epoch: int
    time_ns: int
    queue_fill: float
    ips: float
    stage_latency_ms: tuple[StageLatency, ...] = ()
    drops: int = 0
    rss_mb: float = 0.0
    first_tag: int = -1  # recorder: the tag of frames[0]
    frames: tuple[int, ...] = ()  # recorder: camera frame numbers of the tags kept since the last heartbeat


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
class StageTime:
    """A stage's measured time per run on a device, and the plan's."""

    stage: str
    ms: float
    expected_ms: float = 0.0


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
