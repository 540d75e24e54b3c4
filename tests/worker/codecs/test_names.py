"""Codec names: one grammar, one parser, clear errors."""

from __future__ import annotations

import pytest

from worker.wire import CODECS, RAW, encode_tensor, parse_codec

from ._tensors import relu

EXPECTED = ("raw", "raw+zstd", "fp16", "fp16+zstd", "uint8", "uint8+zstd", "uint8-channel",
            "uint8-channel+zstd")


def test_every_stage_with_and_without_the_lossless_stage() -> None:
    assert CODECS == EXPECTED
    for name in CODECS:
        codec = parse_codec(name)
        stage, _, lossless = name.partition("+")
        assert (codec.name, codec.stage.name) == (name, stage)
        assert (codec.lossless.name if codec.lossless else "") == lossless
        assert codec.lossy == (stage != "raw")
        assert parse_codec(name) is codec  # one instance per name
    assert parse_codec("raw") is RAW


@pytest.mark.parametrize("name", ["", "zip", "RAW", "uint8-affine", "raw+", "+zstd", "zstd", "fp16+zstd+zstd",
                                  "fp16 ", "uint8+lz4", "zstd+uint8"])
def test_bad_names_say_which_and_list_the_valid_ones(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_codec(name)
    message = str(caught.value)
    assert repr(name) in message and all(valid in message for valid in CODECS)
    with pytest.raises(ValueError, match="unknown codec"):
        encode_tensor("x", relu((2, 2), "float32"), name)
