"""The in-memory form of one TFLite graph: tensors, operators and the layers that group them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

# An option value as the TFLite schema stores it: a scalar, a string, or a vector (numpy array).
OptionValue = int | float | bool | str | np.ndarray


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: real = scale * (q - zero_point), per tensor or per axis."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0


@dataclass(frozen=True)
class DimensionMetadata:
    """One dimension of a sparse tensor as the TFLite schema stores it (format 0 dense, 1 CSR)."""

    format: int
    dense_size: int
    segments: np.ndarray | None = None    # CSR row starts, in the integer type the file used
    indices: np.ndarray | None = None     # CSR column indices


@dataclass(frozen=True)
class Sparsity:
    """How a sparse constant's stored values map onto its dense shape (DENSIFY expands it at load)."""

    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    dimensions: tuple[DimensionMetadata, ...]


@dataclass
class Tensor:
    """A tensor of the graph: an activation when ``data`` is None, a constant (weights) otherwise.

    A sparse constant keeps its stored values (``data`` is one-dimensional) and ``sparsity``; a
    variable tensor (the state of a sequence op) has no data and belongs to the op that updates it.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None = None
    quantization: Quantization | None = None
    is_variable: bool = False
    sparsity: Sparsity | None = None

    @property
    def is_constant(self) -> bool:
        """True for weights and other values stored in the model file."""
        return self.data is not None

    @property
    def is_activation(self) -> bool:
        """True for values computed per frame, which may cross a cut (not weights, not op state)."""
        return self.data is None and not self.is_variable

    @property
    def nbytes(self) -> int:
        """Size of the tensor's value in bytes (a sparse constant: the bytes it is stored in)."""
        if self.sparsity is not None and self.data is not None:
            return int(self.data.nbytes)
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass
class Operator:
    """One TFLite operator.

    ``kind`` is the schema's builtin name (``CONV_2D``) or ``CUSTOM:<code>``. ``options`` holds
    the fields of the schema's options table under their snake_case schema names
    (``stride_w``, ``fused_activation_function``): the schema is the structure, and keeping its
    names lets a graph read from any .tflite be written back without knowing every op.
    """

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options_type: str = ""
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    custom_options: bytes = b""
    version: int = 1

    def option(self, name: str, default: OptionValue = 0) -> OptionValue:
        """The value of one schema option, or ``default`` when the file did not set it."""
        return self.options.get(name, default)


@dataclass
class Layer:
    """A named group of operators that is cut, profiled and sharded as one unit."""

    name: str
    ops: tuple[int, ...]


@dataclass
class Graph:
    """A dataflow graph in topological order, with named layers over its operators.

    ``subgraphs`` are the model's other subgraphs (1, 2, ... in the file), which control-flow ops
    (WHILE, IF) call by index: they travel whole with every task that holds such an op.
    """

    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    layers: list[Layer]
    subgraphs: list[Graph] = field(default_factory=list)

    @cached_property
    def producer(self) -> dict[int, int]:
        """Map tensor index -> index of the operator that writes it."""
        return {t: i for i, op in enumerate(self.operators) for t in op.outputs}

    @cached_property
    def consumers(self) -> dict[int, list[int]]:
        """Map tensor index -> indices of the operators that read it."""
        result: dict[int, list[int]] = {}
        for i, op in enumerate(self.operators):
            for t in op.inputs:
                if t >= 0:
                    result.setdefault(t, []).append(i)
        return result

    @cached_property
    def constant_ops(self) -> frozenset[int]:
        """Operators that read only constants, directly or through other such operators.

        Their results (dequantized float16 weights, say) are fixed: an executor computes them
        once at load, and they belong to the layer that uses them, never to a cut.
        """
        known = {t for t, tensor in enumerate(self.tensors) if tensor.is_constant}
        ops = set()
        for i, op in enumerate(self.operators):
            ins = [t for t in op.inputs if t >= 0]
            if ins and op.outputs and all(t in known for t in ins):
                ops.add(i)
                known.update(op.outputs)
        return frozenset(ops)

    def tensor_index(self, name: str) -> int:
        """Index of the tensor called ``name``; KeyError if there is none."""
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(name)

    def activation_inputs(self, ops: Iterable[int]) -> list[int]:
        """Non-constant tensors read by ``ops`` but not written by them, in first-use order."""
        ops = list(ops)
        written = {t for i in ops for t in self.operators[i].outputs}
        seen: dict[int, None] = {}
        for i in ops:
            for t in self.operators[i].inputs:
                if t >= 0 and t not in written and self.tensors[t].is_activation:
                    seen.setdefault(t, None)
        return list(seen)

    def weight_bytes(self, ops: Iterable[int]) -> int:
        """Bytes of the constant tensors read by ``ops`` (each counted once)."""
        consts = {t for i in ops for t in self.operators[i].inputs
                  if t >= 0 and self.tensors[t].is_constant}
        return sum(self.tensors[t].nbytes for t in consts)
