"""The first stage of a codec: how elements become payload bytes (raw, float16, uint8 affine).

A stage turns an array into a C-contiguous little-endian payload array plus its parameters, and
back. Raw keeps the tensor's dtype and shares memory both ways; the lossy stages take floating
tensors, decode to float32, and refuse NaN and infinities: an affine map cannot carry them, and a
value that turns into one in float16 would be an unbounded error the planner cannot budget for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from ._dtypes import Buffer, element_count, wire_dtype

FLOAT32 = "float32"  # what every lossy stage decodes to
_F32 = np.dtype("<f4")
_F16 = np.dtype("<f2")
_F16_MAX = float(np.finfo(np.float16).max)
_F32_MAX = float(np.finfo(np.float32).max)
# The smallest scale an affine stage uses: a constant tensor (range 0) gets a positive scale and
# q = 0 everywhere, and 1 / scale stays finite (1 / a subnormal would overflow to inf).
_MIN_SCALE = float(np.finfo(np.float32).tiny)


class CodecStage(Protocol):
    """What a codec's first stage does; the implementations below are the only ones."""

    @property
    def name(self) -> str:
        """The stage's part of a codec name."""
        ...

    @property
    def lossy(self) -> bool:
        """True when decoding gives back an approximation (in float32)."""
        ...

    def encode(self, array: np.ndarray) -> tuple[np.ndarray, bytes]:
        """(payload array, C-contiguous little-endian; params) of a tensor."""
        ...

    def payload_nbytes(self, dtype: str, shape: tuple[int, ...]) -> int:
        """Payload bytes of a tensor of ``dtype`` (the decoded one) and ``shape``."""
        ...

    def check_params(self, params: Buffer, shape: tuple[int, ...]) -> None:
        """ValueError unless ``params`` fit a tensor of ``shape``."""
        ...

    def decode(self, payload: Buffer, params: Buffer, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor of a payload whose size and params have been checked."""
        ...


def _no_params(params: Buffer, name: str) -> None:
    if len(params):
        raise ValueError(f"{name} carries no params, got {len(params)} bytes")


@dataclass(frozen=True, slots=True)
class Raw:
    """Elements as they are: zero-copy both ways (a copy only for a non-contiguous or big-endian array)."""

    name: str = "raw"
    lossy: ClassVar[bool] = False

    def encode(self, array: np.ndarray) -> tuple[np.ndarray, bytes]:
        """The array itself when it is C-contiguous little-endian, else a contiguous copy."""
        return np.ascontiguousarray(array, dtype=wire_dtype(array.dtype.name)), b""

    def payload_nbytes(self, dtype: str, shape: tuple[int, ...]) -> int:
        """Elements times the dtype's size."""
        return element_count(shape) * wire_dtype(dtype).itemsize

    def check_params(self, params: Buffer, shape: tuple[int, ...]) -> None:
        """Raw has no params."""
        _no_params(params, self.name)

    def decode(self, payload: Buffer, params: Buffer, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """A view of the payload."""
        return np.frombuffer(payload, dtype=wire_dtype(dtype)).reshape(shape)


def _float32_range(array: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) over ``axis``; ValueError for NaN, infinities and values beyond float32."""
    lo, hi = array.min(axis=axis), array.max(axis=axis)  # NaN propagates: no extra pass to find it
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("NaN or infinite values: a lossy codec cannot carry them (use raw)")
    if max(-float(np.min(lo)), float(np.max(hi))) > _F32_MAX:
        raise ValueError("values beyond the float32 range a lossy codec decodes to (use raw)")
    return lo, hi


def _as_float32(array: np.ndarray) -> np.ndarray:
    # Quantizing in the dtype the tensor decodes to keeps the error bound exact (see Affine.encode);
    # a float32 array is used as it is, a wider one is checked first (the cast would make inf of it).
    if array.dtype.itemsize > 4 and array.size:
        _float32_range(array, None)
    return np.ascontiguousarray(array, dtype=_F32)


@dataclass(frozen=True, slots=True)
class Half:
    """float16 elements: one conversion pass each way, error within float16 rounding."""

    name: str = "fp16"
    lossy: ClassVar[bool] = True

    def encode(self, array: np.ndarray) -> tuple[np.ndarray, bytes]:
        """float16 of the tensor; ValueError for NaN, infinities and values beyond float16's range."""
        if array.size:
            # The extremes tell, before the conversion pass, whether any value would become inf.
            with np.errstate(over="ignore"):
                if not all(np.isfinite(np.float16(v)) for v in _float32_range(array, None)):
                    raise ValueError(f"values beyond the float16 range (+-{_F16_MAX:g}): use raw or uint8")
        return np.ascontiguousarray(array, dtype=_F16), b""

    def payload_nbytes(self, dtype: str, shape: tuple[int, ...]) -> int:
        """Two bytes per element."""
        return element_count(shape) * 2

    def check_params(self, params: Buffer, shape: tuple[int, ...]) -> None:
        """fp16 has no params."""
        _no_params(params, self.name)

    def decode(self, payload: Buffer, params: Buffer, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """float32 of the float16 payload."""
        return np.frombuffer(payload, dtype=_F16).astype(_F32).reshape(shape)


@dataclass(frozen=True, slots=True)
class Affine:
    """uint8 q with x = offset + q * scale, per tensor or per channel (the last axis).

    params: the scales then the offsets, float32 little-endian, one of each per tensor or per
    channel. The offset is the minimum (a real-valued zero point), so a tensor's minimum, and the
    zeros of a ReLU output, come back exactly; the error is at most scale / 2.
    """

    name: str
    per_channel: bool
    lossy: ClassVar[bool] = True

    def channels(self, shape: tuple[int, ...]) -> int:
        """How many (scale, offset) pairs a tensor of ``shape`` carries."""
        return shape[-1] if self.per_channel and shape else 1

    def encode(self, array: np.ndarray) -> tuple[np.ndarray, bytes]:
        """uint8 of the tensor and its params; ValueError for NaN, infinities or a range beyond float32."""
        x = _as_float32(array)
        channels = self.channels(x.shape)
        if x.size == 0:
            return np.zeros(x.shape, np.uint8), _params(np.full(channels, _MIN_SCALE), np.zeros(channels))
        rows = x.reshape(-1, channels)
        lo, hi = _float32_range(rows, 0 if self.per_channel else None)
        # Scale and its inverse in float64, then rounded to the float32 the decoder uses.
        scale = np.maximum((hi.astype(np.float64) - lo) / 255, _MIN_SCALE).astype(_F32)
        offset = np.asarray(lo, _F32)
        if not _decodable(scale, offset):
            raise ValueError("the range is too wide for uint8 affine in float32 (use raw)")
        inverse = (1 / scale.astype(np.float64)).astype(_F32)
        work = np.empty(rows.shape, _F32)
        np.subtract(rows, offset, out=work)
        work *= inverse
        # Round half up by truncation. No clip needed: with float32 roundings, (x - lo) / scale is
        # at most 255 * (1 + 3e-7), so + 0.5 stays below 256 (and x - lo is never negative).
        work += np.float32(0.5)
        return work.astype(np.uint8).reshape(x.shape), _params(scale, offset)

    def payload_nbytes(self, dtype: str, shape: tuple[int, ...]) -> int:
        """One byte per element."""
        return element_count(shape)

    def check_params(self, params: Buffer, shape: tuple[int, ...]) -> None:
        """Scales and offsets, one pair per channel (per tensor: one), finite, scales positive."""
        channels = self.channels(shape)
        if len(params) != 8 * channels:
            raise ValueError(f"{self.name} params are {len(params)} bytes, expected {8 * channels} "
                             f"(a float32 scale and offset for {channels} channel(s))")
        scale, offset = _split(params, channels)
        if not (np.all(scale > 0) and _decodable(scale, offset)):
            raise ValueError(f"{self.name} params out of range (scales must be > 0, offset + 255 * scale finite)")

    def decode(self, payload: Buffer, params: Buffer, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """float32 offset + q * scale: one multiply pass and one in-place add."""
        channels = self.channels(shape)
        q = np.frombuffer(payload, dtype=np.uint8)
        if q.size == 0:
            return np.zeros(shape, _F32)
        scale, offset = _split(params, channels)
        rows = q.reshape(-1, channels)
        out = np.empty(rows.shape, _F32)
        np.multiply(rows, scale, out=out)
        out += offset
        return out.reshape(shape)


def _decodable(scale: np.ndarray, offset: np.ndarray) -> bool:
    """True when every q in 0..255 decodes to a finite float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.all(np.isfinite(np.float32(255) * scale + offset)))


def _params(scale: np.ndarray, offset: np.ndarray) -> bytes:
    return np.concatenate([np.ravel(scale), np.ravel(offset)]).astype(_F32).tobytes()


def _split(params: Buffer, channels: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.frombuffer(params, dtype=_F32)
    return values[:channels], values[channels:]


STAGES: tuple[CodecStage, ...] = (Raw(), Half(), Affine("uint8", per_channel=False),
                             Affine("uint8-channel", per_channel=True))
