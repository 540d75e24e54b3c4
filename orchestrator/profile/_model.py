"""What a device profile says: device facts, power, the link, and behaviour models of time,
memory and load time, plus the per-layer measurements they were fitted from.

Every section carries a ``source``: where its numbers come from (a measurement on this host,
a figure of the paper, an assumption), so a reader of ``profiles/*.yaml`` can judge them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MB = 1e6
MEDIA = ("shared", "switched")


@dataclass(frozen=True)
class DeviceFacts:
    """The device type a profile describes."""

    name: str
    cpu: str
    cores: int
    memory_mb: float          # physical RAM
    usable_memory_mb: float   # what one agent may use for its tasks (RAM minus OS and agent)
    runtime: str              # the inference runtime the timings were taken with
    source: str = ""


@dataclass(frozen=True)
class Power:
    """Board power when idle and when all cores are busy (watts)."""

    idle_w: float
    busy_w: float
    source: str = ""


@dataclass(frozen=True)
class LinkModel:
    """Time to send one message of ``n`` bytes: ``latency_s + seconds_per_byte * n``."""

    seconds_per_byte: float
    latency_s: float
    medium: str = "shared"    # shared: every transfer uses one bandwidth (Wi-Fi); switched: per device
    bandwidth_mbps: float = 0.0
    source: str = ""

    def transfer_time(self, nbytes: float) -> float:
        """Seconds to deliver one message of ``nbytes`` bytes."""
        return self.latency_s + self.seconds_per_byte * nbytes


@dataclass(frozen=True)
class OpModel:
    """Behaviour model of one op type: time of one run from its MACs, weights and output size.

    ``seconds = intercept_s + s_per_mmac*MMACs + s_per_mb*W + s_per_mb2*W**2 + s_per_out_mb*O``,
    W and O in MB. The quadratic term lets a memory-bound layer (a big fc on a 1 GB board) get
    slower than linear in its size, which is why splitting it pays more than twice.
    """

    op: str
    intercept_s: float = 0.0
    s_per_mmac: float = 0.0
    s_per_mb: float = 0.0
    s_per_mb2: float = 0.0
    s_per_out_mb: float = 0.0
    rel_error: float = 0.0    # median |predicted - measured| / measured over the fitted samples
    samples: int = 0
    source: str = ""

    def predict(self, macs: float, weight_bytes: float, output_bytes: float) -> float:
        """Predicted seconds of one run."""
        w = weight_bytes / MB
        return (self.intercept_s + self.s_per_mmac * macs / 1e6 + self.s_per_mb * w + self.s_per_mb2 * w * w
                + self.s_per_out_mb * output_bytes / MB)


@dataclass(frozen=True)
class MemoryModel:
    """Peak memory of an agent holding tasks: ``base_mb + weights_factor*W + activations_factor*A``."""

    base_mb: float
    weights_factor: float = 1.0
    activations_factor: float = 1.0
    rel_error: float = 0.0
    source: str = ""

    def task_bytes(self, weight_bytes: float, activation_bytes: float) -> float:
        """Bytes a task adds on top of the agent's base."""
        return self.weights_factor * weight_bytes + self.activations_factor * activation_bytes

    @property
    def base_bytes(self) -> float:
        """Bytes of an agent with no task loaded."""
        return self.base_mb * MB


@dataclass(frozen=True)
class LoadModel:
    """Time to load a task's weights into the runtime: ``base_s + s_per_mb * W``."""

    base_s: float
    s_per_mb: float
    rel_error: float = 0.0
    source: str = ""

    def predict(self, weight_bytes: float) -> float:
        """Predicted seconds to load a task with ``weight_bytes`` of weights."""
        return self.base_s + self.s_per_mb * weight_bytes / MB


@dataclass(frozen=True)
class CodecTiming:
    """Time of a tensor codec on the device, per MB of the tensor's raw (float32) bytes."""

    encode_s_per_mb: float
    decode_s_per_mb: float
    source: str = ""


@dataclass(frozen=True)
class LayerTiming:
    """One layer as measured on the device (all times are medians of one run)."""

    block: str
    layer: str
    ops: tuple[str, ...]
    macs: int
    weight_bytes: int
    output_bytes: int
    time_s: float
    load_s: float = 0.0
    memory_mb: float = 0.0
    shards: dict[int, float] = field(default_factory=dict)   # k -> seconds of one of k shards


@dataclass(frozen=True)
class TaskTiming:
    """A candidate task (consecutive layers ``first..last`` of a block) as measured."""

    block: str
    first: str
    last: str
    time_s: float
    load_s: float = 0.0
    memory_mb: float = 0.0


@dataclass(frozen=True)
class ModelTimings:
    """The measurements of one model on the device."""

    model: str
    layers: dict[str, LayerTiming] = field(default_factory=dict)   # by layer name
    tasks: tuple[TaskTiming, ...] = ()
    steps: dict[str, float] = field(default_factory=dict)          # built-in step -> seconds per run


@dataclass(frozen=True)
class Profile:
    """A device type's behaviour: what the planner needs to predict any plan's speed and memory."""

    name: str
    device: DeviceFacts
    power: Power
    link: LinkModel
    memory: MemoryModel
    load: LoadModel
    ops: dict[str, OpModel]
    task_overhead_s: float = 0.0        # per run of a task: invoke, copies in and out
    camera_s: float = 0.0               # per frame on the recorder: capture and preprocess
    steps: dict[str, float] = field(default_factory=dict)   # built-in steps measured without a model
    models: dict[str, ModelTimings] = field(default_factory=dict)
    codecs: dict[str, CodecTiming] = field(default_factory=dict)   # tensor codec -> its time ("raw" is free)
    source: str = ""                    # the file it was read from
    notes: str = ""

    def op_model(self, op: str) -> OpModel | None:
        """The behaviour model of ``op``, else the catch-all ``"*"`` one, else None."""
        return self.ops.get(op) or self.ops.get("*")

    def step_time(self, model: str, step: str) -> float | None:
        """Seconds per run of a built-in step (measured with ``model`` if possible)."""
        timings = self.models.get(model)
        if timings is not None and step in timings.steps:
            return timings.steps[step]
        return self.steps.get(step)


__all__ = ["MB", "MEDIA", "CodecTiming", "DeviceFacts", "LayerTiming", "LinkModel", "LoadModel", "MemoryModel",
           "ModelTimings", "OpModel", "Power", "Profile", "TaskTiming"]
