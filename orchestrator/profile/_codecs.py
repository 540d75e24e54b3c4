"""Timing the tensor codecs on this device: what the planner charges a link for encoding and decoding.

Each codec of ``worker.codecs.CODECS`` encodes and decodes a 1 MB activation-like tensor (ReLU
output: about half zeros, the rest half-normal), the median of as many runs as fit in the
budget; the figures are per MB of the tensor's float32 bytes, like the planner's byte counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from worker.codecs import CODECS
from worker.messages import encode_tensor

from ._device import today
from ._model import MB, CodecTiming

SAMPLE_BYTES = 1 << 20


def relu_like(nbytes: int, seed: int = 0) -> np.ndarray:
    """A float32 tensor of ``nbytes`` shaped like a conv activation, values like a ReLU's output."""
    rng = np.random.default_rng(seed)
    channels = 32
    n = max(channels, nbytes // 4 // channels * channels)
    return np.maximum(rng.standard_normal(n, dtype=np.float32), 0).reshape(1, -1, channels)


def _median_s(fn: Callable[[], object], budget_s: float) -> float:
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 1000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure_codec_timings(codecs: Sequence[str] = CODECS, budget_s: float = 0.2) -> dict[str, CodecTiming]:
    """Encode and decode seconds per raw MB of every codec in ``codecs`` on this host (raw is free)."""
    x = relu_like(SAMPLE_BYTES)
    mb = x.nbytes / MB
    out = {}
    for codec in codecs:
        if codec == "raw":
            continue
        tensor = encode_tensor("x", x, codec)
        enc = _median_s(lambda c=codec: encode_tensor("x", x, c), budget_s)  # type: ignore[misc]
        dec = _median_s(tensor.array, budget_s)
        out[codec] = CodecTiming(enc / mb, dec / mb, f"measured on {today()}: median of encode/decode of a "
                                                     f"{x.nbytes >> 20} MB ReLU-like float32 tensor")
    return out


__all__ = ["SAMPLE_BYTES", "measure_codec_timings", "relu_like"]
