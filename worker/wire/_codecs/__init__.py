"""Tensor codecs: how a tensor's elements travel in the Tensor message (raw, fp16, uint8 affine, + zstd).

Public API (the modules behind it are private)::

    CODECS                      every codec name: STAGE[+LOSSLESS], STAGE in raw, fp16, uint8,
                                uint8-channel; LOSSLESS in zstd
    parse_codec(name) -> Codec  ValueError naming the valid names for any other
    Codec.encode(array) -> Encoded(codec, dtype, data, params)
    Codec.check(dtype, shape, data, params)           ValueError when they do not fit together
    Codec.decode(dtype, shape, data, params) -> array read-only; float32 after a lossy stage
    DTYPES, wire_dtype(name), Buffer                  what may travel, and in which bytes

Messages use them through ``worker.wire.encode_tensor`` and ``Tensor.array()``.
"""

from ._codec import CODECS, MAX_DECODED_BYTES, RAW, Codec, Encoded, parse_codec
from ._dtypes import DTYPES, Buffer, element_count, wire_dtype
from ._lossless import ZSTD_LEVEL

__all__ = ["CODECS", "DTYPES", "MAX_DECODED_BYTES", "RAW", "ZSTD_LEVEL", "Buffer", "Codec", "Encoded",
           "element_count", "parse_codec", "wire_dtype"]
