"""Codecs by name: a first stage (raw, fp16, uint8, uint8-channel), optionally + a lossless one (zstd).

The grammar is ``STAGE[+LOSSLESS]``; ``CODECS`` lists every name, ``parse_codec`` is the one place
a name becomes a codec. Only floating tensors take a lossy stage: any other tensor sent with a lossy
codec goes raw (keeping the lossless stage), and its ``codec`` field says so, so decoding never
guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._dtypes import Buffer, element_count, flat_bytes, nbytes, wire_dtype
from ._lossless import LOSSLESS, Lossless
from ._stages import FLOAT32, STAGES, CodecStage, Raw

# The most a compressed tensor may decode to. A raw payload's size is proven by the bytes that
# came, a compressed one only by its header: this keeps a forged shape from allocating gigabytes.
# It is what the default 64 MiB frame limit holds as uint8 and decodes to as float32.
MAX_DECODED_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Encoded:
    """A tensor's payload in a codec, as the Tensor message carries it."""

    codec: str         # the codec applied: a lossy codec falls back to raw for a non-float tensor
    dtype: str         # the decoded tensor's dtype: float32 after a lossy stage, else the tensor's
    data: Buffer       # a view of the array for raw, new bytes otherwise
    params: bytes      # the stage's parameters (uint8 scales and offsets), empty for others


@dataclass(frozen=True, slots=True)
class Codec:
    """A first stage and an optional lossless stage after it."""

    name: str
    stage: CodecStage
    lossless: Lossless | None = None

    @property
    def lossy(self) -> bool:
        """True when decoding gives back an approximation (in float32)."""
        return self.stage.lossy

    def encode(self, array: np.ndarray) -> Encoded:
        """The array's payload; ValueError when a lossy stage refuses it (NaN, infinities, range)."""
        if self.lossy and array.dtype.kind != "f":
            return _FALLBACK[self.lossless].encode(array)
        payload, params = self.stage.encode(array)
        data: Buffer = flat_bytes(payload)
        if self.lossless is not None:
            data = self.lossless.compress(data)
        return Encoded(self.name, FLOAT32 if self.lossy else array.dtype.name, data, params)

    def check(self, dtype: str, shape: tuple[int, ...], data: Buffer, params: Buffer) -> None:
        """ValueError unless the dtype, shape, payload size and params fit together (nothing decoded)."""
        if self.lossy and dtype != FLOAT32:
            raise ValueError(f"{self.name} decodes to {FLOAT32}, the tensor says {dtype}")
        expected = self.stage.payload_nbytes(dtype, shape)
        if self.lossless is None:
            size = nbytes(data)
        else:
            decoded = element_count(shape) * wire_dtype(dtype).itemsize
            if decoded > MAX_DECODED_BYTES:
                raise ValueError(f"{dtype} {shape} is {decoded} bytes decoded, over the limit of "
                                 f"{MAX_DECODED_BYTES} for a compressed tensor")
            size = self.lossless.decoded_size(data)
        if size != expected:
            raise ValueError(f"{size} payload bytes for {dtype} {shape} in {self.name} (expected {expected})")
        self.stage.check_params(params, shape)

    def decode(self, dtype: str, shape: tuple[int, ...], data: Buffer, params: Buffer) -> np.ndarray:
        """The tensor (arguments passed ``check``), read-only: raw views ``data``; ValueError if corrupt."""
        payload = data
        if self.lossless is not None:
            payload = self.lossless.decompress(data, self.stage.payload_nbytes(dtype, shape))
        out = self.stage.decode(payload, params, dtype, shape)
        out.flags.writeable = False  # raw views a frame other tensors also view; the others alike
        return out


def _codecs() -> dict[str, Codec]:
    codecs = {}
    for stage in STAGES:
        codecs[stage.name] = Codec(stage.name, stage)
        for lossless in LOSSLESS:
            name = f"{stage.name}+{lossless.name}"
            codecs[name] = Codec(name, stage, lossless)
    return codecs


_REGISTRY = _codecs()
_FALLBACK: dict[Lossless | None, Codec] = {c.lossless: c for c in _REGISTRY.values() if isinstance(c.stage, Raw)}

CODECS: tuple[str, ...] = tuple(_REGISTRY)
RAW = _REGISTRY["raw"]


def parse_codec(name: str) -> Codec:
    """The codec of a name (``STAGE[+LOSSLESS]``); ValueError naming the valid ones otherwise."""
    codec = _REGISTRY.get(name)
    if codec is None:
        raise ValueError(f"unknown codec {name!r} (expected one of {', '.join(CODECS)})")
    return codec
