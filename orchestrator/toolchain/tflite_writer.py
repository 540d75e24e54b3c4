"""Write a :class:`~worker.graph.Graph` as a .tflite flatbuffer, with no TensorFlow.

Schema pitfalls handled here: model version 3, file identifier ``TFL3``, buffer 0 empty,
constant data aligned to 16 bytes. Options are written back field by field through the
generated ``tflite`` builders, so any builtin op that was read can be written again. The
graph's subgraphs (what WHILE and IF call) follow it as subgraphs 1, 2, ... as in the source;
sparse constants and variable (state) tensors are written as they were read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import flatbuffers
import numpy as np
import tflite

from worker.errors import UnsupportedOpError
from worker.graph import BUILTIN_CODES, LAYERS_METADATA, TENSOR_TYPES, Graph, Operator, Quantization, Sparsity, Tensor
from worker.graph._schema import OPTIONS_CODES, camel, options_module

_ALIGN = 16
_SCHEMA_VERSION = 3


def write_tflite(graph: Graph, path: str | os.PathLike[str] | None = None) -> bytes:
    """Serialize ``graph``; also write it to ``path`` when given. Returns the file bytes."""
    graphs = [graph, *graph.subgraphs]
    size_hint = sum(t.data.nbytes for g in graphs for t in g.tensors if t.data is not None) + (1 << 20)
    b = flatbuffers.Builder(size_hint)

    # Buffers: 0 is the empty sentinel, then one per constant tensor, then the layer metadata.
    buffer_data: list[int | None] = [None]
    buffer_of: list[dict[int, int]] = []
    for g in graphs:
        buffer_of.append({})
        for i, t in enumerate(g.tensors):
            if t.data is not None:
                buffer_of[-1][i] = len(buffer_data)
                buffer_data.append(_bytes_vector(b, np.ascontiguousarray(t.data, t.dtype)))
    layers_json = json.dumps([{"name": layer.name, "ops": list(layer.ops)} for layer in graph.layers]).encode()
    meta_buffer = len(buffer_data)
    buffer_data.append(_bytes_vector(b, np.frombuffer(layers_json, np.uint8)))
    buffers = []
    for vec in buffer_data:
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        buffers.append(tflite.BufferEnd(b))

    code_keys: dict[tuple[str, int], int] = {}
    for g in graphs:
        for op in g.operators:
            code_keys.setdefault((op.kind, op.version), len(code_keys))
    subgraphs = [_subgraph(b, g, buffer_of[i], code_keys) for i, g in enumerate(graphs)]
    opcodes = [_opcode(b, kind, version) for kind, version in code_keys]

    meta_name = b.CreateString(LAYERS_METADATA)
    tflite.MetadataStart(b)
    tflite.MetadataAddName(b, meta_name)
    tflite.MetadataAddBuffer(b, meta_buffer)
    metadata = tflite.MetadataEnd(b)

    description = b.CreateString("musical-chair")
    m_codes = _table_vector(b, opcodes)
    m_subgraphs = _table_vector(b, subgraphs)
    m_buffers = _table_vector(b, buffers)
    m_metadata = _table_vector(b, [metadata])
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, _SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, m_codes)
    tflite.ModelAddSubgraphs(b, m_subgraphs)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, m_buffers)
    tflite.ModelAddMetadata(b, m_metadata)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    data = bytes(b.Output())
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _subgraph(b: flatbuffers.Builder, graph: Graph, buffer_of: dict[int, int],
              code_keys: dict[tuple[str, int], int]) -> int:
    tensors = [_tensor(b, t, buffer_of.get(i, 0)) for i, t in enumerate(graph.tensors)]
    operators = [_operator(b, op, code_keys[(op.kind, op.version)], i) for i, op in enumerate(graph.operators)]
    sg_name = b.CreateString(graph.name)
    sg_tensors = _table_vector(b, tensors)
    sg_inputs = b.CreateNumpyVector(np.array(graph.inputs, np.int32))
    sg_outputs = b.CreateNumpyVector(np.array(graph.outputs, np.int32))
    sg_ops = _table_vector(b, operators)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, sg_tensors)
    tflite.SubGraphAddInputs(b, sg_inputs)
    tflite.SubGraphAddOutputs(b, sg_outputs)
    tflite.SubGraphAddOperators(b, sg_ops)
    tflite.SubGraphAddName(b, sg_name)
    return tflite.SubGraphEnd(b)


def _bytes_vector(b: flatbuffers.Builder, array: np.ndarray) -> int:
    raw = array.tobytes()
    b.StartVector(1, len(raw), _ALIGN)
    b.head -= len(raw)
    b.Bytes[b.head:b.head + len(raw)] = raw
    b.vectorNumElems = len(raw)
    return b.EndVector()


def _table_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _tensor(b: flatbuffers.Builder, tensor: Tensor, buffer: int) -> int:
    t_name = b.CreateString(tensor.name)
    t_shape = b.CreateNumpyVector(np.array(tensor.shape, np.int32))
    t_quant = _quantization(b, tensor.quantization) if tensor.quantization is not None else None
    t_sparsity = _sparsity(b, tensor.sparsity) if tensor.sparsity is not None else None
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, t_shape)
    tflite.TensorAddType(b, TENSOR_TYPES[np.dtype(tensor.dtype)])
    tflite.TensorAddBuffer(b, buffer)
    tflite.TensorAddName(b, t_name)
    if t_quant is not None:
        tflite.TensorAddQuantization(b, t_quant)
    if t_sparsity is not None:
        tflite.TensorAddSparsity(b, t_sparsity)
    if tensor.is_variable:
        tflite.TensorAddIsVariable(b, True)
    return tflite.TensorEnd(b)


def _quantization(b: flatbuffers.Builder, quant: Quantization) -> int:
    scale = b.CreateNumpyVector(np.asarray(quant.scale, np.float32))
    zero = b.CreateNumpyVector(np.asarray(quant.zero_point, np.int64))
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale)
    tflite.QuantizationParametersAddZeroPoint(b, zero)
    tflite.QuantizationParametersAddQuantizedDimension(b, quant.axis)
    return tflite.QuantizationParametersEnd(b)


# The SparseIndexVector union: numpy dtype -> (union member, module of its table).
_INDEX_VECTORS = {np.dtype(np.int32): (tflite.SparseIndexVector.Int32Vector, "Int32Vector"),
                  np.dtype(np.uint16): (tflite.SparseIndexVector.Uint16Vector, "Uint16Vector"),
                  np.dtype(np.uint8): (tflite.SparseIndexVector.Uint8Vector, "Uint8Vector")}


def _index_vector(b: flatbuffers.Builder, values: np.ndarray | None) -> tuple[int, int]:
    """(union type, table offset) of a sparse dimension's segments or indices; (0, 0) when absent."""
    if values is None:
        return 0, 0
    kind, table = _INDEX_VECTORS[values.dtype]
    vector = b.CreateNumpyVector(values)
    getattr(tflite, f"{table}Start")(b)
    getattr(tflite, f"{table}AddValues")(b, vector)
    return kind, getattr(tflite, f"{table}End")(b)


def _sparsity(b: flatbuffers.Builder, sparsity: Sparsity) -> int:
    dims = []
    for d in sparsity.dimensions:
        seg_kind, segments = _index_vector(b, d.segments)
        idx_kind, indices = _index_vector(b, d.indices)
        tflite.DimensionMetadataStart(b)
        tflite.DimensionMetadataAddFormat(b, d.format)
        tflite.DimensionMetadataAddDenseSize(b, d.dense_size)
        if seg_kind:
            tflite.DimensionMetadataAddArraySegmentsType(b, seg_kind)
            tflite.DimensionMetadataAddArraySegments(b, segments)
        if idx_kind:
            tflite.DimensionMetadataAddArrayIndicesType(b, idx_kind)
            tflite.DimensionMetadataAddArrayIndices(b, indices)
        dims.append(tflite.DimensionMetadataEnd(b))
    order = b.CreateNumpyVector(np.array(sparsity.traversal_order, np.int32))
    block_map = b.CreateNumpyVector(np.array(sparsity.block_map, np.int32)) if sparsity.block_map else None
    dim_vector = _table_vector(b, dims)
    tflite.SparsityParametersStart(b)
    tflite.SparsityParametersAddTraversalOrder(b, order)
    if block_map is not None:
        tflite.SparsityParametersAddBlockMap(b, block_map)
    tflite.SparsityParametersAddDimMetadata(b, dim_vector)
    return tflite.SparsityParametersEnd(b)


def _opcode(b: flatbuffers.Builder, kind: str, version: int) -> int:
    custom = None
    if kind.startswith("CUSTOM:"):
        code = BUILTIN_CODES["CUSTOM"]
        custom = b.CreateString(kind.removeprefix("CUSTOM:"))
    elif kind in BUILTIN_CODES:
        code = BUILTIN_CODES[kind]
    else:
        raise UnsupportedOpError(f"cannot write operator kind {kind!r}: not in the TFLite schema")
    tflite.OperatorCodeStart(b)
    # Codes above 127 live only in builtin_code; the deprecated int8 field then holds 127.
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, version)
    if custom is not None:
        tflite.OperatorCodeAddCustomCode(b, custom)
    return tflite.OperatorCodeEnd(b)


def _operator(b: flatbuffers.Builder, op: Operator, opcode_index: int, index: int) -> int:
    options = _options(b, op, index) if op.options_type else None
    inputs = b.CreateNumpyVector(np.array(op.inputs, np.int32))
    outputs = b.CreateNumpyVector(np.array(op.outputs, np.int32))
    custom = b.CreateNumpyVector(np.frombuffer(op.custom_options, np.uint8)) if op.custom_options else None
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    if options is not None:
        tflite.OperatorAddBuiltinOptionsType(b, OPTIONS_CODES[op.options_type])
        tflite.OperatorAddBuiltinOptions(b, options)
    if custom is not None:
        tflite.OperatorAddCustomOptions(b, custom)
    return tflite.OperatorEnd(b)


def _options(b: flatbuffers.Builder, op: Operator, index: int) -> int:
    if op.options_type not in OPTIONS_CODES:
        raise UnsupportedOpError(f"operator {index} ({op.kind}): options type {op.options_type!r} "
                                 "is not in the TFLite schema")
    module = options_module(op.options_type)
    prefix = op.options_type
    # Vectors and strings must be created before the table is started.
    prepared: dict[str, object] = {}
    for key, value in op.options.items():
        if isinstance(value, np.ndarray):
            # Vector options of the schema (new_shape, squeeze_dims, ...) hold int32 or float32.
            prepared[key] = b.CreateNumpyVector(value.astype(np.int32 if value.dtype.kind in "iub" else np.float32))
        elif isinstance(value, str):
            prepared[key] = b.CreateString(value)
        else:
            prepared[key] = value
    getattr(module, f"{prefix}Start")(b)
    for key, ready in prepared.items():
        adder = getattr(module, f"{prefix}Add{camel(key)}", None)
        if adder is None:
            raise UnsupportedOpError(f"operator {index} ({op.kind}): option {key!r} is not a "
                                     f"field of {prefix}")
        adder(b, ready)
    return getattr(module, f"{prefix}End")(b)
