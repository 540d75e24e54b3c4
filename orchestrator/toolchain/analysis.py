"""Per-layer figures of a graph: MACs, weights, output and cut sizes (the split-computing view)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.graph import Graph

SHARDABLE_OPS = ("CONV_2D", "FULLY_CONNECTED")
# Ops that call other subgraphs: a task holding one carries those subgraphs whole.
CONTROL_FLOW_OPS = ("WHILE", "IF", "CALL", "CALL_ONCE", "STABLEHLO_WHILE", "STABLEHLO_CASE")
# Element-wise ops that act per unit: they can stay with a shard of the layer before them.
PER_UNIT_OPS = ("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "DEQUANTIZE")


@dataclass(frozen=True)
class LayerStats:
    """What one layer costs and what a cut right after it would carry."""

    index: int
    name: str
    ops: list[str]
    output_shape: list[int]
    weight_bytes: int
    macs: int
    output_bytes: int
    cut_bytes: int          # bytes of every tensor crossing a cut after this layer
    cut_tensors: int        # how many tensors cross that cut (> 1 inside a residual block)
    cut_ratio: float        # cut_bytes / bytes of the block's input
    shardable: bool
    shard_units: int        # output units (fc) or filters (conv) a shard can split
    why_not_partitionable: str   # why the partitioner cannot place the layer in a task, or ""
    notes: str = ""         # sparse weights, subgraph calls, state: handled, but worth knowing


def op_macs(graph: Graph, index: int) -> int:
    """Multiply-accumulates of one operator (element count for cheap element-wise ops)."""
    op = graph.operators[index]
    if not op.outputs:
        return 0
    out = graph.tensors[op.outputs[0]]
    out_elems = int(np.prod(out.shape, dtype=np.int64))
    if all(i < 0 or graph.tensors[i].is_constant for i in op.inputs):
        return 0  # constant folding (e.g. DEQUANTIZE of weights): done once at load time
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kshape = _weight_shape(graph, op.inputs[1])
        per_output = kshape[1] * kshape[2] * (kshape[3] if op.kind == "CONV_2D" else 1)
        return out_elems * per_output
    if op.kind == "FULLY_CONNECTED":
        return out_elems * _weight_shape(graph, op.inputs[1])[-1]
    if op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        return out_elems * int(op.option("filter_width", 1)) * int(op.option("filter_height", 1))
    if op.kind in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        return int(np.prod(graph.tensors[op.inputs[0]].shape, dtype=np.int64))
    return out_elems


def _weight_shape(graph: Graph, t: int) -> tuple[int, ...]:
    return graph.tensors[t].shape


def weight_tensor(graph: Graph, op_index: int) -> int | None:
    """The constant behind the weights input of a conv/fc: the tensor itself, or what is dequantized."""
    op = graph.operators[op_index]
    w = op.inputs[1]
    if graph.tensors[w].is_constant:
        return w
    prod = graph.producer.get(w)
    if prod is not None and graph.operators[prod].kind == "DEQUANTIZE":
        src = graph.operators[prod].inputs[0]
        if graph.tensors[src].is_constant:
            return src
    return None


def main_op(graph: Graph, layer_index: int) -> int | None:
    """The op that does a layer's work: the first one that is not weights preparation,
    when every op after it is per-unit (a separate activation); else None."""
    ops = [o for o in graph.layers[layer_index].ops if o not in graph.constant_ops]
    if not ops or any(graph.operators[o].kind not in PER_UNIT_OPS for o in ops[1:]):
        return None
    return ops[0]


def why_not_shardable(graph: Graph, layer_index: int) -> str:
    """Why a layer cannot be split into shards by output unit, or "" when it can."""
    m = main_op(graph, layer_index)
    if m is None:
        kinds = [graph.operators[o].kind for o in graph.layers[layer_index].ops]
        return (f"layer has several ops ({', '.join(kinds)}); only a conv or fc, "
                "optionally followed by per-unit activations, can be sharded")
    op = graph.operators[m]
    if op.kind not in SHARDABLE_OPS:
        return f"{op.kind} cannot be sharded (only {', '.join(SHARDABLE_OPS)})"
    if weight_tensor(graph, m) is None:
        return f"{op.kind} has weights computed at run time"
    if op.kind == "FULLY_CONNECTED" and op.option("keep_num_dims", False):
        return "FULLY_CONNECTED with keep_num_dims is not sharded"
    if len(op.inputs) > 2 and op.inputs[2] >= 0 and not (
            graph.tensors[op.inputs[2]].is_constant or graph.producer.get(op.inputs[2]) is not None
            and graph.producer[op.inputs[2]] in graph.constant_ops):
        return f"{op.kind} has a bias computed at run time"
    return ""


def shard_units(graph: Graph, layer_index: int) -> int:
    """Output units (fc) or filters (conv) of a shardable layer, else 0."""
    m = main_op(graph, layer_index)
    if m is None or why_not_shardable(graph, layer_index):
        return 0
    return graph.tensors[graph.operators[m].outputs[0]].shape[-1]


def why_not_partitionable(graph: Graph, layer_index: int) -> str:
    """Why the partitioner cannot place this layer in a standalone task, or ""."""
    for o in graph.layers[layer_index].ops:
        op = graph.operators[o]
        if op.kind in CONTROL_FLOW_OPS and not graph.subgraphs:
            return f"{op.kind} calls subgraphs the model does not have"
        if op.kind.startswith("BUILTIN_"):
            return f"unknown builtin operator code {op.kind.removeprefix('BUILTIN_')}"
        if op.kind.startswith("CUSTOM:"):
            code = op.kind.removeprefix("CUSTOM:")
            return (f"custom op {code!r}: stock LiteRT has no kernel for it; the agents would need a LiteRT "
                    f"build (or delegate) that registers {code!r}")
    return ""


def layer_notes(graph: Graph, layer_index: int) -> str:
    """What is unusual about a layer but does not stop the partitioner: sparse weights, subgraph calls, state."""
    notes = []
    ops = [graph.operators[o] for o in graph.layers[layer_index].ops]
    tensors = {t for op in ops for t in op.inputs if t >= 0}
    sparse = [graph.tensors[t].name for t in sorted(tensors) if graph.tensors[t].sparsity is not None]
    if sparse:
        notes.append(f"sparse weights ({len(sparse)} tensor{'s' if len(sparse) > 1 else ''}, densified at load)")
    calls = sorted({op.kind for op in ops if op.kind in CONTROL_FLOW_OPS})
    if calls:
        notes.append(f"{', '.join(calls)} with {len(graph.subgraphs)} subgraph(s), kept whole in one task")
    if any(graph.tensors[t].is_variable for t in tensors):
        notes.append("keeps state (variable tensors) in its task")
    return "; ".join(notes)


def cut_tensors(graph: Graph, after_layer: int) -> list[int]:
    """Activation tensors that cross a cut placed after layer ``after_layer``.

    A tensor crosses when it is written at or before the cut (or is a graph input) and read
    after it, or is a graph output written before it.
    """
    before_ops = {o for layer in graph.layers[: after_layer + 1] for o in layer.ops}
    after_ops = {o for layer in graph.layers[after_layer + 1:] for o in layer.ops}
    crossing: dict[int, None] = {}
    for o in sorted(after_ops):
        for t in graph.operators[o].inputs:
            if t < 0 or not graph.tensors[t].is_activation:
                continue
            prod = graph.producer.get(t)
            # Dequantized weights are recomputed by every task that reads them, never shipped.
            if prod is None or (prod in before_ops and prod not in graph.constant_ops):
                crossing.setdefault(t, None)
    for t in graph.outputs:
        if graph.producer.get(t) in before_ops:
            crossing.setdefault(t, None)
    return list(crossing)


def layer_stats(graph: Graph) -> list[LayerStats]:
    """Figures for every layer of ``graph``, in order."""
    in_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs) or 1
    stats = []
    for li, layer in enumerate(graph.layers):
        ops = [o for o in layer.ops if o not in graph.constant_ops] or list(layer.ops)
        last = graph.operators[ops[-1]]
        out = graph.tensors[last.outputs[0]] if last.outputs else None
        crossing = cut_tensors(graph, li)
        cut = sum(graph.tensors[t].nbytes for t in crossing)
        reason = why_not_partitionable(graph, li)
        stats.append(LayerStats(
            li, layer.name, [graph.operators[o].kind for o in ops],
            list(out.shape) if out else [], graph.weight_bytes(layer.ops),
            sum(op_macs(graph, o) for o in layer.ops), out.nbytes if out else 0, cut, len(crossing),
            cut / in_bytes, not why_not_shardable(graph, li), shard_units(graph, li), reason,
            layer_notes(graph, li)))
    return stats
