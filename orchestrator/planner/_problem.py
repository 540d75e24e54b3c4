"""The planning problem: a model as a chain of units with predicted costs, and the values between them.

A *unit* is what the planner places: the camera (always first, on the recorder), a built-in step,
or one layer of a block. Units are chained in the model's block order (each block's layers in
topological order), so a plan is a cut of the chain into stages: consecutive units that run on
the same devices. A *value* is one tensor per tag that a unit writes and later units read; a
window edge between blocks makes its consumers keep the last W values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.cluster import CodecSettings
from worker.errors import UserError
from worker.graph import Graph

from ..profile import LayerTiming, ModelTimings, Profile
from ..toolchain.analysis import main_op, op_macs, shard_units, why_not_shardable
from ..toolchain.model import Model
from ..toolchain.source import SourceBlock

DEFAULT_MAX_SHARDS = 8


@dataclass(frozen=True)
class Unit:
    """One placeable piece of the model with its predicted cost on the profiled device."""

    name: str
    block: str
    kind: str                      # "camera", "step", or the layer's main op (CONV_2D, ...)
    times: tuple[float, ...]       # seconds of one run of one of k shards, k = 1..len(times)
    weight_bytes: int = 0
    output_bytes: int = 0          # activations it writes (for peak memory)
    rate: float = 1.0              # runs per frame (1 / stride of its block)
    layer_index: int = -1          # index of the layer in its block's graph, -1 for camera/steps

    @property
    def max_shards(self) -> int:
        """How many ways the unit can be split (1: not at all)."""
        return len(self.times)


@dataclass(frozen=True)
class Value:
    """A tensor per tag: written by unit ``producer``, read by ``consumers`` (later units)."""

    name: str
    producer: int
    consumers: tuple[int, ...]
    nbytes: int                    # one tag's tensor
    window: int = 1                # consumers keep the last ``window`` values
    rate: float = 1.0
    is_output: bool = False        # a result of the model


@dataclass(frozen=True)
class CodecFacts:
    """Measured effect of each codec: per value the encoded/raw byte ratio, per cut the output error."""

    ratios: dict[str, tuple[float, ...]]   # codec -> one ratio per value of the problem
    errors: dict[str, tuple[float, ...]]   # codec -> one output error per cut 0..m (0: nothing crosses)
    frames: int                            # camera frames the model ran on
    results: int                           # results the errors were taken over

    def ratio(self, codec: str, value: int) -> float:
        """Encoded bytes over raw bytes of ``value`` with ``codec`` (1 for raw or when not measured)."""
        return self.ratios[codec][value] if codec in self.ratios else 1.0

    def error(self, codec: str, cut: int) -> float:
        """Output error with the values crossing ``cut`` in ``codec`` (0 for lossless codecs)."""
        return self.errors[codec][cut] if codec in self.errors else 0.0


@dataclass(frozen=True)
class Problem:
    """Everything a planner needs: units, values, and the device's link, memory and power."""

    model: str
    profile: Profile
    units: tuple[Unit, ...]
    values: tuple[Value, ...]
    fps: float = 30.0
    memory_bytes: float = 0.0      # usable memory per device
    blocks: tuple[str, ...] = field(default=())
    codecs: CodecSettings = field(default_factory=CodecSettings)   # what links may use, the error budget
    codec_facts: CodecFacts | None = None   # measured bytes and errors of those codecs (None: raw only)

    def __post_init__(self) -> None:
        if self.memory_bytes <= 0:
            object.__setattr__(self, "memory_bytes", self.profile.device.usable_memory_mb * 1e6)


def crossing(problem: Problem, cut: int) -> tuple[int, ...]:
    """Values written before unit ``cut`` and read at or after it: what a stage starting there receives."""
    return tuple(vi for vi, v in enumerate(problem.values) if v.producer < cut and any(c >= cut for c in v.consumers))


@dataclass
class _Draft:
    """A value while the problem is assembled (consumers and windows are found one by one)."""

    name: str
    producer: int
    nbytes: int
    rate: float
    window: int = 1
    consumers: set[int] = field(default_factory=set)
    is_output: bool = False

    def consumed(self, unit: int, window: int = 1) -> None:
        self.consumers.add(unit)
        self.window = max(self.window, window)

    def freeze(self) -> Value:
        return Value(self.name, self.producer, tuple(sorted(self.consumers)), self.nbytes, self.window, self.rate,
                     self.is_output)


def build_problem(model: Model, profile: Profile, memory_mb: float | None = None,
                  max_shards: int = DEFAULT_MAX_SHARDS, fps: float | None = None) -> Problem:
    """The planning problem of ``model`` on a profiled device (``fps``: the camera's rate, if not the model's)."""
    units = [Unit("camera", "recorder", "camera", (profile.camera_s,))]
    drafts = [_Draft(model.input.name, 0, model.frame_bytes, 1.0)]
    feeds = {model.input.name: drafts[0]}          # block name or camera input -> the value it passes on
    for block in model.blocks:
        rate = 1.0 / model.stride(block.name)
        edges = [model.block_input(block.name, ref.name) for ref in block.inputs]
        inputs = [(feeds[e.source], e.window.size) for e in edges if e is not None]
        if block.graph is not None:
            results = _add_graph(block, inputs, units, drafts, rate, profile, model.name, max_shards)
        else:
            results = [_add_step(block, inputs, units, rate, profile, model.name)]
            drafts += results
        # A block passes its first output on; every output of a result block is a result.
        feeds[block.name] = results[0]
        for draft in results:
            draft.is_output = draft.is_output or block.name in model.outputs
    memory = memory_mb * 1e6 if memory_mb else 0.0
    return Problem(model.name, profile, tuple(units), tuple(d.freeze() for d in drafts), fps or model.input.fps,
                   memory, tuple(b.name for b in model.blocks))


def _add_step(block: SourceBlock, inputs: list[tuple[_Draft, int]], units: list[Unit], rate: float,
              profile: Profile, model: str) -> _Draft:
    """Add a built-in step as one unit; return the value it writes."""
    t = profile.step_time(model, block.builtin)
    if t is None:
        raise UserError(f"{_where(profile)}: no time for the built-in step {block.builtin!r} "
                        f"(block {block.name}); run `mchair profile {model}`")
    out_bytes = block.outputs[0].nbytes if block.outputs else 0
    units.append(Unit(block.name, block.name, "step", (t,), 0, out_bytes, rate))
    for draft, window in inputs:
        draft.consumed(len(units) - 1, window)
    return _Draft(block.name, len(units) - 1, out_bytes, rate)


def _add_graph(block: SourceBlock, inputs: list[tuple[_Draft, int]], units: list[Unit], drafts: list[_Draft],
               rate: float, profile: Profile, model: str, max_shards: int) -> list[_Draft]:
    """Add a block's layers as units and the activations between them as values; return its outputs."""
    graph = block.graph
    assert graph is not None
    timings = profile.models.get(model)
    layer_of_op = {o: li for li, layer in enumerate(graph.layers) for o in layer.ops}
    first = len(units)
    units += [_layer_unit(graph, li, block.name, rate, profile, timings, model, max_shards)
              for li in range(len(graph.layers))]
    value_of: dict[int, tuple[_Draft, int]] = dict(zip(graph.inputs, inputs))

    def value(t: int) -> tuple[_Draft, int] | None:
        """The value carrying activation ``t`` between layers (None inside a layer or for weights)."""
        if t not in value_of:
            p = graph.producer.get(t)
            if p is None or p in graph.constant_ops:
                return None
            value_of[t] = (_Draft(graph.tensors[t].name, first + layer_of_op[p], graph.tensors[t].nbytes, rate), 1)
            drafts.append(value_of[t][0])
        return value_of[t]

    for li, layer in enumerate(graph.layers):
        for o in layer.ops:
            if o in graph.constant_ops:
                continue
            for t in graph.operators[o].inputs:
                if t < 0 or not graph.tensors[t].is_activation:
                    continue
                p = graph.producer.get(t)
                if p is not None and layer_of_op.get(p) == li:
                    continue
                found = value(t)
                if found is not None:
                    found[0].consumed(first + li, found[1])
    return [v[0] for v in (value(t) for t in graph.outputs) if v is not None]


def _layer_unit(graph: Graph, li: int, block: str, rate: float, profile: Profile, timings: ModelTimings | None,
                model: str, max_shards: int) -> Unit:
    layer = graph.layers[li]
    ops = [o for o in layer.ops if o not in graph.constant_ops] or list(layer.ops)
    macs = sum(op_macs(graph, o) for o in layer.ops)
    weights = graph.weight_bytes(layer.ops)
    out = graph.tensors[graph.operators[ops[-1]].outputs[0]].nbytes
    m = main_op(graph, li)
    kmax = 1
    if not why_not_shardable(graph, li):
        kmax = max(1, min(max_shards, shard_units(graph, li)))
    measured: LayerTiming | None = timings.layers.get(layer.name) if timings else None
    if measured is not None and (measured.macs != macs or measured.weight_bytes != weights):
        raise UserError(f"{_where(profile)}: layer {layer.name} of {model} was profiled with {measured.macs} MACs "
                        f"and {measured.weight_bytes} weight bytes, the model has {macs} and {weights}; "
                        f"run `mchair profile {model}` again")
    times = []
    for k in range(1, kmax + 1):
        if measured is not None and k == 1:
            times.append(measured.time_s)
        elif measured is not None and k in measured.shards:
            times.append(measured.shards[k])
        else:
            times.append(_predict(graph, ops, m, weights, k, profile, layer.name, model))
    kind = graph.operators[m].kind if m is not None else graph.operators[ops[0]].kind
    return Unit(layer.name, block, kind, tuple(times), weights, out, rate, li)


def _predict(graph: Graph, ops: list[int], main: int | None, weights: int, k: int, profile: Profile,
             layer: str, model: str) -> float:
    """Seconds of one run of ``ops`` (1/k of the units when split), from the op behaviour models."""
    total = 0.0
    for o in ops:
        op = graph.operators[o]
        om = profile.op_model(op.kind)
        if om is None:
            raise UserError(f"{_where(profile)}: no timing for layer {layer} of {model} and no behaviour model "
                            f"for its op {op.kind} (nor a catch-all '*'); run `mchair profile {model}`")
        # A shard keeps 1/k of the units of the main op and of every per-unit op after it.
        share = k if main is not None and o >= main else 1
        # The layer's weights (dequantized ones included) belong to its main op.
        w = weights if o == (main if main is not None else ops[0]) else 0
        outb = sum(graph.tensors[t].nbytes for t in op.outputs)
        total += om.predict(op_macs(graph, o) / share, w / share, outb / share)
    return total


def _where(profile: Profile) -> str:
    return f"profile {profile.name}" + (f" ({profile.source})" if profile.source else "")


__all__ = ["DEFAULT_MAX_SHARDS", "Problem", "Unit", "Value", "build_problem", "crossing"]
