"""The model graph both sides read: TFLite files in, a typed graph of tensors, operators, layers out."""

from ._ir import Graph, Layer, Operator, OptionValue, Quantization, Tensor
from ._read import LAYERS_METADATA, default_layers, parse_graph, read_graph
from ._schema import ACTIVATIONS, BUILTIN_CODES, DTYPES, TENSOR_TYPES

__all__ = [
    "ACTIVATIONS", "BUILTIN_CODES", "DTYPES", "LAYERS_METADATA", "TENSOR_TYPES", "Graph", "Layer",
    "Operator", "OptionValue", "Quantization", "Tensor", "default_layers", "parse_graph",
    "read_graph",
]
