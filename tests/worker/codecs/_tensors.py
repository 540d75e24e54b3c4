"""Sample tensors (random, ReLU-like, constant) and the error each codec is allowed on them."""

from __future__ import annotations

import numpy as np

from worker.wire import Codec, Tensor

SHAPES = ((), (1,), (7,), (3, 5), (1, 9, 11, 3), (2, 4, 4, 16))
FLOATS = ("float32", "float16", "float64")
LOSSY_STAGES = ("fp16", "uint8", "uint8-channel")
_EPS32 = float(np.finfo(np.float32).eps)


def random(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """Normal values around a non-zero mean, so the minimum is not 0."""
    return (np.random.default_rng(seed).standard_normal(shape) * 3 + 1.5).astype(dtype)


def relu(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """Activations after a ReLU: about 60% zeros, a long positive tail."""
    values = np.random.default_rng(seed).standard_normal(shape) - 0.25
    return (np.maximum(values, 0) ** 2 * 4).astype(dtype)


def constant(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """Every element the same, not zero."""
    return np.full(shape, -2.75 + seed, dtype=dtype)


KINDS = {"random": random, "relu": relu, "constant": constant}


def fp16_bound(x: np.ndarray) -> np.ndarray:
    """Per element: half a float16 ulp (relative 2**-11), or half the smallest subnormal step."""
    return np.maximum(np.abs(x.astype(np.float64)) * 2.0**-11, 2.0**-25)


def affine_params(tensor: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(scales, offsets) a uint8 tensor carries."""
    values = np.frombuffer(tensor.params, np.float32)
    half = values.size // 2
    return values[:half], values[half:]


def assert_within_codec_error(codec: Codec, x: np.ndarray, tensor: Tensor) -> None:
    """The decoded tensor is within the codec's error of ``x`` (exact for raw)."""
    y = tensor.array()
    assert y.shape == x.shape
    if not codec.lossy or tensor.codec.startswith("raw"):
        assert y.dtype == x.dtype and tensor.dtype == x.dtype.name
        assert y.tobytes() == np.ascontiguousarray(x).tobytes()  # bit-exact, NaN and -0.0 included
        return
    assert y.dtype == np.float32 and tensor.dtype == "float32"
    exact = x.astype(np.float64)
    error = np.abs(y.astype(np.float64) - exact)
    if codec.stage.name == "fp16":
        assert np.all(error <= fp16_bound(exact)), float(error.max())
        return
    scales, offsets = affine_params(tensor)
    channels = x.shape[-1] if codec.stage.name == "uint8-channel" and x.ndim else 1
    assert scales.size == offsets.size == channels
    if x.size == 0:
        return
    rows, got, decoded = exact.reshape(-1, channels), error.reshape(-1, channels), y.reshape(-1, channels)
    for c in range(channels):
        column = rows[:, c]
        if column.size == 0:
            continue
        lo, hi = column.min(), column.max()
        assert offsets[c] == np.float32(lo)  # the minimum comes back exactly
        # The scale is the range over 255 (positive for a constant channel), not something larger.
        assert 0 < scales[c] <= max((hi - lo) / 255 * (1 + 4 * _EPS32), np.finfo(np.float32).tiny)
        bound = scales[c] / 2 * (1 + 1e-4) + 4 * _EPS32 * max(abs(lo), abs(hi))
        assert got[:, c].max() <= bound, (c, float(got[:, c].max()), float(bound))
        if lo == hi:  # a constant channel is exact (in the float32 it decodes to)
            assert np.all(decoded[:, c] == np.float32(lo))
