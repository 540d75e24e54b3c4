"""Name tables of the TFLite schema (the ``tflite`` package), and how options are read generically."""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

import numpy as np
import tflite

from ._ir import OptionValue

BUILTIN_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")
}
BUILTIN_CODES: dict[str, int] = {v: k for k, v in BUILTIN_NAMES.items()}
OPTIONS_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")
}
OPTIONS_CODES: dict[str, int] = {v: k for k, v in OPTIONS_NAMES.items()}
CUSTOM_CODE = BUILTIN_CODES["CUSTOM"]

DTYPES: dict[int, np.dtype] = {
    tflite.TensorType.FLOAT32: np.dtype("float32"),
    tflite.TensorType.FLOAT16: np.dtype("float16"),
    tflite.TensorType.FLOAT64: np.dtype("float64"),
    tflite.TensorType.INT32: np.dtype("int32"),
    tflite.TensorType.INT64: np.dtype("int64"),
    tflite.TensorType.INT16: np.dtype("int16"),
    tflite.TensorType.INT8: np.dtype("int8"),
    tflite.TensorType.UINT8: np.dtype("uint8"),
    tflite.TensorType.UINT16: np.dtype("uint16"),
    tflite.TensorType.UINT32: np.dtype("uint32"),
    tflite.TensorType.UINT64: np.dtype("uint64"),
    tflite.TensorType.BOOL: np.dtype("bool"),
    tflite.TensorType.COMPLEX64: np.dtype("complex64"),
    tflite.TensorType.COMPLEX128: np.dtype("complex128"),
}
TYPE_NAMES: dict[int, str] = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
TENSOR_TYPES: dict[np.dtype, int] = {v: k for k, v in DTYPES.items()}

ACTIVATIONS: dict[int, str] = {
    v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")
}

# Methods every generated table class has that are not schema fields.
_NOT_FIELDS = re.compile(r"^(GetRootAs.*|Init|.*BufferHasIdentifier|.*AsNumpy|.*IsNone|.*Length)$")


def snake(name: str) -> str:
    """``StrideW`` -> ``stride_w`` (the schema's own spelling of the field)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    """``stride_w`` -> ``StrideW`` (the generated code's spelling of the field)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@cache
def options_module(options_type: str) -> Any:
    """The generated module of one options table, e.g. ``tflite.Conv2DOptions``."""
    return importlib.import_module(f"tflite.{options_type}")


@cache
def options_fields(options_type: str) -> tuple[str, ...]:
    """CamelCase field names of an options table, in the order the generated class lists them."""
    cls = getattr(options_module(options_type), options_type)
    return tuple(n for n in vars(cls) if not n.startswith("_") and n[0].isupper()
                 and not _NOT_FIELDS.match(n))


def read_options(options_type: str, table: Any) -> dict[str, OptionValue]:
    """Read every field of an options table into ``{snake_name: value}``."""
    cls = getattr(options_module(options_type), options_type)
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    values: dict[str, OptionValue] = {}
    for fname in options_fields(options_type):
        if hasattr(obj, fname + "AsNumpy"):
            if getattr(obj, fname + "IsNone")():
                continue
            values[snake(fname)] = np.array(getattr(obj, fname + "AsNumpy")())
            continue
        value = getattr(obj, fname)()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, (int, float, bool, str)):
            values[snake(fname)] = value
        # Nested tables (only in a few StableHLO options) are not kept: such ops are not
        # rewritten by the partitioner, which says so.
    return values
