"""Hypothesis: the error bounds hold for any finite tensor, and raw is bit-exact for any tensor."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from worker.wire import CODECS, encode_tensor, parse_codec

from ._tensors import assert_within_codec_error

SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)
# Finite values whose range float32 can still decode (uint8 refuses wider ranges, tested elsewhere).
FINITE32 = st.floats(-2.0**100, 2.0**100, width=32)
FINITE16 = st.floats(-65504, 65504, width=16)


@settings(max_examples=150, deadline=None)
@given(x=hnp.arrays(np.float32, SHAPES, elements=FINITE32), codec=st.sampled_from(CODECS))
def test_any_finite_float32_tensor_round_trips_within_the_bound(x: np.ndarray, codec: str) -> None:
    if codec.startswith("fp16") and x.size and np.abs(x).max() > 65504:
        x = x / np.float32(np.abs(x).max() / 60000)  # beyond float16 is refused, tested elsewhere
    assert_within_codec_error(parse_codec(codec), x, encode_tensor("x", x, codec))


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float16, SHAPES, elements=FINITE16), codec=st.sampled_from(CODECS))
def test_any_finite_float16_tensor_round_trips_within_the_bound(x: np.ndarray, codec: str) -> None:
    assert_within_codec_error(parse_codec(codec), x, encode_tensor("x", x, codec))


@settings(max_examples=80, deadline=None)
@given(x=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int16, np.uint32, np.bool_]), SHAPES),
       codec=st.sampled_from(["raw", "raw+zstd"]))
def test_raw_is_bit_exact_for_anything(x: np.ndarray, codec: str) -> None:
    assert encode_tensor("x", x, codec).array().tobytes() == x.tobytes()


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)),
       codec=st.sampled_from([c for c in CODECS if not c.startswith("raw")]))
def test_a_lossy_codec_either_keeps_its_bound_or_refuses_naming_the_tensor(x: np.ndarray, codec: str) -> None:
    try:
        tensor = encode_tensor("act", x, codec)
    except ValueError as exc:
        assert str(exc).startswith("tensor 'act': ")
        assert not np.all(np.isfinite(x)) or np.abs(x.astype(np.float64)).max() > 65504 or "too wide" in str(exc)
        return
    assert np.all(np.isfinite(x))
    assert_within_codec_error(parse_codec(codec), x, tensor)
