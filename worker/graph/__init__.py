"""The model graph both sides read: TFLite files in, a typed graph of tensors, operators, layers out."""

from ._ir import DimensionMetadata, Graph, Layer, Operator, OptionValue, Quantization, Sparsity, Tensor
from ._read import LAYERS_METADATA, default_layers, parse_graph, read_graph
from ._schema import ACTIVATIONS, BUILTIN_CODES, DTYPES, TENSOR_TYPES

__all__ = [
    "ACTIVATIONS", "BUILTIN_CODES", "DTYPES", "LAYERS_METADATA", "TENSOR_TYPES", "DimensionMetadata", "Graph",
    "Layer", "Operator", "OptionValue", "Quantization", "Sparsity", "Tensor", "default_layers", "parse_graph",
    "read_graph",
]
