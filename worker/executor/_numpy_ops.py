"""Float32 kernels of the numpy reference executor, one per TFLite builtin, with TFLite's semantics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..graph import Operator, Tensor

# Upper bound on one im2col block: big enough for an efficient matmul, small enough that a
# 224x224 conv does not allocate hundreds of megabytes of patches at once.
_IM2COL_BYTES = 32 << 20

SAME, VALID = 0, 1
# NONE, RELU, RELU_N1_TO_1, RELU6. Not TANH (4) nor SIGN_BIT (5): TFLite's float kernels treat
# them as NONE (or refuse them), so applying them would disagree with LiteRT on the same file.
ACTIVATION_CODES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Call:
    """One operator ready to run: the operator and the graph tensors it reads (None if absent)."""

    index: int
    op: Operator
    inputs: tuple[Tensor | None, ...]
    outputs: tuple[Tensor, ...]

    def opt(self, name: str, default: int | float | bool = 0) -> int:
        """An integer option (flags, strides, masks) of the operator."""
        return int(self.op.option(name, default))


# The operator's input arrays, None for an absent optional one (a conv without bias). Any, not
# `np.ndarray | None`: each kernel indexes the inputs its operator requires, and checks the optional ones.
Args = Sequence[Any]
Kernel = Callable[[Call, Args], np.ndarray]


def activate(x: np.ndarray, code: int) -> np.ndarray:
    """Apply a fused activation (TFLite ActivationFunctionType) to ``x``."""
    if code == 0:
        return x
    if code == 1:
        return np.maximum(x, 0)
    if code == 2:
        return np.clip(x, -1, 1)
    if code == 3:
        return np.clip(x, 0, 6)
    raise ValueError(f"fused activation {code} is not supported")


def _window(size: int, k: int, stride: int, dilation: int, padding: int) -> tuple[int, int, int]:
    """Output size and (before, after) padding of one spatial axis, as TFLite computes them."""
    effective = (k - 1) * dilation + 1
    if padding == SAME:
        out = (size + stride - 1) // stride
    else:
        out = (size - effective + stride) // stride
    total = max((out - 1) * stride + effective - size, 0) if padding == SAME else 0
    return out, total // 2, total - total // 2


def _geometry(call: Call, x: np.ndarray, kh: int, kw: int, fill: float = 0.0
              ) -> tuple[np.ndarray, int, int, int, int, int, int]:
    """Pad ``x`` with ``fill`` for a kh x kw window; returns (padded, out_h, out_w, sh, sw, dh, dw)."""
    sh, sw = call.opt("stride_h", 1), call.opt("stride_w", 1)
    # Pool2DOptions has no dilation fields, so pools get the default of 1.
    dh, dw = call.opt("dilation_h_factor", 1), call.opt("dilation_w_factor", 1)
    padding = call.opt("padding")
    oh, top, bottom = _window(x.shape[1], kh, sh, dh, padding)
    ow, left, right = _window(x.shape[2], kw, sw, dw, padding)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    return padded, oh, ow, sh, sw, dh, dw


def _windows(padded: np.ndarray, oh: int, ow: int, kh: int, kw: int, sh: int, sw: int,
             dh: int, dw: int) -> np.ndarray:
    """A view [n, oh, ow, kh, kw, c] of every (strided, dilated) window of ``padded``."""
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    view = sliding_window_view(padded, (span_h, span_w), axis=(1, 2))  # [n, h', w', c, span_h, span_w]
    view = view[:, ::sh, ::sw, :, ::dh, ::dw][:, :oh, :ow]
    return view.transpose(0, 1, 2, 4, 5, 3)


def conv_2d(call: Call, args: Args) -> np.ndarray:
    """CONV_2D: NHWC input, OHWI filter, im2col in blocks of output rows then one matmul each."""
    x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
    o, kh, kw, ci = w.shape
    padded, oh, ow, sh, sw, dh, dw = _geometry(call, x, kh, kw)
    n = x.shape[0]
    # The patch rows are ordered (kh, kw, c), which is the filter's own layout: no copy of w.
    wmat = w.reshape(o, kh * kw * ci).T
    out = np.empty((n, oh, ow, o), np.float32)
    if kh == kw == 1:
        pixels = padded[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]
        np.matmul(pixels.reshape(-1, ci), wmat, out=out.reshape(-1, o))
    else:
        windows = _windows(padded, oh, ow, kh, kw, sh, sw, dh, dw)
        rows = max(1, _IM2COL_BYTES // (ow * kh * kw * ci * 4))
        for i in range(n):
            for r in range(0, oh, rows):
                patches = windows[i, r : r + rows].reshape(-1, kh * kw * ci)
                out[i, r : r + rows] = (patches @ wmat).reshape(-1, ow, o)
    if b is not None:
        out += b
    return activate(out, call.opt("fused_activation_function"))


def depthwise_conv_2d(call: Call, args: Args) -> np.ndarray:
    """DEPTHWISE_CONV_2D: filter [1, kh, kw, c*mult]; output channel c*mult+m reads input c."""
    x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
    _, kh, kw, co = w.shape
    c = x.shape[3]
    mult = co // c
    padded, oh, ow, sh, sw, dh, dw = _geometry(call, x, kh, kw)
    taps = w.reshape(kh, kw, c, mult)
    # One multiply-add per filter tap over the whole output keeps memory at one output's size.
    out = np.zeros((x.shape[0], oh, ow, c, mult), np.float32)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            pixels = padded[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw]
            out += pixels[..., None] * taps[i, j]
    out = out.reshape(x.shape[0], oh, ow, co)
    if b is not None:
        out += b
    return activate(out, call.opt("fused_activation_function"))


def max_pool_2d(call: Call, args: Args) -> np.ndarray:
    """MAX_POOL_2D; padding is -inf so that only the valid elements of a window count."""
    kh, kw = call.opt("filter_height", 1), call.opt("filter_width", 1)
    padded, oh, ow, sh, sw, _, _ = _geometry(call, args[0], kh, kw, fill=-np.inf)
    out = _windows(padded, oh, ow, kh, kw, sh, sw, 1, 1).max(axis=(3, 4))
    return activate(out, call.opt("fused_activation_function"))


def average_pool_2d(call: Call, args: Args) -> np.ndarray:
    """AVERAGE_POOL_2D: with SAME padding, the mean of the valid elements only (like TFLite)."""
    x = args[0]
    kh, kw = call.opt("filter_height", 1), call.opt("filter_width", 1)
    padded, oh, ow, sh, sw, _, _ = _geometry(call, x, kh, kw)
    total = _windows(padded, oh, ow, kh, kw, sh, sw, 1, 1).sum(axis=(3, 4))
    # Valid elements per window: the same pooling over ones, whose padding is zeros.
    ones = np.ones((1, x.shape[1], x.shape[2], 1), np.float32)
    counts = _windows(_geometry(call, ones, kh, kw)[0], oh, ow, kh, kw, sh, sw, 1, 1)
    return activate(total / counts.sum(axis=(3, 4)), call.opt("fused_activation_function"))


def fully_connected(call: Call, args: Args) -> np.ndarray:
    """FULLY_CONNECTED: weights [out, in]; input flattened to [-1, in] unless keep_num_dims."""
    x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
    out = x.reshape(-1, w.shape[1]) @ w.T
    if b is not None:
        out += b
    if call.opt("keep_num_dims"):
        out = out.reshape(*x.shape[:-1], w.shape[0])
    return activate(out, call.opt("fused_activation_function"))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The tanh form never overflows, unlike 1 / (1 + exp(-x)) for large negative x.
    return 0.5 * (1 + np.tanh(0.5 * x))


def softmax(call: Call, args: Args) -> np.ndarray:
    """SOFTMAX over the last axis, of beta * x."""
    x = args[0]
    beta = float(call.op.option("beta", 1.0))
    e = np.exp((x - x.max(axis=-1, keepdims=True)) * beta)
    return e / e.sum(axis=-1, keepdims=True)


def prelu(call: Call, args: Args) -> np.ndarray:
    """PRELU: x where x >= 0, alpha * x elsewhere (alpha broadcast)."""
    x, alpha = args[0], args[1]
    return np.where(x >= 0, x, x * alpha)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    def kernel(call: Call, args: Args) -> np.ndarray:
        return activate(fn(args[0], args[1]), call.opt("fused_activation_function"))
    kernel.__doc__ = f"Broadcasting {fn.__name__} with a fused activation."
    return kernel


def concatenation(call: Call, args: Args) -> np.ndarray:
    """CONCATENATION along ``axis`` (negative counts from the end)."""
    out = np.concatenate(list(args), axis=call.opt("axis"))
    return activate(out, call.opt("fused_activation_function"))


def reshape(call: Call, args: Args) -> np.ndarray:
    """RESHAPE to the shape tensor (a 1-D second input), else the ``new_shape`` option."""
    shape_arg = args[1] if len(args) > 1 else None
    if shape_arg is not None and shape_arg.ndim == 1:
        shape = shape_arg
    elif "new_shape" in call.op.options:
        shape = np.asarray(call.op.options["new_shape"])
    else:  # neither given: the converter recorded the shape on the output tensor
        shape = np.asarray(call.outputs[0].shape)
    return args[0].reshape([int(d) for d in shape])


def pad(call: Call, args: Args) -> np.ndarray:
    """PAD with zeros; paddings tensor [rank, 2] of (before, after)."""
    return np.pad(args[0], [(int(a), int(b)) for a, b in args[1]])


def strided_slice(call: Call, args: Args) -> np.ndarray:
    """STRIDED_SLICE with begin/end/strides tensors and the five masks, as a numpy index."""
    x, begin, end = args[0], args[1].tolist(), args[2].tolist()
    strides = args[3].tolist() if len(args) > 3 and args[3] is not None else [1] * len(begin)
    masks = {m: call.opt(m) for m in ("begin_mask", "end_mask", "ellipsis_mask",
                                      "new_axis_mask", "shrink_axis_mask")}
    index: list[object] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if call.opt("offset"):  # end is relative to begin
            e = b + e
        if masks["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            index.append(np.newaxis)
        elif masks["shrink_axis_mask"] & bit:
            index.append(0 if masks["begin_mask"] & bit else b)
        else:
            index.append(slice(None if masks["begin_mask"] & bit else b,
                               None if masks["end_mask"] & bit else e, s))
    return x[tuple(index)]


def _axes(x: np.ndarray, axes: np.ndarray) -> tuple[int, ...]:
    return tuple(sorted({int(a) % x.ndim for a in np.ravel(axes)}))


def _reducer(fn: Callable[..., np.ndarray]) -> Kernel:
    def kernel(call: Call, args: Args) -> np.ndarray:
        return fn(args[0], axis=_axes(args[0], args[1]), keepdims=bool(call.opt("keep_dims")))
    kernel.__doc__ = f"{fn.__name__} over the axes tensor, keeping reduced axes if keep_dims."
    return kernel


def dequantize(call: Call, args: Args) -> np.ndarray:
    """DEQUANTIZE float16, or int8/uint8/int16 with scale and zero point (per tensor or per axis)."""
    x = args[0]
    q = call.inputs[0].quantization if call.inputs[0] is not None else None
    if q is None or x.dtype.kind == "f":
        return x.astype(np.float32)
    shape = [1] * x.ndim
    if q.scale.size > 1:  # per-axis: one scale and zero point per slice along q.axis
        shape[q.axis] = -1
    scale = q.scale.astype(np.float32).reshape(shape)
    zero = np.broadcast_to(q.zero_point, q.scale.shape).astype(np.int32).reshape(shape)
    return (x.astype(np.int32) - zero).astype(np.float32) * scale


def _interpolation(out_size: int, in_size: int, align_corners: bool, half_pixel: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source position, lower and upper neighbour of every output row or column (TFLite's way)."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    pos = np.arange(out_size, dtype=np.float32)
    src = (pos + np.float32(0.5)) * scale - np.float32(0.5) if half_pixel else pos * scale
    lower = np.maximum(np.floor(src), 0).astype(np.int64)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    # TFLite weighs by (src - lower) even when lower was clamped: both neighbours are then the
    # same pixel and the weights still sum to one.
    return (src - lower).astype(np.float32), lower, upper


def resize_bilinear(call: Call, args: Args) -> np.ndarray:
    """RESIZE_BILINEAR to the size tensor [h, w], honouring align_corners / half_pixel_centers."""
    x = args[0]
    out_h, out_w = (int(v) for v in args[1])
    corners, half = bool(call.opt("align_corners")), bool(call.opt("half_pixel_centers"))
    fy, y0, y1 = _interpolation(out_h, x.shape[1], corners, half)
    fx, x0, x1 = _interpolation(out_w, x.shape[2], corners, half)
    fy, fx = fy[None, :, None, None], fx[None, None, :, None]
    top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
    bottom = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


def squeeze(call: Call, args: Args) -> np.ndarray:
    """SQUEEZE the ``squeeze_dims`` axes, or every size-1 axis when none are given."""
    dims = call.op.options.get("squeeze_dims")
    x = args[0]
    if dims is None or np.size(dims) == 0:
        return np.squeeze(x)
    return np.squeeze(x, axis=_axes(x, np.asarray(dims)))


def expand_dims(call: Call, args: Args) -> np.ndarray:
    """EXPAND_DIMS at the axis tensor's position (negative counts from the end of the output)."""
    x = args[0]
    axis = int(np.ravel(args[1])[0])
    return np.expand_dims(x, axis + x.ndim + 1 if axis < 0 else axis)


def transpose(call: Call, args: Args) -> np.ndarray:
    """TRANSPOSE by the permutation tensor."""
    return np.transpose(args[0], [int(p) for p in args[1]])


def _unary(fn: Callable[[np.ndarray], np.ndarray], doc: str) -> Kernel:
    def kernel(call: Call, args: Args) -> np.ndarray:
        return fn(args[0])
    kernel.__doc__ = doc
    return kernel


KERNELS: dict[str, Kernel] = {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "FULLY_CONNECTED": fully_connected,
    "MAX_POOL_2D": max_pool_2d,
    "AVERAGE_POOL_2D": average_pool_2d,
    "RELU": _unary(lambda x: activate(x, 1), "RELU: max(x, 0)."),
    "RELU_N1_TO_1": _unary(lambda x: activate(x, 2), "RELU_N1_TO_1: clip to [-1, 1]."),
    "RELU6": _unary(lambda x: activate(x, 3), "RELU6: clip to [0, 6]."),
    "TANH": _unary(np.tanh, "TANH."),
    "LOGISTIC": _unary(_sigmoid, "LOGISTIC: 1 / (1 + exp(-x))."),
    "HARD_SWISH": _unary(lambda x: x * np.clip(x + 3, 0, 6) / 6, "HARD_SWISH: x * relu6(x + 3) / 6."),
    "PRELU": prelu,
    "SOFTMAX": softmax,
    "ADD": _binary(np.add),
    "SUB": _binary(np.subtract),
    "MUL": _binary(np.multiply),
    "MAXIMUM": _binary(np.maximum),
    "MINIMUM": _binary(np.minimum),
    "CONCATENATION": concatenation,
    "RESHAPE": reshape,
    "PAD": pad,
    "STRIDED_SLICE": strided_slice,
    "REDUCE_MAX": _reducer(np.max),
    "MEAN": _reducer(np.mean),
    "SUM": _reducer(np.sum),
    "DEQUANTIZE": dequantize,
    "RESIZE_BILINEAR": resize_bilinear,
    "SQUEEZE": squeeze,
    "EXPAND_DIMS": expand_dims,
    "TRANSPOSE": transpose,
}
