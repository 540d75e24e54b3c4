"""Planning problems shaped like deep converted models, built from synthetic layer graphs.

Converting real Keras models needs TensorFlow; the planner only needs each layer's op, MACs,
weights, output size and inputs. These graphs follow the published architectures at their
layer counts and tensor sizes (as a .tflite has them: batch norm and activations folded into the
convolutions), timed with the profile's op behaviour models:

- ``densenet121``: 4 dense blocks of 6, 12, 24 and 16 layers (1x1 then 3x3 conv, then a
  concatenation with everything before: 58 concatenations), transitions between them;
- ``nasnet-mobile``: 12 normal and 2 reduction cells, 5 branches of separable convolutions
  each, reading the two previous cells' outputs (hundreds of layers, wide cells);
- ``resnet50``: 16 bottleneck blocks in 4 stages with residual adds.

``scale`` shrinks the depth (blocks, layers per block) for fast tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..profile import Profile
from ._problem import DEFAULT_MAX_SHARDS, Problem, Unit, Value

F32 = 4


@dataclass
class _Graph:
    """Layers as they are added: op, MACs, weight bytes, output bytes and the layers they read."""

    layers: list[tuple[str, str, float, float, float, tuple[int, ...]]]
    frame_bytes: int

    def add(self, kind: str, macs: float, weights: float, out: float, *inputs: int) -> int:
        """Add a layer reading ``inputs`` (-1: the camera frame); its index."""
        self.layers.append((f"{kind.lower()}_{len(self.layers)}", kind, macs, weights, out, inputs))
        return len(self.layers) - 1

    def conv(self, x: int, hw: int, cin: int, cout: int, k: int = 1, stride: int = 1) -> int:
        """A k x k convolution of an hw x hw x cin input."""
        out = hw // stride
        return self.add("CONV_2D", out * out * k * k * cin * cout, F32 * (k * k * cin * cout + cout),
                        F32 * out * out * cout, x)

    def separable(self, x: int, hw: int, cin: int, cout: int, k: int, stride: int = 1) -> int:
        """Depthwise k x k then pointwise, twice (NASNet's separable block)."""
        for _ in range(2):
            out = hw // stride
            x = self.add("DEPTHWISE_CONV_2D", out * out * k * k * cin, F32 * k * k * cin, F32 * out * out * cin, x)
            x = self.conv(x, out, cin, cout)
            hw, cin, stride = out, cout, 1
        return x

    def weightless(self, kind: str, out: float, *inputs: int) -> int:
        """A pooling, add or concatenation."""
        return self.add(kind, out / F32, 0.0, out, *inputs)

    def imagenet_head(self, x: int, channels: int) -> None:
        """Global average pool, a 1000-way fully connected layer and softmax, as every ImageNet model ends."""
        x = self.weightless("MEAN", F32 * channels, x)
        x = self.add("FULLY_CONNECTED", channels * 1000, F32 * (channels * 1000 + 1000), F32 * 1000, x)
        self.weightless("SOFTMAX", F32 * 1000, x)


def resnet50(scale: float = 1.0) -> _Graph:
    """ResNet-50: bottleneck blocks with residual adds."""
    g = _Graph([], F32 * 224 * 224 * 3)
    x = g.conv(-1, 224, 3, 64, 7, 2)
    x = g.weightless("MAX_POOL_2D", F32 * 56 * 56 * 64, x)
    cin, hw = 64, 56
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for b in range(max(1, round(blocks * scale))):
            stride = 2 if b == 0 and stage > 0 else 1
            y = g.conv(x, hw, cin, width, 1, stride)
            y = g.conv(y, hw // stride, width, width, 3)
            y = g.conv(y, hw // stride, width, 4 * width)
            short = g.conv(x, hw, cin, 4 * width, 1, stride) if b == 0 else x
            hw, cin = hw // stride, 4 * width
            x = g.weightless("ADD", F32 * hw * hw * cin, y, short)
    g.imagenet_head(x, cin)
    return g


def densenet121(scale: float = 1.0) -> _Graph:
    """DenseNet-121: every layer concatenated onto everything before it in its block."""
    g = _Graph([], F32 * 224 * 224 * 3)
    x = g.conv(-1, 224, 3, 64, 7, 2)
    x = g.weightless("MAX_POOL_2D", F32 * 56 * 56 * 64, x)
    c, hw = 64, 56
    blocks = (6, 12, 24, 16)
    for index, layers in enumerate(blocks):
        for _ in range(max(1, round(layers * scale))):
            y = g.conv(x, hw, c, 128)
            y = g.conv(y, hw, 128, 32, 3)
            c += 32
            x = g.weightless("CONCATENATION", F32 * hw * hw * c, x, y)
        if index < len(blocks) - 1:
            x = g.conv(x, hw, c, c // 2)
            c, hw = c // 2, hw // 2
            x = g.weightless("AVERAGE_POOL_2D", F32 * hw * hw * c, x)
    g.imagenet_head(x, c)
    return g


def nasnet_mobile(scale: float = 1.0) -> _Graph:
    """NASNet-Mobile: cells of 5 branch pairs over the two previous cells' outputs, concatenated."""
    g = _Graph([], F32 * 224 * 224 * 3)
    stem = g.conv(-1, 224, 3, 32, 3, 2)
    prev, last, hw, c = stem, stem, 112, 32
    for stage, filters in enumerate((44, 88, 176)):
        strides = ([2] if stage else []) + [1] * max(1, round(4 * scale))
        for stride in strides:
            out_hw = hw // stride
            a = g.conv(last, hw, c, filters)           # squeeze both inputs to the cell's width
            b = g.conv(prev, hw, c, filters)
            combos = []
            for branch in range(5):
                left = g.separable(a if branch % 2 else b, hw, filters, filters, 5 if branch < 2 else 3, stride)
                right = g.separable(b if branch % 2 else a, hw, filters, filters, 3, stride)
                combos.append(g.weightless("ADD", F32 * out_hw * out_hw * filters, left, right))
            # (The next cell squeezes the older input too; its size is taken as the newer one's.)
            prev, last = last, g.weightless("CONCATENATION", F32 * out_hw * out_hw * 5 * filters, *combos)
            hw, c = out_hw, 5 * filters
    g.imagenet_head(last, c)
    return g


DEEP_DAGS: dict[str, Callable[[float], _Graph]] = {
    "densenet121": densenet121, "nasnet-mobile": nasnet_mobile, "resnet50": resnet50}


def deep_dag(name: str, profile: Profile, scale: float = 1.0, max_shards: int = DEFAULT_MAX_SHARDS,
             fps: float = 30.0) -> Problem:
    """The planning problem of one of DEEP_DAGS on ``profile``: a camera, then its layers in order."""
    g = DEEP_DAGS[name](scale)
    units = [Unit("camera", "recorder", "camera", (profile.camera_s,))]
    consumers: list[list[int]] = [[] for _ in range(len(g.layers) + 1)]
    for li, (lname, kind, macs, weights, out, inputs) in enumerate(g.layers):
        model = profile.op_model(kind)
        assert model is not None, f"profile {profile.name} has no behaviour model for {kind} (nor '*')"
        ways = min(max_shards, 8) if kind in ("CONV_2D", "FULLY_CONNECTED") else 1
        times = tuple(model.predict(macs / k, weights / k, out / k) for k in range(1, ways + 1))
        units.append(Unit(lname, name, kind, times, int(weights), int(out), 1.0, li))
        for x in inputs:
            consumers[x + 1].append(li + 1)
    values = [Value("frame", 0, tuple(consumers[0]), g.frame_bytes)]
    values += [Value(u.name, p, tuple(consumers[p]), u.output_bytes, is_output=p == len(g.layers))
               for p, u in enumerate(units[1:], 1)]
    return Problem(name, profile, tuple(units), tuple(values), fps, blocks=(name,))


__all__ = ["DEEP_DAGS", "deep_dag"]
