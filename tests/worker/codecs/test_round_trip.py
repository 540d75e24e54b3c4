"""Every codec on random, ReLU-like and constant tensors: raw bit-exact, lossy within its bound."""

from __future__ import annotations

import numpy as np
import pytest

from worker.wire import CODECS, RAW, Tensor, encode_tensor, parse_codec

from ._tensors import (
    FLOATS,
    KINDS,
    LOSSY_STAGES,
    SHAPES,
    assert_within_codec_error,
    random,
    relu,
)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", FLOATS)
def test_round_trip_within_the_codec_error(codec: str, kind: str, dtype: str) -> None:
    for seed, shape in enumerate(SHAPES):
        x = KINDS[kind](shape, dtype, seed)
        tensor = encode_tensor("t", x, codec)
        assert (tensor.codec, tensor.shape) == (codec, shape)
        assert_within_codec_error(parse_codec(codec), x, tensor)


@pytest.mark.parametrize("codec", CODECS)
def test_empty_tensors(codec: str) -> None:
    for shape in ((0,), (3, 0), (2, 0, 4), (0, 5)):
        tensor = encode_tensor("empty", np.zeros(shape, np.float32), codec)
        assert tensor.array().shape == shape and tensor.array().dtype == np.float32


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16", "bool", "float64"])
@pytest.mark.parametrize("codec", ["raw", "raw+zstd"])
def test_raw_is_bit_exact_for_every_dtype(dtype: str, codec: str) -> None:
    x = (np.random.default_rng(1).standard_normal((4, 6, 3)) * 1000).astype(dtype)
    tensor = encode_tensor("x", x, codec)
    got = tensor.array()
    assert got.dtype == x.dtype and tensor.dtype == dtype
    np.testing.assert_array_equal(got, x)


def test_raw_keeps_nan_infinities_and_negative_zero() -> None:
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 1e38], np.float32)
    for codec in ("raw", "raw+zstd"):
        assert encode_tensor("x", x, codec).array().tobytes() == x.tobytes()


@pytest.mark.parametrize("stage", LOSSY_STAGES)
@pytest.mark.parametrize("lossless", ["", "+zstd"])
def test_lossy_codecs_send_non_float_tensors_raw(stage: str, lossless: str) -> None:
    """A lossy codec on a link also carrying ints (indices, masks) sends those raw, and says so."""
    for x in (np.arange(-6, 6, dtype=np.int32).reshape(3, 4), np.array([True, False]), np.array([0, 255], np.uint8)):
        tensor = encode_tensor("ids", x, stage + lossless)
        assert tensor.codec == "raw" + lossless and tensor.params == b""
        assert tensor.array().dtype == x.dtype
        np.testing.assert_array_equal(tensor.array(), x)


def test_raw_stays_zero_copy_both_ways() -> None:
    x = relu((2, 8, 8, 4), "float32")
    tensor = encode_tensor("x", x, "raw")
    assert np.shares_memory(np.frombuffer(tensor.data, np.float32), x)
    assert np.shares_memory(tensor.array(), x)
    assert Tensor.from_array("x", x) == tensor
    assert encode_tensor("x", x, RAW) == tensor  # a Codec works as well as its name


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "raw"])
def test_decoded_tensors_are_read_only_and_own_no_input_memory(codec: str) -> None:
    x = relu((3, 4, 5), "float32")
    got = encode_tensor("x", x, codec).array()
    assert not got.flags.writeable and not np.shares_memory(got, x)


def test_fp16_on_float16_input_is_exact() -> None:
    x = relu((5, 7), "float16")
    np.testing.assert_array_equal(encode_tensor("x", x, "fp16").array(), x.astype(np.float32))


def test_relu_zeros_come_back_exactly() -> None:
    x = relu((1, 16, 16, 8), "float32")
    assert (x == 0).mean() > 0.5
    for codec in ("fp16", "uint8", "uint8-channel", "uint8+zstd"):
        got = encode_tensor("x", x, codec).array()
        assert np.all(got[x == 0] == 0), codec


def test_per_channel_scales_follow_each_channel() -> None:
    """A channel 1000x wider than the others does not cost the others their precision."""
    x = np.random.default_rng(2).random((1, 8, 8, 3)).astype(np.float32)
    x[..., 2] *= 1000
    tensor = encode_tensor("x", x, "uint8-channel")
    scales = np.frombuffer(tensor.params, np.float32)[:3]
    assert scales[2] > 500 * scales[:2].max()
    per_channel = np.abs(tensor.array() - x).max(axis=(0, 1, 2))
    per_tensor = np.abs(encode_tensor("x", x, "uint8").array() - x).max(axis=(0, 1, 2))
    assert np.all(per_channel[:2] < per_tensor[:2] / 100)


def test_zstd_shrinks_compressible_payloads_and_lossy_codecs_shrink_more() -> None:
    x = relu((1, 32, 32, 16), "float32")
    sizes = {c: encode_tensor("x", x, c).nbytes for c in CODECS}
    assert sizes["raw"] == x.nbytes
    assert sizes["fp16"] == x.nbytes // 2 and sizes["uint8"] == x.size + 8
    assert sizes["uint8-channel"] == x.size + 8 * 16
    for stage in ("raw", "fp16", "uint8", "uint8-channel"):
        assert sizes[f"{stage}+zstd"] < sizes[stage] * 0.8, stage


def test_non_contiguous_and_big_endian_inputs() -> None:
    x = random((4, 6, 8), "float32")
    for view in (x[:, ::2, :], x.transpose(2, 0, 1), x.astype(">f4")):
        for codec in CODECS:
            tensor = encode_tensor("x", view, codec)
            assert_within_codec_error(parse_codec(codec), np.asarray(view, np.float32), tensor)
