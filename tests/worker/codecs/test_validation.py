"""What a codec refuses: NaN and infinities on encode; lying shapes, forged params and broken
payloads on decode (ValueError naming the tensor, which the agent counts as a bad tensor)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import zstandard

from worker.wire import (
    CODECS,
    MAX_DECODED_BYTES,
    Tensor,
    TensorBatch,
    WireError,
    decode,
    encode,
    encode_tensor,
)

from ._tensors import LOSSY_STAGES, relu

LOSSY = [c for c in CODECS if not c.startswith("raw")]


def _forged(tensor: Tensor, **changes: Any) -> Tensor:
    """``tensor`` with fields replaced (the checks run again, as they do when a message is decoded)."""
    return dataclasses.replace(tensor, **changes)


@pytest.mark.parametrize("codec", LOSSY)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_lossy_codecs_refuse_nan_and_infinities_naming_the_tensor(codec: str, bad: float) -> None:
    x = relu((2, 5, 5, 3), "float32")
    x[1, 2, 3, 1] = bad
    with pytest.raises(ValueError, match=r"tensor 'conv1/out': NaN or infinite values.*use raw"):
        encode_tensor("conv1/out", x, codec)
    with pytest.raises(ValueError, match="NaN or infinite"):
        encode_tensor("conv1/out", x.astype(np.float16), codec)


@pytest.mark.parametrize("lossless", ["", "+zstd"])
def test_fp16_refuses_values_that_would_overflow_to_infinity(lossless: str) -> None:
    x = np.array([1.0, -70000.0], np.float32)
    with pytest.raises(ValueError, match="tensor 'big': values beyond the float16 range"):
        encode_tensor("big", x, "fp16" + lossless)
    assert encode_tensor("big", np.array([65504, -65504], np.float32), "fp16").array().tolist() == [65504, -65504]
    assert encode_tensor("big", x, "uint8" + lossless).array()[1] == -70000  # the minimum is exact


def test_lossy_codecs_refuse_float64_values_beyond_float32() -> None:
    for codec in ("fp16", "uint8", "uint8-channel"):
        with pytest.raises(ValueError, match="beyond the float32 range"):
            encode_tensor("x", np.array([0.0, 1e300]), codec)


def test_uint8_refuses_a_range_float32_cannot_decode() -> None:
    x = np.array([-3e38, 3e38], np.float32)
    with pytest.raises(ValueError, match="too wide for uint8"):
        encode_tensor("x", x, "uint8")
    assert encode_tensor("x", x, "uint8-channel").array().tolist() == x.tolist()  # one value per channel


@pytest.mark.parametrize("codec", CODECS)
def test_a_lying_shape_is_refused(codec: str) -> None:
    good = encode_tensor("x", relu((4, 6), "float32"), codec)
    for shape in ((4, 7), (5, 6), (24, 1, 2), (-4, -6)):
        with pytest.raises(ValueError, match="tensor 'x': "):
            _forged(good, shape=shape)


@pytest.mark.parametrize("codec", CODECS)
def test_a_wrong_dtype_is_refused(codec: str) -> None:
    good = encode_tensor("x", relu((4, 6), "float32"), codec)
    for dtype in ("float64", "object", "complex64"):
        with pytest.raises(ValueError, match="tensor 'x': "):
            _forged(good, dtype=dtype)


@pytest.mark.parametrize("codec", CODECS)
def test_unknown_codec_names_are_refused_when_the_tensor_is_made(codec: str) -> None:
    good = encode_tensor("x", relu((4, 6), "float32"), codec)
    with pytest.raises(ValueError, match="tensor 'x': unknown codec 'uint4'"):
        _forged(good, codec="uint4")


@pytest.mark.parametrize("codec", CODECS)
def test_params_of_the_wrong_length_are_refused(codec: str) -> None:
    good = encode_tensor("x", relu((4, 6), "float32"), codec)
    for params in (bytes(4), bytes(9), bytes(8 * 6 + 8), bytes(8) if "channel" in codec else bytes(16)):
        with pytest.raises(ValueError, match=r"tensor 'x': .*params"):
            _forged(good, params=params)


@pytest.mark.parametrize("stage", ["uint8", "uint8-channel"])
def test_forged_scales_and_offsets_are_refused(stage: str) -> None:
    good = encode_tensor("x", relu((4, 6), "float32"), stage)
    channels = len(good.params) // 8
    for scale, offset in ((0.0, 0.0), (-1.0, 0.0), (np.nan, 0.0), (np.inf, 0.0), (1.0, np.nan), (1e37, 3e38)):
        params = np.array([scale] * channels + [offset] * channels, np.float32).tobytes()
        with pytest.raises(ValueError, match="params out of range"):
            _forged(good, params=params)


@pytest.mark.parametrize("codec", [c for c in CODECS if c.endswith("+zstd")])
def test_broken_zstd_payloads_are_refused(codec: str) -> None:
    x = relu((16, 16), "float32")
    good = encode_tensor("x", x, codec)
    data = bytes(good.data)
    with pytest.raises(ValueError, match="not a zstd frame"):
        _forged(good, data=b"\x00" * len(data))
    with pytest.raises(ValueError, match="payload bytes"):  # the header's content size is the other tensor's
        _forged(good, data=encode_tensor("x", x[:8], codec).data)
    unknown_size = zstandard.ZstdCompressor(write_content_size=False).compress(zstandard.decompress(data))
    with pytest.raises(ValueError, match="without its content size"):
        _forged(good, data=unknown_size)
    # Header intact, body corrupt: found when decoding, still a ValueError naming the tensor.
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2:] = bytes(len(corrupt) - len(corrupt) // 2)
    with pytest.raises(ValueError, match=r"tensor 'x': .*zstd"):
        _forged(good, data=bytes(corrupt)).array()
    with pytest.raises(ValueError, match=r"tensor 'x': zstd frame does not hold exactly"):
        _forged(good, data=data + b"trailing").array()


def test_a_compressed_tensor_may_not_claim_more_than_the_limit() -> None:
    """A tiny frame claiming a huge shape is refused before anything is allocated."""
    side = int((MAX_DECODED_BYTES // 4) ** 0.5) + 1
    data = zstandard.ZstdCompressor().compress(bytes(1))
    with pytest.raises(ValueError, match="over the limit"):
        Tensor(name="x", dtype="float32", shape=(side, side), data=data, codec="raw+zstd")


@pytest.mark.parametrize("stage", LOSSY_STAGES)
def test_tampered_tensors_in_a_frame_are_undecodable(stage: str) -> None:
    """Through the wire: the message is refused as a whole, the agent keeps serving."""
    tensor = encode_tensor("x", relu((2, 3, 3, 4), "float32"), stage)
    payload = encode(TensorBatch(epoch=1, stream="s", tag=0, source="a", tensors=(tensor,)), None)
    def field(name: str) -> bytes:  # an Avro string: zigzag length, then UTF-8
        return bytes([2 * len(name)]) + name.encode()
    wrong = {"fp16": "uint8", "uint8": "fp16", "uint8-channel": "uint8"}[stage]  # sizes or params do not fit
    assert payload.count(field(stage)) == 1
    with pytest.raises(WireError) as caught:
        decode(payload.replace(field(stage), field(wrong)), None)
    assert caught.value.kind == "undecodable" and "tensor 'x'" in caught.value.detail
