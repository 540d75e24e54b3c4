"""The optional lossless stage after the first one: zstd, one compression pass each way."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import zstandard

from ._dtypes import Buffer

# Level 1: on ReLU activations and their uint8 codes it compresses as well as the default level 3
# at twice the speed, and a Pi has the cores busy with the model.
ZSTD_LEVEL = 1

# Contexts are reused (making one costs more than compressing a small tensor) but are not
# thread-safe: one per thread (the event loop encodes and decodes, a compute thread may too).
_contexts = threading.local()


class Lossless(Protocol):
    """A lossless stage: bytes in, fewer bytes out, and its decoded size readable before decoding."""

    @property
    def name(self) -> str:
        """The stage's part of a codec name (after the +)."""
        ...

    def compress(self, payload: Buffer) -> bytes:
        """The compressed payload."""
        ...

    def decoded_size(self, data: Buffer) -> int:
        """The payload size ``data`` decompresses to, read from its header; ValueError if unreadable."""
        ...

    def decompress(self, data: Buffer, size: int) -> bytes:
        """The payload of ``size`` bytes; ValueError if ``data`` is not exactly that, compressed."""
        ...


@dataclass(frozen=True, slots=True)
class Zstd:
    """One zstd frame holding its content size, so a lying shape is refused before decompressing."""

    name: str = "zstd"

    def compress(self, payload: Buffer) -> bytes:
        """One zstd frame (with the content size in its header)."""
        compressor = getattr(_contexts, "compressor", None)
        if compressor is None:
            compressor = _contexts.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        return compressor.compress(payload)

    def decoded_size(self, data: Buffer) -> int:
        """The content size in the frame header."""
        try:
            size = zstandard.frame_content_size(data)
        except zstandard.ZstdError as exc:
            raise ValueError(f"not a zstd frame ({exc})") from None
        if size < 0:
            raise ValueError("zstd frame without its content size")
        return size

    def decompress(self, data: Buffer, size: int) -> bytes:
        """The frame's content, in one buffer of ``size`` bytes; trailing bytes are refused."""
        if size == 0:
            return b""  # checked empty by decoded_size; zstd wants a positive output size
        decompressor = getattr(_contexts, "decompressor", None)
        if decompressor is None:
            decompressor = _contexts.decompressor = zstandard.ZstdDecompressor()
        # decompressobj (not decompress) because it reports bytes after the frame; with write_size
        # = the content size its output is one buffer, not chunks joined.
        stream = decompressor.decompressobj(write_size=size)
        try:
            out = stream.decompress(data)
        except zstandard.ZstdError as exc:
            raise ValueError(f"corrupt zstd frame ({exc})") from None
        if not stream.eof or stream.unused_data or len(out) != size:
            raise ValueError(f"zstd frame does not hold exactly {size} bytes")
        return out


LOSSLESS: tuple[Lossless, ...] = (Zstd(),)
