"""Turn a block of a model spec into a TFLite graph with seeded random (or given) weights."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from worker.errors import ConfigError
from worker.graph import Graph, Layer, Operator, OptionValue, Tensor

from .spec import BlockSpec, LayerSpec

_ACT = {"none": 0, "relu": 1, "relu6": 3, "tanh": 4}
_SAME, _VALID = 0, 1
F32 = np.dtype("float32")


@dataclass
class Weights:
    """Where a block's weights come from: a seeded generator, overridden by named arrays."""

    rng: np.random.Generator
    given: Mapping[str, np.ndarray]
    source: str = "<weights>"
    used: set[str] = field(default_factory=set)

    def get(self, key: str, shape: tuple[int, ...], fan_in: int, kind: str = "kernel") -> np.ndarray:
        """The array ``key`` (e.g. ``conv1/kernel``) from the file, or a fresh random one."""
        if key in self.given:
            self.used.add(key)
            value = np.asarray(self.given[key], F32)
            if value.shape != shape:
                raise ConfigError(self.source, key, f"expected shape {list(shape)}, got {list(value.shape)}")
            return value
        if kind == "kernel":  # He initialisation keeps activations in range through deep stacks
            return self.rng.standard_normal(shape, dtype=F32) * np.float32(np.sqrt(2.0 / max(fan_in, 1)))
        if kind == "bias":
            return self.rng.standard_normal(shape, dtype=F32) * np.float32(0.01)
        if kind == "alpha":
            return self.rng.uniform(0.05, 0.3, shape).astype(F32)
        if kind == "scale":
            return self.rng.uniform(0.8, 1.2, shape).astype(F32)
        return self.rng.standard_normal(shape, dtype=F32) * np.float32(0.1)


class GraphBuilder:
    """Appends tensors and operators, grouping the operators of each layer."""

    def __init__(self, name: str, weights_dtype: str = "float32") -> None:
        self.graph = Graph(name, [], [], [], [], [])
        self._half = weights_dtype == "float16"
        self._layer_ops: list[int] = []
        self.shape: dict[int, tuple[int, ...]] = {}

    def tensor(self, name: str, shape: tuple[int, ...], data: np.ndarray | None = None,
               dtype: np.dtype = F32) -> int:
        """Add a tensor (an activation, or a constant when ``data`` is given); returns its index."""
        if data is not None:
            dtype = data.dtype
        self.graph.tensors.append(Tensor(name, tuple(int(d) for d in shape), np.dtype(dtype), data))
        return len(self.graph.tensors) - 1

    def weight(self, name: str, value: np.ndarray) -> int:
        """A float weight; stored as float16 and dequantized in the graph when the block asks."""
        if not self._half:
            return self.tensor(name, value.shape, value)
        half = self.tensor(name + "_fp16", value.shape, value.astype(np.float16))
        out = self.tensor(name, value.shape)
        self.op("DEQUANTIZE", (half,), (out,), "DequantizeOptions", {})
        return out

    def const_i32(self, name: str, values: list[int] | tuple[int, ...]) -> int:
        """An int32 constant (shapes, paddings, slice bounds, axes)."""
        return self.tensor(name, (len(values),), np.array(values, np.int32))

    def op(self, kind: str, inputs: tuple[int, ...], outputs: tuple[int, ...], options_type: str = "",
           options: Mapping[str, OptionValue] | None = None) -> None:
        """Append an operator to the current layer."""
        self.graph.operators.append(Operator(kind, inputs, outputs, options_type, dict(options or {})))
        self._layer_ops.append(len(self.graph.operators) - 1)

    def end_layer(self, name: str) -> None:
        """Close the current layer under ``name``."""
        self.graph.layers.append(Layer(name, tuple(self._layer_ops)))
        self._layer_ops = []

    def shape_of(self, t: int) -> tuple[int, ...]:
        """Shape of tensor ``t``."""
        return self.graph.tensors[t].shape


def build_block(block: BlockSpec, input_shapes: Mapping[str, tuple[int, ...]], weights: Weights,
                file: str = "<spec>") -> Graph:
    """Build the graph of one (non built-in) block; ``input_shapes`` maps edge source -> shape.

    ``file`` (the spec's path) is named in the ConfigError of a layer that does not fit its input.
    """
    g = GraphBuilder(block.name, block.weights)
    names: dict[str, int] = {}
    for edge in block.inputs:
        idx = g.tensor(edge.source, input_shapes[edge.source])
        g.graph.inputs.append(idx)
        names[edge.source] = idx
    previous = names[block.inputs[0].source]
    for layer in block.layers:
        srcs = [names[s] for s in layer.inputs] or [previous]
        try:
            previous = _emit(g, layer, srcs, weights)
        except ValueError as exc:
            raise ConfigError(weights.source if weights.given else file,
                              f"{block.name}.{layer.name}", str(exc)) from None
        names[layer.name] = previous
        g.end_layer(layer.name)
    g.graph.outputs = [names[o] for o in block.outputs]
    return g.graph


def _conv_out(size: int, k: int, stride: int, dilation: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    out = (size - (k - 1) * dilation - 1) // stride + 1
    if out < 1:
        raise ValueError(f"input of size {size} is smaller than the kernel ({k}, dilation {dilation})")
    return out


def _emit(g: GraphBuilder, layer: LayerSpec, srcs: list[int], w: Weights) -> int:
    p, name, x = layer.params, layer.name, srcs[0]
    shape = g.shape_of(x)
    t = layer.type
    if t in ("conv2d", "depthwise_conv2d"):
        if len(shape) != 4:
            raise ValueError(f"{t} needs an NHWC input, got shape {list(shape)}")
        (kh, kw), (sh, sw), (dh, dw) = p["kernel"], p["stride"], p["dilation"]
        cin = shape[3]
        oh = _conv_out(shape[1], kh, sh, dh, p["padding"])
        ow = _conv_out(shape[2], kw, sw, dw, p["padding"])
        opts: dict[str, OptionValue] = {
            "padding": _SAME if p["padding"] == "same" else _VALID, "stride_w": sw, "stride_h": sh,
            "fused_activation_function": _ACT[p["activation"]], "dilation_w_factor": dw,
            "dilation_h_factor": dh}
        if t == "conv2d":
            cout = p["filters"]
            kernel = g.weight(f"{name}/kernel", w.get(f"{name}/kernel", (cout, kh, kw, cin), kh * kw * cin))
            kind, otype = "CONV_2D", "Conv2DOptions"
        else:
            cout = cin * p["multiplier"]
            kernel = g.weight(f"{name}/kernel", w.get(f"{name}/kernel", (1, kh, kw, cout), kh * kw))
            kind, otype = "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"
            opts["depth_multiplier"] = p["multiplier"]
        bias = _bias(g, w, name, cout, p.get("use_bias", True))
        out = g.tensor(name, (shape[0], oh, ow, cout))
        g.op(kind, (x, kernel, bias), (out,), otype, opts)
        return out
    if t == "dense":
        units, fan_in = p["units"], int(np.prod(shape[1:]))
        kernel = g.weight(f"{name}/kernel", w.get(f"{name}/kernel", (units, fan_in), fan_in))
        bias = _bias(g, w, name, units, p["use_bias"])
        # TFLite's FULLY_CONNECTED cannot fuse tanh: it becomes a separate op of the same layer.
        fused = p["activation"] if p["activation"] != "tanh" else "none"
        out = g.tensor(name if fused == p["activation"] else f"{name}/linear", (shape[0], units))
        g.op("FULLY_CONNECTED", (x, kernel, bias), (out,), "FullyConnectedOptions",
             {"fused_activation_function": _ACT[fused]})
        if fused != p["activation"]:
            linear, out = out, g.tensor(name, (shape[0], units))
            g.op("TANH", (linear,), (out,))
        return out
    if t in ("maxpool2d", "avgpool2d"):
        (ph, pw) = p["pool"]
        (sh, sw) = p["stride"] or p["pool"]
        oh = _conv_out(shape[1], ph, sh, 1, p["padding"])
        ow = _conv_out(shape[2], pw, sw, 1, p["padding"])
        out = g.tensor(name, (shape[0], oh, ow, shape[3]))
        g.op("MAX_POOL_2D" if t == "maxpool2d" else "AVERAGE_POOL_2D", (x,), (out,), "Pool2DOptions",
             {"padding": _SAME if p["padding"] == "same" else _VALID, "stride_w": sw, "stride_h": sh,
              "filter_width": pw, "filter_height": ph, "fused_activation_function": 0})
        return out
    if t == "global_avgpool":
        out = g.tensor(name, (shape[0], shape[3]))
        g.op("MEAN", (x, g.const_i32(f"{name}/axes", [1, 2])), (out,), "ReducerOptions", {"keep_dims": False})
        return out
    if t in ("flatten", "reshape"):
        new = (shape[0], int(np.prod(shape[1:]))) if t == "flatten" else tuple(p["shape"])
        if -1 in new:
            known = int(np.prod([d for d in new if d != -1]))
            new = tuple(int(np.prod(shape)) // known if d == -1 else d for d in new)
        if int(np.prod(new)) != int(np.prod(shape)):
            raise ValueError(f"cannot reshape {list(shape)} to {list(new)}")
        out = g.tensor(name, new)
        g.op("RESHAPE", (x, g.const_i32(f"{name}/shape", new)), (out,), "ReshapeOptions",
             {"new_shape": np.array(new, np.int32)})
        return out
    if t in ("relu", "relu6", "tanh", "sigmoid", "hard_swish"):
        out = g.tensor(name, shape)
        kind = {"relu": "RELU", "relu6": "RELU6", "tanh": "TANH", "sigmoid": "LOGISTIC",
                "hard_swish": "HARD_SWISH"}[t]
        g.op(kind, (x,), (out,))
        return out
    if t == "softmax":
        out = g.tensor(name, shape)
        g.op("SOFTMAX", (x,), (out,), "SoftmaxOptions", {"beta": float(p["beta"])})
        return out
    if t == "prelu":
        alpha = g.weight(f"{name}/alpha", w.get(f"{name}/alpha", (shape[-1],), 0, "alpha"))
        out = g.tensor(name, shape)
        g.op("PRELU", (x, alpha), (out,))
        return out
    if t == "batch_norm":  # inference form: y = x * scale + offset, per channel
        scale = g.weight(f"{name}/scale", w.get(f"{name}/scale", (shape[-1],), 0, "scale"))
        offset = g.weight(f"{name}/offset", w.get(f"{name}/offset", (shape[-1],), 0, "offset"))
        mid = g.tensor(f"{name}/scaled", shape)
        g.op("MUL", (x, scale), (mid,), "MulOptions", {"fused_activation_function": 0})
        out = g.tensor(name, shape)
        g.op("ADD", (mid, offset), (out,), "AddOptions", {"fused_activation_function": 0})
        return out
    if t in ("add", "mul"):
        for s in srcs[1:]:
            if g.shape_of(s) != shape:
                raise ValueError(f"{t} inputs have shapes {[list(g.shape_of(s)) for s in srcs]}")
        acc = x
        for i, s in enumerate(srcs[1:], 1):
            out = g.tensor(name if i == len(srcs) - 1 else f"{name}/{i}", shape)
            last = i == len(srcs) - 1
            g.op(t.upper(), (acc, s), (out,), "AddOptions" if t == "add" else "MulOptions",
                 {"fused_activation_function": _ACT[p["activation"]] if last else 0})
            acc = out
        return acc
    if t == "concat":
        return _concat(g, name, srcs, p["axis"])
    if t == "pad":
        pads = list(p["padding"])
        if len(pads) != 4:
            raise ValueError("pad.padding is [top, bottom, left, right]")
        paddings = np.array([[0, 0], pads[0:2], pads[2:4], [0, 0]], np.int32)
        ptensor = g.tensor(f"{name}/paddings", (4, 2), paddings)
        out = g.tensor(name, (shape[0], shape[1] + pads[0] + pads[1], shape[2] + pads[2] + pads[3], shape[3]))
        g.op("PAD", (x, ptensor), (out,), "PadOptions", {})
        return out
    if t == "temporal_pyramid":
        return _pyramid(g, name, x, p["levels"])
    raise AssertionError(t)


def _bias(g: GraphBuilder, w: Weights, name: str, units: int, use_bias: bool) -> int:
    # LiteRT refuses (conv) or crashes on (depthwise) a float conv without a bias: give a zero one.
    value = w.get(f"{name}/bias", (units,), 0, "bias") if use_bias else np.zeros(units, F32)
    return g.weight(f"{name}/bias", value)


def _concat(g: GraphBuilder, name: str, srcs: list[int], axis: int) -> int:
    shapes = [g.shape_of(s) for s in srcs]
    rank = len(shapes[0])
    ax = axis % rank
    for s in shapes[1:]:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
            raise ValueError(f"concat inputs do not match outside axis {axis}: {[list(s) for s in shapes]}")
    out_shape = shapes[0][:ax] + (sum(s[ax] for s in shapes),) + shapes[0][ax + 1:]
    out = g.tensor(name, out_shape)
    g.op("CONCATENATION", tuple(srcs), (out,), "ConcatenationOptions",
         {"axis": ax, "fused_activation_function": 0})
    return out


def pyramid_ranges(length: int, levels: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of a temporal pyramid: the whole window, halves, quarters, ..."""
    ranges = []
    for level in range(levels):
        parts = 2 ** level
        for i in range(parts):
            lo = (i * length) // parts
            hi = max(((i + 1) * length) // parts, lo + 1)
            ranges.append((lo, hi))
    return ranges


def _pyramid(g: GraphBuilder, name: str, x: int, levels: int) -> int:
    """Max over each range of a [1, W, C] window, concatenated: [1, (2^levels - 1) * C]."""
    shape = g.shape_of(x)
    if len(shape) != 3:
        raise ValueError(f"temporal_pyramid needs a [1, W, C] window, got {list(shape)}")
    _, length, channels = shape
    if 2 ** (levels - 1) > length:
        raise ValueError(f"{levels} pyramid levels need a window of at least {2 ** (levels - 1)}, got {length}")
    axis = g.const_i32(f"{name}/axis", [1])
    parts = []
    for i, (lo, hi) in enumerate(pyramid_ranges(length, levels)):
        sliced = g.tensor(f"{name}/slice{i}", (1, hi - lo, channels))
        g.op("STRIDED_SLICE", (x, g.const_i32(f"{name}/begin{i}", [0, lo, 0]),
                               g.const_i32(f"{name}/end{i}", [1, hi, channels]),
                               g.const_i32(f"{name}/strides{i}", [1, 1, 1])), (sliced,),
             "StridedSliceOptions", {})
        pooled = g.tensor(f"{name}/max{i}", (1, channels))
        g.op("REDUCE_MAX", (sliced, axis), (pooled,), "ReducerOptions", {"keep_dims": False})
        parts.append(pooled)
    return _concat(g, name, parts, 1)
