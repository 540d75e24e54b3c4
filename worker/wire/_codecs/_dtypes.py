"""The dtypes a tensor may have on the wire, and the byte buffers its payload may come in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

# Tensor bytes as they come: bytes from a file, a memoryview of an array or of a received frame.
Buffer = bytes | bytearray | memoryview

# Only plain numeric types: np.frombuffer with "object" (or any pointer-holding dtype) on bytes
# from the network would build Python objects out of attacker-chosen addresses.
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "float32", "float64", "complex64", "complex128"})


@cache
def wire_dtype(dtype: str) -> np.dtype:
    """The little-endian numpy dtype of a dtype name; ValueError if it may not travel."""
    # The wire is little-endian whatever the host is (Pis are, but tests may run elsewhere).
    if dtype not in DTYPES:
        raise ValueError(f"unsupported tensor dtype {dtype!r} (expected one of {sorted(DTYPES)})")
    return np.dtype(dtype).newbyteorder("<")


def element_count(shape: Sequence[int]) -> int:
    """Elements of a tensor of ``shape``; ValueError for a negative dimension."""
    if shape and min(shape) < 0:
        raise ValueError(f"negative dimension in shape {tuple(shape)}")
    return math.prod(shape)


def nbytes(data: Buffer) -> int:
    """Size of a buffer in bytes, whatever its item format."""
    return data.nbytes if type(data) is memoryview else len(data)


def flat_bytes(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array as a one-dimensional unsigned-byte view (no copy)."""
    # reshape(-1) makes 0-d arrays 1-d; numpy's stubs declare the buffer protocol only for Python 3.12+.
    return memoryview(array.reshape(-1)).cast("B")  # type: ignore[arg-type]
