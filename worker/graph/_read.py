"""Read a .tflite flatbuffer into a :class:`Graph` (subgraph 0), with clear errors for bad files."""

from __future__ import annotations

import json
import mmap
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tflite

from ..errors import ModelFormatError
from ._ir import DimensionMetadata, Graph, Layer, Operator, Quantization, Sparsity, Tensor
from ._schema import BUILTIN_NAMES, CUSTOM_CODE, DTYPES, OPTIONS_NAMES, TYPE_NAMES, read_options

if TYPE_CHECKING:
    import flatbuffers

LAYERS_METADATA = "mchair_layers"
# The integer vectors a sparse dimension's segments and indices may be stored in (SparseIndexVector).
_INDEX_VECTORS = {tflite.SparseIndexVector.Int32Vector: (tflite.Int32Vector, np.int32),
                  tflite.SparseIndexVector.Uint16Vector: (tflite.Uint16Vector, np.uint16),
                  tflite.SparseIndexVector.Uint8Vector: (tflite.Uint8Vector, np.uint8)}
_SHORT_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,48}$")


def read_graph(path: str | os.PathLike[str]) -> Graph:
    """Read the model file at ``path``; raises ModelFormatError naming the file and the problem.

    The file is mapped, not read: weights stay in the page cache until something touches them, so
    planning a 500 MB model reads its layer figures without holding its weights in memory.
    """
    name = str(path)
    try:
        with open(path, "rb") as file:
            empty = os.fstat(file.fileno()).st_size == 0
            data: bytes | mmap.mmap = b"" if empty else mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ModelFormatError(name, f"cannot read: {exc.strerror or exc}") from None
    return parse_graph(data, name)


def parse_graph(data: bytes | mmap.mmap, name: str = "<bytes>") -> Graph:
    """Parse .tflite bytes; ``name`` is only used in error messages and as the graph name."""
    if len(data) < 8:
        raise ModelFormatError(name, f"not a TFLite model: only {len(data)} bytes")
    if data[4:8] != b"TFL3":
        raise ModelFormatError(name, "not a TFLite model: file identifier is not 'TFL3'")
    try:
        return _parse(data, name)
    except ModelFormatError:
        raise
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside the generated code
        raise ModelFormatError(name, f"corrupt or truncated TFLite model ({type(exc).__name__}: {exc})") from None


def _parse(data: bytes | mmap.mmap, name: str) -> Graph:
    model = tflite.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError(name, "TFLite model has no subgraph")
    buffers = [_buffer_bytes(model.Buffers(i), data, name) for i in range(model.BuffersLength())]
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == CUSTOM_CODE:
            codes.append(("CUSTOM:" + (oc.CustomCode() or b"").decode(), oc.Version()))
        else:
            codes.append((BUILTIN_NAMES.get(code, f"BUILTIN_{code}"), oc.Version()))
    graphs = [_subgraph(model.Subgraphs(i), buffers, codes, name, i) for i in range(model.SubgraphsLength())]
    graph = graphs[0]
    graph.name = graph.name or Path(name).stem
    graph.subgraphs = graphs[1:]
    graph.layers = _stored_layers(model, buffers, len(graph.operators)) or default_layers(graph)
    return graph


def _subgraph(sg: tflite.SubGraph, buffers: list[memoryview], codes: list[tuple[str, int]], name: str,
              index: int) -> Graph:
    """One subgraph of the file (0 is the model; others are called by control-flow ops)."""
    where = f"subgraph {index}: " if index else ""
    tensors = [_tensor(sg.Tensors(i), buffers, name, f"{where}tensor {i}") for i in range(sg.TensorsLength())]
    operators = []
    n_tensors = len(tensors)
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if not 0 <= op.OpcodeIndex() < len(codes):
            raise ModelFormatError(name, f"{where}operator {i} has opcode index {op.OpcodeIndex()} "
                                         f"out of range 0..{len(codes) - 1}")
        kind, version = codes[op.OpcodeIndex()]
        inputs = tuple(int(x) for x in op.InputsAsNumpy()) if not op.InputsIsNone() else ()
        outputs = tuple(int(x) for x in op.OutputsAsNumpy()) if not op.OutputsIsNone() else ()
        for t in inputs + outputs:
            if t >= n_tensors:
                raise ModelFormatError(name, f"{where}operator {i} ({kind}) refers to tensor {t}, "
                                             f"the subgraph has {n_tensors}")
        options_type = OPTIONS_NAMES.get(op.BuiltinOptionsType(), "")
        options = {}
        table = op.BuiltinOptions()
        if options_type and options_type != "NONE" and table is not None:
            options = read_options(options_type, table)
        else:
            options_type = ""
        custom = bytes(op.CustomOptionsAsNumpy()) if not op.CustomOptionsIsNone() else b""
        operators.append(Operator(kind, inputs, outputs, options_type, options, custom, version))
    graph_inputs = [int(x) for x in sg.InputsAsNumpy()] if not sg.InputsIsNone() else []
    graph_outputs = [int(x) for x in sg.OutputsAsNumpy()] if not sg.OutputsIsNone() else []
    return Graph((sg.Name() or b"").decode(), tensors, operators, graph_inputs, graph_outputs, [])


def _tensor(t: tflite.Tensor, buffers: list[memoryview], name: str, what: str) -> Tensor:
    """One tensor, its constant value (dense, or a sparse tensor's stored values) checked against its shape."""
    tname = t.Name().decode("utf-8", "replace")
    if t.Type() not in DTYPES:
        kind = TYPE_NAMES.get(t.Type(), str(t.Type()))
        raise ModelFormatError(name, f"{what} ({tname}) has type {kind}, which musical-chair cannot run "
                                     f"(supported: {', '.join(sorted(d.name for d in DTYPES.values()))})")
    dtype = DTYPES[t.Type()]
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if not t.ShapeIsNone() else ()
    raw = buffers[t.Buffer()] if 0 <= t.Buffer() < len(buffers) else None
    sparsity = _sparsity(t.Sparsity()) if t.Sparsity() is not None else None
    value = None
    if raw:
        if len(raw) % dtype.itemsize:
            raise ModelFormatError(name, f"{what} ({tname}): buffer of {len(raw)} bytes is not a whole number "
                                         f"of {dtype.name} values")
        count = int(np.prod(shape, dtype=np.int64))
        if sparsity is not None:
            value = np.frombuffer(raw, dtype=dtype)   # stored values only; DENSIFY expands them at load
        elif len(raw) != count * dtype.itemsize:
            raise ModelFormatError(name, f"{what} ({tname}): buffer holds {len(raw)} bytes, shape "
                                         f"{list(shape)} needs {count * dtype.itemsize}")
        else:
            value = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return Tensor(tname, shape, dtype, value, _quantization(t.Quantization()), bool(t.IsVariable()), sparsity)


def _sparsity(params: tflite.SparsityParameters) -> Sparsity:
    dims = []
    for i in range(params.DimMetadataLength()):
        d = params.DimMetadata(i)
        segments = _index_vector(d.ArraySegmentsType(), d.ArraySegments())
        dims.append(DimensionMetadata(d.Format(), d.DenseSize(), segments,
                                      _index_vector(d.ArrayIndicesType(), d.ArrayIndices())))
    order = tuple(int(x) for x in params.TraversalOrderAsNumpy()) if not params.TraversalOrderIsNone() else ()
    blocks = tuple(int(x) for x in params.BlockMapAsNumpy()) if not params.BlockMapIsNone() else ()
    return Sparsity(order, blocks, tuple(dims))


def _index_vector(kind: int, table: flatbuffers.table.Table | None) -> np.ndarray | None:
    if kind not in _INDEX_VECTORS or table is None:
        return None
    cls, dtype = _INDEX_VECTORS[kind]
    vector = cls()
    vector.Init(table.Bytes, table.Pos)
    return np.array(vector.ValuesAsNumpy() if not vector.ValuesIsNone() else [], dtype)


def _buffer_bytes(buf: tflite.Buffer, data: bytes | mmap.mmap, name: str) -> memoryview:
    """A buffer's bytes as a view of the file (no copy)."""
    # Models over 2 GB keep buffers after the flatbuffer, addressed by offset and size.
    if buf.Offset() > 1:
        end = buf.Offset() + buf.Size()
        if end > len(data):
            raise ModelFormatError(name, f"buffer at offset {buf.Offset()} runs past the end of the file")
        return memoryview(data)[buf.Offset():end]
    if buf.DataIsNone():
        return memoryview(b"")
    return memoryview(buf.DataAsNumpy())


def _quantization(q: tflite.QuantizationParameters | None) -> Quantization | None:
    if q is None or q.ScaleIsNone():
        return None
    zero = q.ZeroPointAsNumpy() if not q.ZeroPointIsNone() else np.zeros(q.ScaleLength(), np.int64)
    return Quantization(np.array(q.ScaleAsNumpy(), np.float32), np.array(zero, np.int64),
                        q.QuantizedDimension())


def _stored_layers(model: tflite.Model, buffers: list[memoryview], n_ops: int) -> list[Layer]:
    """Layers recorded by our own writer in the model's metadata, if present and consistent."""
    for i in range(model.MetadataLength()):
        meta = model.Metadata(i)
        if (meta.Name() or b"").decode() != LAYERS_METADATA:
            continue
        try:
            entries = json.loads(bytes(buffers[meta.Buffer()]).decode())
            layers = [Layer(str(e["name"]), tuple(int(o) for o in e["ops"])) for e in entries]
        except (ValueError, KeyError, IndexError, TypeError):
            return []
        covered = sorted(o for layer in layers for o in layer.ops)
        return layers if covered == list(range(n_ops)) else []
    return []


def default_layers(graph: Graph) -> list[Layer]:
    """One layer per computing operator; ops that only transform constants join their consumer.

    A DEQUANTIZE of float16 weights is part of the layer that uses the weights, so that a cut
    never ships weights between devices and a shard slices them with its layer.
    """
    prelude = graph.constant_ops
    layers: list[Layer] = []
    owner: dict[int, int] = {}
    used_names: set[str] = set()
    for i, op in enumerate(graph.operators):
        if i in prelude:
            continue
        tname = graph.tensors[op.outputs[0]].name if op.outputs else ""
        lname = tname if _SHORT_NAME.match(tname) and tname not in used_names else f"{op.kind.lower()}_{i}"
        used_names.add(lname)
        owner[i] = len(layers)
        layers.append(Layer(lname, (i,)))
    attached: dict[int, list[int]] = {}
    for i in sorted(prelude, reverse=True):
        target = _first_compute_consumer(graph, i, prelude)
        attached.setdefault(owner[target] if target is not None else -1, []).append(i)
    for li, ops in attached.items():
        if li < 0:  # constants nobody computes with: keep them in the first layer
            li = 0
        if not layers:
            layers.append(Layer("constants", ()))
        layers[li] = Layer(layers[li].name, tuple(sorted(layers[li].ops + tuple(ops))))
    return layers


def _first_compute_consumer(graph: Graph, op_index: int, prelude: frozenset[int]) -> int | None:
    frontier = [op_index]
    while frontier:
        current = frontier.pop()
        for t in graph.operators[current].outputs:
            for consumer in sorted(graph.consumers.get(t, [])):
                if consumer not in prelude:
                    return consumer
                frontier.append(consumer)
    return None
