"""The numpy reference executor against LiteRT: real third-party models and one small model per op."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.toolchain.tflite_writer import write_tflite
from worker.errors import ModelFormatError, UnsupportedOpError
from worker.executor import LiteRTRunner, NumpyRunner
from worker.graph import Graph, Operator, Quantization, Tensor, default_layers

THIRD_PARTY = Path(__file__).resolve().parents[3] / "build" / "third_party"
RTOL = 1e-4
SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6, TANH = 0, 1, 2, 3, 4


def third_party(name: str) -> Path:
    """Path of a downloaded third-party model; fails (never skips) when it is missing."""
    path = THIRD_PARTY / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make third-party`")
    return path


def random_feeds(specs: list, rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Seeded random values for every input of a model."""
    return {s.name: (rng.standard_normal(s.shape) * scale).astype(s.dtype) for s in specs}


def assert_matches(model: str | Path | bytes, rng: np.random.Generator, scale: float = 1.0,
                   reference: bytes | None = None) -> None:
    """NumpyRunner and LiteRT agree on every output, within RTOL of the output's largest value.

    LiteRT runs ``reference`` instead of ``model`` when given (an equivalent model it accepts).
    """
    numpy_runner = NumpyRunner(model)
    lite = LiteRTRunner(reference or (model if isinstance(model, bytes) else str(model)))
    assert [s.name for s in numpy_runner.inputs] == [s.name for s in lite.inputs]
    feeds = random_feeds(lite.inputs, rng, scale)
    expected, got = lite.run(feeds), numpy_runner.run(feeds)
    assert got.keys() == expected.keys()
    for spec in numpy_runner.outputs:
        want, have = expected[spec.name], got[spec.name]
        assert have.shape == want.shape == spec.shape, spec.name
        assert have.dtype == want.dtype, spec.name
        peak = float(np.abs(want).max())
        error = float(np.abs(have.astype(np.float64) - want).max())
        assert error <= RTOL * max(peak, 1e-6), f"{spec.name}: max error {error}, max value {peak}"


# --- real models ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["face_detection_short_range.tflite", "palm_detection_lite.tflite",
                                  "hand_landmark_lite.tflite", "face_landmark.tflite"])
def test_third_party_model_matches_litert(name: str) -> None:
    assert_matches(third_party(name), np.random.default_rng(7))


def test_custom_op_is_rejected_when_the_model_is_loaded() -> None:
    with pytest.raises(UnsupportedOpError, match=r"operator \d+ \(CUSTOM:Convolution2DTransposeBias\)"):
        NumpyRunner(third_party("selfie_segmentation.tflite"))


# --- small models built on the fly ---------------------------------------------------------


class Builder:
    """Collects the tensors and operators of a small graph, then writes it as .tflite bytes."""

    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.operators: list[Operator] = []
        self.inputs: list[int] = []

    def tensor(self, shape: tuple[int, ...], dtype: type = np.float32,
               data: np.ndarray | None = None, quantization: Quantization | None = None) -> int:
        """Add a tensor; returns its index."""
        self.tensors.append(Tensor(f"t{len(self.tensors)}", tuple(shape), np.dtype(dtype), data,
                                   quantization))
        return len(self.tensors) - 1

    def input(self, *shape: int) -> int:
        """Add a float32 graph input."""
        self.inputs.append(self.tensor(shape))
        return self.inputs[-1]

    def const(self, value: np.ndarray | list, dtype: type = np.float32,
              quantization: Quantization | None = None) -> int:
        """Add a constant tensor holding ``value``."""
        data = np.asarray(value, dtype)
        return self.tensor(data.shape, dtype, data, quantization)

    def weights(self, rng: np.random.Generator, *shape: int) -> int:
        """Add a constant float32 tensor of random weights."""
        return self.const(rng.standard_normal(shape) * 0.5)

    def op(self, kind: str, inputs: list[int], shape: tuple[int, ...], options_type: str = "",
           dtype: type = np.float32, **options: object) -> int:
        """Add an operator with one output of ``shape``; returns the output tensor."""
        out = self.tensor(shape, dtype)
        self.operators.append(Operator(kind, tuple(inputs), (out,), options_type, options))
        return out

    def model(self, *outputs: int) -> bytes:
        """The graph with ``outputs`` as its outputs, as .tflite bytes."""
        graph = Graph("test", self.tensors, self.operators, self.inputs, list(outputs), [])
        graph.layers = default_layers(graph)
        return write_tflite(graph)


Case = Callable[[Builder, np.random.Generator], int]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    """Register a small-model case: ``fn`` builds the graph and returns its output tensor."""
    CASES[fn.__name__] = fn
    return fn


def conv(b: Builder, x: int, w: int, bias: int, shape: tuple[int, ...], padding: int,
         stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
         activation: int = NONE) -> int:
    """Add a CONV_2D (filter OHWI)."""
    return b.op("CONV_2D", [x, w, bias], shape, "Conv2DOptions", padding=padding,
                stride_h=stride[0], stride_w=stride[1], dilation_h_factor=dilation[0],
                dilation_w_factor=dilation[1], fused_activation_function=activation)


def depthwise(b: Builder, x: int, w: int, bias: int, shape: tuple[int, ...], padding: int,
              multiplier: int, stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1),
              activation: int = NONE) -> int:
    """Add a DEPTHWISE_CONV_2D (filter [1, kh, kw, c * multiplier])."""
    return b.op("DEPTHWISE_CONV_2D", [x, w, bias], shape, "DepthwiseConv2DOptions",
                padding=padding, stride_h=stride[0], stride_w=stride[1],
                depth_multiplier=multiplier, dilation_h_factor=dilation[0],
                dilation_w_factor=dilation[1], fused_activation_function=activation)


def pool(b: Builder, kind: str, x: int, shape: tuple[int, ...], padding: int, size: tuple[int, int],
         stride: tuple[int, int], activation: int = NONE) -> int:
    """Add a MAX_POOL_2D or AVERAGE_POOL_2D."""
    return b.op(kind, [x], shape, "Pool2DOptions", padding=padding, stride_h=stride[0],
                stride_w=stride[1], filter_height=size[0], filter_width=size[1],
                fused_activation_function=activation)


@case
def conv_same_3x3(b: Builder, rng: np.random.Generator) -> int:
    return conv(b, b.input(1, 8, 8, 3), b.weights(rng, 4, 3, 3, 3), b.weights(rng, 4), (1, 8, 8, 4), SAME)


@case
def conv_same_stride2_odd_size_relu(b: Builder, rng: np.random.Generator) -> int:
    # 13 x 12 with a 5 x 5 filter and stride 2: uneven SAME padding on one axis only.
    return conv(b, b.input(1, 13, 12, 3), b.weights(rng, 6, 5, 5, 3), b.weights(rng, 6),
                (1, 7, 6, 6), SAME, (2, 2), activation=RELU)


@case
def conv_valid_stride2_relu6(b: Builder, rng: np.random.Generator) -> int:
    return conv(b, b.input(2, 11, 9, 4), b.weights(rng, 5, 3, 3, 4), b.weights(rng, 5),
                (2, 5, 4, 5), VALID, (2, 2), activation=RELU6)


@case
def conv_same_dilated_relu(b: Builder, rng: np.random.Generator) -> int:
    return conv(b, b.input(1, 10, 9, 3), b.weights(rng, 4, 3, 3, 3), b.weights(rng, 4),
                (1, 10, 9, 4), SAME, dilation=(2, 2), activation=RELU)


@case
def conv_valid_dilated(b: Builder, rng: np.random.Generator) -> int:
    return conv(b, b.input(1, 12, 12, 2), b.weights(rng, 3, 3, 2, 2), b.weights(rng, 3),
                (1, 8, 10, 3), VALID, dilation=(2, 2), activation=RELU_N1_TO_1)


@case
def conv_1x1_stride2(b: Builder, rng: np.random.Generator) -> int:
    return conv(b, b.input(1, 7, 6, 8), b.weights(rng, 5, 1, 1, 8), b.weights(rng, 5), (1, 4, 3, 5),
                SAME, (2, 2))


@case
def conv_rectangular_filter_mixed_strides(b: Builder, rng: np.random.Generator) -> int:
    return conv(b, b.input(1, 9, 10, 3), b.weights(rng, 4, 3, 2, 3), b.weights(rng, 4), (1, 5, 10, 4),
                SAME, (2, 1), (1, 2))


@case
def conv_float16_weights(b: Builder, rng: np.random.Generator) -> int:
    w16 = b.const(rng.standard_normal((4, 3, 3, 3)) * 0.5, np.float16)
    bias16 = b.const(rng.standard_normal(4), np.float16)
    w = b.op("DEQUANTIZE", [w16], (4, 3, 3, 3), "DequantizeOptions")
    bias = b.op("DEQUANTIZE", [bias16], (4,))
    return conv(b, b.input(1, 6, 6, 3), w, bias, (1, 6, 6, 4), SAME, activation=RELU)


@case
def fully_connected_int8_weights(b: Builder, rng: np.random.Generator) -> int:
    q = rng.integers(-127, 128, (5, 12))
    w8 = b.const(q, np.int8, Quantization(np.array([0.02], np.float32), np.array([3])))
    w = b.op("DEQUANTIZE", [w8], (5, 12), "DequantizeOptions")
    return b.op("FULLY_CONNECTED", [b.input(1, 12), w, b.weights(rng, 5)], (1, 5),
                "FullyConnectedOptions", fused_activation_function=NONE)


@case
def fully_connected_int8_per_axis_weights(b: Builder, rng: np.random.Generator) -> int:
    quant = Quantization(np.array([0.01, 0.02, 0.03], np.float32), np.zeros(3, np.int64), axis=0)
    w8 = b.const(rng.integers(-127, 128, (3, 6)), np.int8, quant)
    w = b.op("DEQUANTIZE", [w8], (3, 6), "DequantizeOptions")
    return b.op("FULLY_CONNECTED", [b.input(1, 6), w, b.weights(rng, 3)], (1, 3),
                "FullyConnectedOptions")


@case
def add_uint8_constant(b: Builder, rng: np.random.Generator) -> int:
    quant = Quantization(np.array([0.05], np.float32), np.array([128]))
    offsets = b.op("DEQUANTIZE", [b.const(rng.integers(0, 256, (2, 6)), np.uint8, quant)], (2, 6))
    return b.op("ADD", [b.input(2, 6), offsets], (2, 6), "AddOptions")


@case
def depthwise_same_relu6(b: Builder, rng: np.random.Generator) -> int:
    return depthwise(b, b.input(1, 9, 8, 4), b.weights(rng, 1, 3, 3, 4), b.weights(rng, 4),
                     (1, 9, 8, 4), SAME, 1, activation=RELU6)


@case
def depthwise_multiplier2_valid_stride2(b: Builder, rng: np.random.Generator) -> int:
    return depthwise(b, b.input(1, 11, 10, 3), b.weights(rng, 1, 3, 3, 6), b.weights(rng, 6),
                     (1, 5, 4, 6), VALID, 2, (2, 2))


@case
def depthwise_multiplier2_same_dilated(b: Builder, rng: np.random.Generator) -> int:
    return depthwise(b, b.input(1, 9, 9, 3), b.weights(rng, 1, 5, 3, 6), b.weights(rng, 6),
                     (1, 5, 9, 6), SAME, 2,
                     (2, 1), (2, 2), activation=RELU)


@case
def fully_connected_flattens(b: Builder, rng: np.random.Generator) -> int:
    return b.op("FULLY_CONNECTED", [b.input(2, 3, 8), b.weights(rng, 5, 8), b.weights(rng, 5)],
                (6, 5), "FullyConnectedOptions", fused_activation_function=RELU)


@case
def fully_connected_keep_num_dims_no_bias(b: Builder, rng: np.random.Generator) -> int:
    return b.op("FULLY_CONNECTED", [b.input(2, 3, 8), b.weights(rng, 5, 8), -1], (2, 3, 5),
                "FullyConnectedOptions", keep_num_dims=True)


@case
def max_pool_same(b: Builder, rng: np.random.Generator) -> int:
    return pool(b, "MAX_POOL_2D", b.input(1, 9, 8, 3), (1, 5, 4, 3), SAME, (3, 3), (2, 2))


@case
def max_pool_valid_relu(b: Builder, rng: np.random.Generator) -> int:
    return pool(b, "MAX_POOL_2D", b.input(1, 8, 9, 3), (1, 4, 4, 3), VALID, (2, 2), (2, 2), RELU)


@case
def average_pool_same(b: Builder, rng: np.random.Generator) -> int:
    return pool(b, "AVERAGE_POOL_2D", b.input(1, 9, 8, 3), (1, 5, 4, 3), SAME, (3, 3), (2, 2))


@case
def average_pool_same_wide_filter(b: Builder, rng: np.random.Generator) -> int:
    # A 4 x 4 filter over 5 x 5: corner windows hold as few as 4 valid elements of 16.
    return pool(b, "AVERAGE_POOL_2D", b.input(1, 5, 5, 2), (1, 3, 3, 2), SAME, (4, 4), (2, 2))


@case
def average_pool_valid_global(b: Builder, rng: np.random.Generator) -> int:
    return pool(b, "AVERAGE_POOL_2D", b.input(1, 6, 5, 4), (1, 1, 1, 4), VALID, (6, 5), (6, 5), RELU6)


@case
def activations(b: Builder, rng: np.random.Generator) -> int:
    x = b.input(1, 4, 5, 6)
    outputs = [b.op(kind, [x], (1, 4, 5, 6)) for kind in
               ("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH")]
    return b.op("CONCATENATION", outputs, (6, 4, 5, 6), "ConcatenationOptions", axis=0)


@case
def prelu_channel_alpha(b: Builder, rng: np.random.Generator) -> int:
    return b.op("PRELU", [b.input(1, 4, 5, 6), b.weights(rng, 1, 1, 6)], (1, 4, 5, 6))


@case
def prelu_scalar_alpha(b: Builder, rng: np.random.Generator) -> int:
    return b.op("PRELU", [b.input(1, 3, 4), b.const([0.3])], (1, 3, 4))


@case
def prelu_full_alpha(b: Builder, rng: np.random.Generator) -> int:
    return b.op("PRELU", [b.input(1, 4, 5, 6), b.weights(rng, 4, 5, 6)], (1, 4, 5, 6))


@case
def softmax_2d(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SOFTMAX", [b.input(3, 10)], (3, 10), "SoftmaxOptions", beta=1.0)


@case
def softmax_1d(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SOFTMAX", [b.input(7)], (7,), "SoftmaxOptions", beta=2.0)


@case
def softmax_4d_beta(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SOFTMAX", [b.input(1, 3, 4, 7)], (1, 3, 4, 7), "SoftmaxOptions", beta=0.5)


@case
def add_constant_relu(b: Builder, rng: np.random.Generator) -> int:
    return b.op("ADD", [b.input(1, 4, 4, 3), b.weights(rng, 3)], (1, 4, 4, 3), "AddOptions",
                fused_activation_function=RELU)


@case
def sub_broadcast(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SUB", [b.input(1, 4, 4, 3), b.input(1, 1, 1, 3)], (1, 4, 4, 3), "SubOptions",
                fused_activation_function=NONE)


@case
def mul_two_way_broadcast_relu6(b: Builder, rng: np.random.Generator) -> int:
    return b.op("MUL", [b.input(1, 4, 1, 3), b.input(1, 1, 5, 3)], (1, 4, 5, 3), "MulOptions",
                fused_activation_function=RELU6)


@case
def maximum_minimum(b: Builder, rng: np.random.Generator) -> int:
    x, y = b.input(2, 3, 4), b.input(2, 3, 4)
    high = b.op("MAXIMUM", [x, y], (2, 3, 4), "MaximumMinimumOptions")
    low = b.op("MINIMUM", [x, b.weights(rng, 4)], (2, 3, 4), "MaximumMinimumOptions")
    return b.op("ADD", [high, low], (2, 3, 4), "AddOptions")


@case
def concatenation_negative_axis(b: Builder, rng: np.random.Generator) -> int:
    # No fused activation here: TFLite's own kernel refuses one and XNNPACK ignores it (see
    # test_concatenation_applies_its_fused_activation).
    return b.op("CONCATENATION", [b.input(1, 3, 3, 2), b.input(1, 3, 3, 5), b.weights(rng, 1, 3, 3, 1)],
                (1, 3, 3, 8), "ConcatenationOptions", axis=-1, fused_activation_function=NONE)


@case
def reshape_from_options(b: Builder, rng: np.random.Generator) -> int:
    return b.op("RESHAPE", [b.input(1, 4, 6, 2)], (1, 12, 4), "ReshapeOptions",
                new_shape=np.array([1, -1, 4], np.int32))


@case
def reshape_from_shape_tensor(b: Builder, rng: np.random.Generator) -> int:
    return b.op("RESHAPE", [b.input(1, 4, 6, 2), b.const([-1, 6], np.int32)], (8, 6))


@case
def pad(b: Builder, rng: np.random.Generator) -> int:
    paddings = b.const([[0, 0], [1, 2], [2, 1], [0, 3]], np.int32)
    return b.op("PAD", [b.input(1, 3, 4, 2), paddings], (1, 6, 7, 5), "PadOptions")


def strided_slice(b: Builder, x: int, begin: list[int], end: list[int], strides: list[int],
                  shape: tuple[int, ...], **masks: int) -> int:
    """Add a STRIDED_SLICE with constant begin, end and strides."""
    return b.op("STRIDED_SLICE", [x, b.const(begin, np.int32), b.const(end, np.int32),
                                  b.const(strides, np.int32)], shape, "StridedSliceOptions", **masks)


@case
def strided_slice_masks(b: Builder, rng: np.random.Generator) -> int:
    # Axis 0 and 3 masked away, axis 1 from 1 step 2, axis 2 from -5 to -1.
    return strided_slice(b, b.input(2, 7, 8, 5), [1, 1, -5, 3], [0, 7, -1, 0], [1, 2, 1, 1],
                         (2, 3, 4, 5), begin_mask=0b1001, end_mask=0b1001)


@case
def strided_slice_shrink_and_reverse(b: Builder, rng: np.random.Generator) -> int:
    # Axis 0 shrunk to index 0, axis 1 reversed over the whole axis, axis 2 shrunk at -2.
    return strided_slice(b, b.input(1, 6, 5, 4), [0, 0, -2, 1], [1, 0, -1, 4], [1, -1, 1, 1],
                         (6, 3), begin_mask=0b0010, end_mask=0b0010, shrink_axis_mask=0b0101)


@case
def strided_slice_clamped_out_of_range(b: Builder, rng: np.random.Generator) -> int:
    return strided_slice(b, b.input(3, 10), [-20, 2], [20, 100], [2, 3], (2, 3))


@case
def strided_slice_ellipsis(b: Builder, rng: np.random.Generator) -> int:
    return strided_slice(b, b.input(2, 6, 5, 4), [0, 1], [0, 3], [1, 1], (2, 6, 5, 2),
                         ellipsis_mask=0b01)


@case
def strided_slice_new_axis(b: Builder, rng: np.random.Generator) -> int:
    return strided_slice(b, b.input(6, 5), [0, 0, 1], [0, 0, 4], [1, 1, 1], (1, 6, 3),
                         new_axis_mask=0b001, begin_mask=0b010, end_mask=0b010)


@case
def strided_slice_offset(b: Builder, rng: np.random.Generator) -> int:
    # With ``offset`` the end is relative to the begin: rows 1..3, columns -4..-2.
    return strided_slice(b, b.input(6, 5), [1, -4], [3, 2], [1, 1], (3, 2), offset=True)


@case
def strided_slice_negative_strides(b: Builder, rng: np.random.Generator) -> int:
    return strided_slice(b, b.input(6, 5), [-1, 4], [-7, 0], [-2, -3], (3, 2))


@case
def reduce_max_keep_dims(b: Builder, rng: np.random.Generator) -> int:
    return b.op("REDUCE_MAX", [b.input(2, 5, 6, 3), b.const([1, 2], np.int32)], (2, 1, 1, 3),
                "ReducerOptions", keep_dims=True)


@case
def mean_negative_axis(b: Builder, rng: np.random.Generator) -> int:
    return b.op("MEAN", [b.input(2, 5, 6, 3), b.const([-1], np.int32)], (2, 5, 6), "ReducerOptions",
                keep_dims=False)


@case
def mean_spatial_keep_dims(b: Builder, rng: np.random.Generator) -> int:
    return b.op("MEAN", [b.input(1, 7, 7, 8), b.const([1, 2], np.int32)], (1, 1, 1, 8),
                "ReducerOptions", keep_dims=True)


@case
def mean_every_axis(b: Builder, rng: np.random.Generator) -> int:
    return b.op("MEAN", [b.input(2, 5, 3), b.const([0, 1, 2], np.int32)], (), "ReducerOptions",
                keep_dims=False)


@case
def sum_scalar_axis_keep_dims(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SUM", [b.input(2, 5, 3), b.const(1, np.int32)], (2, 1, 3), "ReducerOptions",
                keep_dims=True)


@case
def sum_two_axes(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SUM", [b.input(2, 5, 6, 3), b.const([0, 2], np.int32)], (5, 3), "ReducerOptions",
                keep_dims=False)


def resize(b: Builder, shape: tuple[int, ...], size: tuple[int, int], **flags: bool) -> int:
    """Add an input of ``shape`` and a RESIZE_BILINEAR of it to ``size``."""
    x = b.input(*shape)
    return b.op("RESIZE_BILINEAR", [x, b.const(list(size), np.int32)],
                (shape[0], *size, shape[3]), "ResizeBilinearOptions", **flags)


@case
def resize_bilinear_half_pixel_up(b: Builder, rng: np.random.Generator) -> int:
    return resize(b, (1, 6, 5, 3), (12, 13), align_corners=False, half_pixel_centers=True)


@case
def resize_bilinear_align_corners(b: Builder, rng: np.random.Generator) -> int:
    return resize(b, (1, 6, 5, 3), (11, 9), align_corners=True, half_pixel_centers=False)


@case
def resize_bilinear_half_pixel_down(b: Builder, rng: np.random.Generator) -> int:
    return resize(b, (1, 9, 7, 2), (4, 3), align_corners=False, half_pixel_centers=True)


@case
def resize_bilinear_plain_down(b: Builder, rng: np.random.Generator) -> int:
    return resize(b, (2, 9, 7, 2), (4, 5), align_corners=False, half_pixel_centers=False)


@case
def squeeze_dims(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SQUEEZE", [b.input(1, 4, 1, 3, 1)], (1, 4, 3), "SqueezeOptions",
                squeeze_dims=np.array([2, -1], np.int32))


@case
def squeeze_all(b: Builder, rng: np.random.Generator) -> int:
    return b.op("SQUEEZE", [b.input(1, 4, 1, 3)], (4, 3), "SqueezeOptions")


@case
def expand_dims_negative_axis(b: Builder, rng: np.random.Generator) -> int:
    return b.op("EXPAND_DIMS", [b.input(2, 3, 4), b.const(-2, np.int32)], (2, 3, 1, 4),
                "ExpandDimsOptions")


@case
def transpose(b: Builder, rng: np.random.Generator) -> int:
    return b.op("TRANSPOSE", [b.input(2, 3, 4, 5), b.const([0, 3, 1, 2], np.int32)], (2, 5, 3, 4),
                "TransposeOptions")


@pytest.mark.parametrize("name", sorted(CASES))
def test_small_model_matches_litert(name: str) -> None:
    rng = np.random.default_rng(sorted(CASES).index(name))
    b = Builder()
    out = CASES[name](b, rng)
    # Scaled inputs reach past the clip points of RELU6 and HARD_SWISH.
    assert_matches(b.model(out), rng, scale=4.0)


@pytest.mark.parametrize("absent", ["index -1", "omitted"])
@pytest.mark.parametrize("kind", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_missing_bias_is_zero(kind: str, absent: str) -> None:
    # LiteRT 2.3 refuses a float conv without bias and crashes on such a depthwise conv, so it
    # runs the same model with a zero bias instead.
    depthwise_kind = kind == "DEPTHWISE_CONV_2D"

    def build(bias: str) -> bytes:
        rng = np.random.default_rng(5)
        b = Builder()
        x = b.input(1, 7, 6, 2)
        w = b.weights(rng, 1, 3, 3, 4) if depthwise_kind else b.weights(rng, 4, 3, 3, 2)
        inputs = {"index -1": [x, w, -1], "omitted": [x, w],
                  "zero": [x, w, b.const(np.zeros(4))]}[bias]
        options = {"padding": SAME, "stride_h": 2, "stride_w": 1, "fused_activation_function": RELU}
        if depthwise_kind:
            options["depth_multiplier"] = 2
        options_type = "DepthwiseConv2DOptions" if depthwise_kind else "Conv2DOptions"
        return b.model(b.op(kind, inputs, (1, 4, 6, 4), options_type, **options))

    assert_matches(build(absent), np.random.default_rng(6), reference=build("zero"))


def _out_size(size: int, k: int, stride: int, dilation: int, padding: int) -> int:
    """Output size of one spatial axis of a window op (TFLite's formula)."""
    if padding == SAME:
        return -(-size // stride)
    return (size - (k - 1) * dilation - 1) // stride + 1


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"]),
       size=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from([SAME, VALID]), seed=st.integers(0, 2**16))
def test_window_geometry_matches_litert(kind: str, size: tuple[int, int], kernel: tuple[int, int],
                                        stride: tuple[int, int], dilation: tuple[int, int],
                                        padding: int, seed: int) -> None:
    if kind.endswith("POOL_2D"):
        dilation = (1, 1)
    out = [_out_size(size[i], kernel[i], stride[i], dilation[i], padding) for i in range(2)]
    if min(out) < 1:
        return  # the window does not fit: no such model
    rng = np.random.default_rng(seed)
    b = Builder()
    x = b.input(2, size[0], size[1], 3)
    if kind == "CONV_2D":
        y = conv(b, x, b.weights(rng, 4, *kernel, 3), b.weights(rng, 4), (2, *out, 4), padding,
                 stride, dilation, RELU)
    elif kind == "DEPTHWISE_CONV_2D":
        y = depthwise(b, x, b.weights(rng, 1, *kernel, 6), b.weights(rng, 6), (2, *out, 6), padding,
                      2, stride, dilation)
    else:
        y = pool(b, kind, x, (2, *out, 3), padding, kernel, stride)
    assert_matches(b.model(y), rng)


def test_every_listed_op_is_covered() -> None:
    kinds = set()
    for fn in CASES.values():
        b = Builder()
        fn(b, np.random.default_rng(0))
        kinds.update(op.kind for op in b.operators)
    assert kinds >= {
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RELU",
        "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "PRELU", "SOFTMAX", "ADD", "SUB",
        "MUL", "CONCATENATION", "RESHAPE", "PAD", "STRIDED_SLICE", "REDUCE_MAX", "MEAN", "SUM",
        "DEQUANTIZE", "RESIZE_BILINEAR", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "MAXIMUM", "MINIMUM",
    }


# --- behaviour of the runner itself --------------------------------------------------------


def test_unsupported_builtin_is_rejected_at_load() -> None:
    b = Builder()
    x = b.input(1, 4)
    y = b.op("RELU", [x], (1, 4))
    out = b.op("LOG_SOFTMAX", [y], (1, 4), "LogSoftmaxOptions")
    with pytest.raises(UnsupportedOpError, match=r"^operator 1 \(LOG_SOFTMAX\): not supported"):
        NumpyRunner(b.model(out))


def test_concatenation_applies_its_fused_activation() -> None:
    # The schema allows a fused activation on CONCATENATION; LiteRT cannot be the reference for
    # it (the builtin kernel fails to prepare, the XNNPACK delegate drops the activation).
    b = Builder()
    x, y = b.input(1, 2, 3), b.input(1, 2, 2)
    out = b.op("CONCATENATION", [x, y], (1, 2, 5), "ConcatenationOptions", axis=-1,
               fused_activation_function=RELU6)
    rng = np.random.default_rng(3)
    feeds = {"t0": rng.standard_normal((1, 2, 3)).astype(np.float32) * 8,
             "t1": rng.standard_normal((1, 2, 2)).astype(np.float32) * 8}
    got = NumpyRunner(b.model(out)).run(feeds)[f"t{out}"]
    np.testing.assert_array_equal(got, np.clip(np.concatenate([feeds["t0"], feeds["t1"]], -1), 0, 6))


def test_fused_tanh_is_rejected_at_load() -> None:
    # TFLite's conv, pool and arithmetic kernels silently treat a fused TANH as NONE.
    b = Builder()
    out = b.op("ADD", [b.input(1, 4), b.input(1, 4)], (1, 4), "AddOptions", fused_activation_function=TANH)
    with pytest.raises(UnsupportedOpError, match=r"^operator 0 \(ADD\): fused activation TANH"):
        NumpyRunner(b.model(out))


def test_tensor_read_before_written_is_rejected_at_load() -> None:
    b = Builder()
    x = b.input(1, 4)
    later = b.tensor((1, 4))
    out = b.op("ADD", [x, later], (1, 4), "AddOptions")
    b.operators.append(Operator("RELU", (x,), (later,)))
    with pytest.raises(ModelFormatError, match=r"operator 0 \(ADD\) reads tensor 1 before"):
        NumpyRunner(b.model(out))


def test_bad_feeds_are_rejected() -> None:
    b = Builder()
    runner = NumpyRunner(b.model(b.op("RELU", [b.input(1, 4)], (1, 4))))
    with pytest.raises(ValueError, match="not given"):
        runner.run({})
    with pytest.raises(ValueError, match=r"shape \[1, 5\]"):
        runner.run({"t0": np.zeros((1, 5), np.float32)})


def test_outputs_do_not_alias_feeds(tmp_path: Path) -> None:
    b = Builder()
    out = b.op("RESHAPE", [b.input(2, 3)], (3, 2), "ReshapeOptions", new_shape=np.array([3, 2], np.int32))
    path = tmp_path / "reshape.tflite"
    path.write_bytes(b.model(out))
    runner = NumpyRunner(path)
    feed = np.arange(6, dtype=np.float32).reshape(2, 3)
    result = runner.run({"t0": feed})["t" + str(out)]
    result[...] = -1
    assert feed.ravel().tolist() == list(range(6))
    assert runner.run({"t0": feed})["t" + str(out)].ravel().tolist() == list(range(6))
