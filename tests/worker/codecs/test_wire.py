"""Every codec through the real wire: TensorBatch and Result encoded, decoded, compared."""

from __future__ import annotations

import numpy as np
import pytest

from worker.wire import (
    CODECS,
    Result,
    Tensor,
    TensorBatch,
    decode,
    encode,
    encode_parts,
    encode_tensor,
    parse_codec,
)

from ._tensors import KINDS, assert_within_codec_error, relu

# Big enough for the wire to hand bytes over as views of the frame, small enough to be quick.
SHAPE = (1, 12, 12, 8)


def _inputs() -> dict[str, np.ndarray]:
    arrays = {f"{kind}/{dtype}": KINDS[kind](SHAPE, dtype, seed) for seed, (kind, dtype) in enumerate(
        (k, d) for k in sorted(KINDS) for d in ("float32", "float16"))}
    arrays["ids/int32"] = np.arange(96, dtype=np.int32).reshape(2, 48)  # travels raw in any codec
    arrays["scalar/float32"] = np.array(3.5, np.float32)
    return arrays


@pytest.mark.parametrize("codec", CODECS)
def test_a_batch_of_every_kind_round_trips(codec: str) -> None:
    inputs = _inputs()
    tensors = tuple(encode_tensor(name, x, codec) for name, x in inputs.items())
    batch = TensorBatch(epoch=4, stream="cam", tag=9, source="pi1:0.0.0", tensors=tensors)
    payload = encode(batch, None)
    got = decode(payload, None)
    assert got == batch
    frame = np.frombuffer(payload, np.uint8)
    for (name, x), sent, received in zip(inputs.items(), tensors, got.tensors, strict=True):
        assert (received.name, received.codec, received.dtype, received.shape) == (
            name, sent.codec, sent.dtype, sent.shape)
        assert bytes(received.params) == bytes(sent.params)
        np.testing.assert_array_equal(received.array(), sent.array())
        assert_within_codec_error(parse_codec(codec), x, received)
        if received.codec == "raw" and received.nbytes > 16:
            assert np.shares_memory(received.array(), frame), name  # zero-copy on decode


@pytest.mark.parametrize("codec", CODECS)
def test_results_carry_codecs_too(codec: str) -> None:
    x = relu((1, 10), "float32")
    result = Result(epoch=1, stream="cam", tag=3, tensors=(encode_tensor("prob", x, codec),), compute_ms=1.0,
                    transfer_ms=0.5, queue_ms=0.0)
    got = decode(encode(result, None), None)
    assert got == result
    assert_within_codec_error(parse_codec(codec), x, got.tensors[0])


def test_encoding_a_raw_tensor_hands_the_array_to_the_writer() -> None:
    """The one copy of a raw tensor's bytes on encode is the Avro body; a compressed one is its own bytes."""
    x = relu((64, 64), "float32")
    raw = encode_tensor("x", x, "raw")
    assert np.shares_memory(np.frombuffer(raw.data, np.float32), x)
    body = encode_parts(TensorBatch(epoch=0, stream="s", tag=0, source="a", tensors=(raw,)), None)[1]
    assert bytes(raw.data) in bytes(body)
    packed = encode_tensor("x", x, "uint8+zstd")
    assert packed.nbytes < x.nbytes / 4
    body = encode_parts(TensorBatch(epoch=0, stream="s", tag=0, source="a", tensors=(packed,)), None)[1]
    assert len(body) < packed.nbytes + 100


def test_old_style_tensors_still_decode_as_raw() -> None:
    """A Tensor built without codec or params (the defaults) is raw, as before codecs existed."""
    x = np.arange(6, dtype=np.float32)
    tensor = Tensor(name="x", dtype="float32", shape=(6,), data=x.tobytes())
    assert (tensor.codec, tensor.params) == ("raw", b"")
    batch = TensorBatch(epoch=1, stream="s", tag=0, source="a", tensors=(tensor,))
    got = decode(encode(batch, None), None)
    assert isinstance(got, TensorBatch)
    np.testing.assert_array_equal(got.tensors[0].array(), x)
