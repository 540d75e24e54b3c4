"""Cut a model into tasks and shard layers, each a standalone .tflite, exactly equal when chained.

A cut may fall anywhere in a DAG: every activation that crosses it (both branches of a
residual block, say) becomes an output of the task before and an input of the task after.
A sharded conv/fc keeps the filters/units [lo, hi) of its weights and bias; its fused
activation is per unit and stays with it; anything after it runs after the merge.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from worker.errors import UserError
from worker.graph import Graph, Layer, Quantization, Tensor

from .analysis import (
    CONTROL_FLOW_OPS,
    main_op,
    op_macs,
    shard_units,
    weight_tensor,
    why_not_partitionable,
    why_not_shardable,
)
from .manifest import Artifact, BlockSource, Manifest, Shard, Task
from .source import SourceBlock, tensor_refs
from .tflite_writer import write_tflite


def resolve_cuts(blocks: Sequence[SourceBlock], cuts: Sequence[str]) -> dict[str, set[int]]:
    """Cut names (``LAYER`` = cut after that layer, or a 1-based layer count in a one-block
    model) -> per block, the indices of the layers after which a new task starts."""
    graphs = [(b.name, b.graph) for b in blocks if b.graph is not None]
    result: dict[str, set[int]] = {name: set() for name, _ in graphs}
    for cut in cuts:
        cut = cut.strip()
        if cut.isdigit():
            if len(graphs) != 1:
                raise UserError(f"--cuts {cut}: numeric cuts need a one-block model; name the layer")
            n = len(graphs[0][1].layers)
            if not 1 <= int(cut) < n:
                raise UserError(f"--cuts {cut}: expected a layer count in 1..{n - 1}")
            result[graphs[0][0]].add(int(cut) - 1)
            continue
        for name, graph in graphs:
            names = [layer.name for layer in graph.layers]
            if cut in names:
                result[name].add(names.index(cut))
                break
        else:
            raise UserError(f"--cuts {cut}: no layer of that name (see `mchair model inspect`)")
    return result


def resolve_shards(blocks: Sequence[SourceBlock], shards: Mapping[str, int]) -> dict[str, dict[int, int]]:
    """``{layer name: k}`` -> per block ``{layer index: k}``, checking each layer can be split k ways."""
    result: dict[str, dict[int, int]] = {b.name: {} for b in blocks if b.graph is not None}
    for lname, k in shards.items():
        for b in blocks:
            if b.graph is None:
                continue
            names = [layer.name for layer in b.graph.layers]
            if lname in names:
                li = names.index(lname)
                reason = why_not_shardable(b.graph, li)
                if reason:
                    raise UserError(f"--shard {lname}={k}: {reason}")
                units = shard_units(b.graph, li)
                if not 2 <= k <= units:
                    raise UserError(f"--shard {lname}={k}: expected 2..{units} shards ({units} output units)")
                result[b.name][li] = k
                break
        else:
            raise UserError(f"--shard {lname}={k}: no layer of that name (see `mchair model inspect`)")
    return result


def balanced_cuts(graph: Graph, stages: int) -> set[int]:
    """Cuts that split the layers into ``stages`` consecutive groups minimising the largest MACs."""
    costs = [sum(op_macs(graph, o) for o in layer.ops) for layer in graph.layers]
    n = len(costs)
    k = min(stages, n)
    prefix = np.concatenate([[0], np.cumsum(costs)])
    inf = float("inf")
    # best[j][i]: smallest possible max-stage cost putting the first i layers into j stages.
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    split = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for j in range(1, k + 1):
        for i in range(j, n + 1):
            for s in range(j - 1, i):
                cost = max(best[j - 1][s], float(prefix[i] - prefix[s]))
                if cost < best[j][i]:
                    best[j][i], split[j][i] = cost, s
    cuts, i = set(), n
    for j in range(k, 0, -1):
        s = split[j][i]
        if s > 0:
            cuts.add(s - 1)
        i = s
    return cuts


def partition(blocks: Sequence[SourceBlock], model: str, out: Path, cuts: Mapping[str, set[int]],
              shards: Mapping[str, Mapping[int, int]], progress: bool = True) -> Manifest:
    """Write every task and shard of ``blocks`` into ``out`` and return (and save) the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    tasks: list[Task] = []
    sources: list[BlockSource] = []
    for block in blocks:
        if block.graph is None:
            tasks.append(Task(block.name, block.name, [], list(block.inputs), list(block.outputs), 0, 0,
                              builtin=block.builtin))
            continue
        graph = block.graph
        for li in range(len(graph.layers)):
            reason = why_not_partitionable(graph, li)
            if reason:
                raise UserError(f"{block.file}: layer {graph.layers[li].name}: {reason}; "
                                "the partitioner cannot place it in a task")
        sources.append(BlockSource(block.name, block.file, block.sha256, tensor_refs(graph, graph.inputs),
                                   tensor_refs(graph, graph.outputs)))
        groups = _groups(len(graph.layers), cuts.get(block.name, set()), shards.get(block.name, {}))
        produced_later = [set(graph.activation_inputs(_with_preludes(graph, _ops(graph, g)))) for g in groups]
        for gi, group in enumerate(groups):
            name = block.name if len(groups) == 1 else f"{block.name}.{gi}"
            needed = set(graph.outputs).union(*produced_later[gi + 1:])
            sub = extract(graph, _ops(graph, group), needed, name)
            layer_names = [graph.layers[li].name for li in group]
            macs = sum(op_macs(graph, o) for li in group for o in graph.layers[li].ops)
            k = shards.get(block.name, {}).get(group[0], 0) if len(group) == 1 else 0
            shard_list = ([Shard(i, k, lo, hi, _save(g, out)) for i, (lo, hi, g) in enumerate(shard_graph(sub, k))]
                          if k else [])
            task = Task(name, block.name, layer_names, tensor_refs(sub, sub.inputs), tensor_refs(sub, sub.outputs),
                        macs, graph.weight_bytes(_ops(graph, group)), None if k else _save(sub, out), shard_list)
            tasks.append(task)
            if progress:
                what = f"{k} shards" if k else f"{len(group)} layers"
                print(f"  {task.name}: {what}, {len(task.inputs)} in / {len(task.outputs)} out tensors",
                      file=sys.stderr)
    manifest = Manifest(model, sources, tasks)
    manifest.save(out)
    return manifest


def _groups(n_layers: int, cuts: set[int], shards: Mapping[int, int]) -> list[list[int]]:
    """Consecutive layer groups; a sharded layer always stands alone."""
    bounds = set(cuts)
    for li in shards:
        bounds.update({li - 1, li})
    bounds = {b for b in bounds if 0 <= b < n_layers - 1}
    groups, start = [], 0
    for b in sorted(bounds):
        groups.append(list(range(start, b + 1)))
        start = b + 1
    groups.append(list(range(start, n_layers)))
    return groups


def _ops(graph: Graph, layers: Sequence[int]) -> list[int]:
    return sorted(o for li in layers for o in graph.layers[li].ops)


def _with_preludes(graph: Graph, ops: Sequence[int]) -> list[int]:
    """Add the constant-only ops (DEQUANTIZE of weights) whose results ``ops`` read."""
    chosen = set(ops)
    frontier = list(ops)
    while frontier:
        for t in graph.operators[frontier.pop()].inputs:
            p = graph.producer.get(t) if t >= 0 else None
            if p is not None and p not in chosen and p in graph.constant_ops:
                chosen.add(p)
                frontier.append(p)
    return sorted(chosen)


def extract(graph: Graph, ops: Sequence[int], needed_after: set[int], name: str) -> Graph:
    """A standalone graph of ``ops``: inputs are the activations they read from outside, outputs
    the tensors they write that ``needed_after`` (later tasks, graph outputs) lists."""
    ops = _with_preludes(graph, ops)
    inputs = graph.activation_inputs(ops)
    written = [t for o in ops for t in graph.operators[o].outputs]
    outputs = [t for t in written if t in needed_after]
    if not outputs:  # a task whose results nobody reads still has to show them
        outputs = [written[-1]]
    index: dict[int, int] = {}

    def remap(t: int) -> int:
        if t < 0:
            return t
        if t not in index:
            index[t] = len(index)
        return index[t]

    for t in inputs:
        remap(t)
    new_ops = [replace(graph.operators[o], inputs=tuple(remap(t) for t in graph.operators[o].inputs),
                       outputs=tuple(remap(t) for t in graph.operators[o].outputs)) for o in ops]
    position = {o: i for i, o in enumerate(ops)}
    layers = []
    for layer in graph.layers:
        mine = tuple(position[o] for o in layer.ops if o in position)
        if mine:
            layers.append(Layer(layer.name, mine))
    tensors = [graph.tensors[t] for t in sorted(index, key=index.__getitem__)]
    # Prelude ops shared by several layers are copied into each task; give them to the layer that
    # reads them first so every op belongs to exactly one layer.
    owned = {o for layer in layers for o in layer.ops}
    missing = tuple(i for i in range(len(new_ops)) if i not in owned)
    if missing and layers:
        layers[0] = Layer(layers[0].name, tuple(sorted(layers[0].ops + missing)))
    # Control-flow ops call the model's other subgraphs by index: those go along whole, in place.
    calls = any(graph.operators[o].kind in CONTROL_FLOW_OPS for o in ops)
    return Graph(name, tensors, new_ops, [index[t] for t in inputs], [index[t] for t in outputs], layers,
                 list(graph.subgraphs) if calls else [])


def shard_graph(task: Graph, k: int) -> list[tuple[int, int, Graph]]:
    """Split a one-layer conv/fc task into ``k`` graphs owning units [lo, hi) each."""
    m = main_op(task, 0)
    assert m is not None, "shard_graph needs a one-layer conv/fc task"
    op = task.operators[m]
    units = task.tensors[op.outputs[0]].shape[-1]
    w_const = weight_tensor(task, m)
    # Tensors whose axis 0 runs over output units: the weights (and their dequantized copy), the bias.
    per_unit_axis0 = {op.inputs[1], w_const}
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = op.inputs[2]
        per_unit_axis0.add(bias)
        p = task.producer.get(bias)
        if p is not None:
            per_unit_axis0.add(task.operators[p].inputs[0])
    # Every activation the layer writes (the conv/fc output, then per-unit activations of it)
    # has the units on its last axis.
    per_unit_last = {t for o in task.operators for t in o.outputs
                     if task.tensors[t].is_activation and t not in per_unit_axis0}
    result = []
    for i in range(k):
        lo, hi = (i * units) // k, ((i + 1) * units) // k
        tensors = []
        for ti, t in enumerate(task.tensors):
            if ti in per_unit_axis0:
                t = _slice_axis0(t, lo, hi)
            elif ti in per_unit_last:
                t = replace(t, shape=t.shape[:-1] + (hi - lo,))
            tensors.append(t)
        result.append((lo, hi, Graph(f"{task.name}.shard{i}", tensors, list(task.operators),
                                     list(task.inputs), list(task.outputs), list(task.layers), task.subgraphs)))
    return result


def _slice_axis0(t: Tensor, lo: int, hi: int) -> Tensor:
    data = None if t.data is None else np.ascontiguousarray(t.data[lo:hi])
    quant = t.quantization
    if quant is not None and quant.axis == 0 and len(quant.scale) > 1:
        quant = Quantization(quant.scale[lo:hi], quant.zero_point[lo:hi], 0)
    return Tensor(t.name, (hi - lo,) + t.shape[1:], t.dtype, data, quant)


def _save(graph: Graph, out: Path) -> Artifact:
    data = write_tflite(graph)
    sha = hashlib.sha256(data).hexdigest()
    file = f"{sha}.tflite"
    (out / file).write_bytes(data)
    return Artifact(file, sha, len(data))


__all__ = ["balanced_cuts", "extract", "partition", "resolve_cuts", "resolve_shards", "shard_graph"]
