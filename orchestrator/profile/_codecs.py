"""Timing the tensor codecs on this device: what the planner charges a link for encoding and decoding.

Each codec of ``worker.wire.CODECS`` encodes and decodes a 1 MB activation-like tensor (ReLU
output: about half zeros, a spread per channel), the median of as many runs as fit in the
budget; the figures are per MB of the tensor's float32 bytes, like the planner's byte counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worker.wire import CODECS, encode_tensor

from ._device import today
from ._measure import time_call
from ._model import MB, CodecTiming

SAMPLE_BYTES = 1 << 20


def relu_like(nbytes: int, seed: int = 0, channels: int = 64) -> np.ndarray:
    """A float32 tensor of about ``nbytes``, [1, rows, channels], like a conv + ReLU's output: half zeros
    and a positive tail whose spread differs per channel."""
    n = max(1, nbytes // 4)
    channels = min(channels, n)
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((1, n // channels, channels), dtype=np.float32)
    return np.maximum(values, 0) * rng.uniform(0.2, 2.0, channels).astype(np.float32)


def measure_codec_timings(codecs: Sequence[str] = CODECS, budget_s: float = 0.2) -> dict[str, CodecTiming]:
    """Encode and decode seconds per raw MB of every codec in ``codecs`` on this host (raw is free)."""
    x = relu_like(SAMPLE_BYTES)
    mb = x.nbytes / MB
    out = {}
    for codec in codecs:
        if codec == "raw":
            continue
        tensor = encode_tensor("x", x, codec)
        enc = time_call(lambda c=codec: encode_tensor("x", x, c), 3, budget_s)  # type: ignore[misc]
        dec = time_call(tensor.array, 3, budget_s)
        out[codec] = CodecTiming(enc / mb, dec / mb, f"measured on {today()}: median of encode/decode of a "
                                                     f"{x.nbytes >> 20} MB ReLU-like float32 tensor")
    return out


__all__ = ["SAMPLE_BYTES", "measure_codec_timings", "relu_like"]
