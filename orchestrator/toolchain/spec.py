"""Model specs (models/*.yaml): a stream graph of blocks, windows on its edges, layers in blocks.

Parsing validates everything a later step relies on, and a bad file gives one ConfigError that
names the file, the key path (``blocks[2].layers[0].filters``) and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.errors import ConfigError
from worker.stream import BUILTIN_STEPS, WINDOW_MODES, Window

from .._config import Validator, read_yaml

ACTIVATIONS = ("none", "relu", "relu6", "tanh")
WEIGHT_DTYPES = ("float32", "float16")

# Parameters of each layer type: name -> (kind, default). Kind "int2" is an int or [h, w].
_REQUIRED = object()
LAYER_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "conv2d": {"filters": ("int", _REQUIRED), "kernel": ("int2", _REQUIRED), "stride": ("int2", 1),
               "dilation": ("int2", 1), "padding": ("padding", "same"),
               "activation": ("activation", "none"), "use_bias": ("bool", True)},
    "depthwise_conv2d": {"kernel": ("int2", _REQUIRED), "stride": ("int2", 1),
                         "dilation": ("int2", 1), "padding": ("padding", "same"),
                         "multiplier": ("int", 1), "activation": ("activation", "none")},
    "dense": {"units": ("int", _REQUIRED), "activation": ("activation", "none"),
              "use_bias": ("bool", True)},
    "maxpool2d": {"pool": ("int2", 2), "stride": ("int2", None), "padding": ("padding", "valid")},
    "avgpool2d": {"pool": ("int2", 2), "stride": ("int2", None), "padding": ("padding", "valid")},
    "global_avgpool": {},
    "flatten": {},
    "reshape": {"shape": ("ints", _REQUIRED)},
    "relu": {}, "relu6": {}, "tanh": {}, "sigmoid": {}, "hard_swish": {},
    "softmax": {"beta": ("float", 1.0)},
    "prelu": {},
    "batch_norm": {},
    "add": {"activation": ("activation", "none")},
    "mul": {"activation": ("activation", "none")},
    "concat": {"axis": ("axis", -1)},
    "pad": {"padding": ("ints", _REQUIRED)},
    "temporal_pyramid": {"levels": ("int", 4)},
}
MULTI_INPUT = ("add", "mul", "concat")


@dataclass(frozen=True)
class InputSpec:
    """The camera-side input of the model: one tensor per tag."""

    name: str
    shape: tuple[int, ...]
    fps: float = 30.0


@dataclass(frozen=True)
class EdgeSpec:
    """An input of a block: the source (a block or the model input) and the window over it."""

    source: str
    window: Window = Window()


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a block; ``inputs`` empty means the previous layer (or the block's input)."""

    name: str
    type: str
    inputs: tuple[str, ...]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class BlockSpec:
    """A per-tag DAG of layers (a TFLite graph), or a built-in step such as optical flow.

    ``outputs`` are the layers whose results leave the block (default: the last layer); a
    block that feeds another block passes on its first output.
    """

    name: str
    inputs: tuple[EdgeSpec, ...]
    layers: tuple[LayerSpec, ...] = ()
    builtin: str = ""
    weights: str = "float32"
    outputs: tuple[str, ...] = ()

    @property
    def is_builtin(self) -> bool:
        """True for a built-in step (no .tflite is built for it)."""
        return bool(self.builtin)


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: blocks in dependency order, and which blocks' outputs are the results."""

    name: str
    input: InputSpec
    blocks: tuple[BlockSpec, ...]
    outputs: tuple[str, ...]
    description: str = ""
    source: str = field(default="", compare=False, repr=False)

    def block(self, name: str) -> BlockSpec:
        """The block called ``name``; KeyError if there is none."""
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a model spec file."""
    return parse_spec(read_yaml(path), str(path))


def parse_spec(raw: Any, file: str = "<spec>") -> ModelSpec:
    """Validate a spec already loaded from YAML (a mapping) into a ModelSpec."""
    v = _Validator(file)
    top = v.mapping(raw, "", {"name", "description", "input", "blocks", "outputs"})
    name = v.string(top.get("name"), "name")
    inp = v.mapping(top.get("input"), "input", {"name", "shape", "fps"})
    input_spec = InputSpec(v.string(inp.get("name", "frame"), "input.name"),
                           v.ints(inp.get("shape"), "input.shape", min_len=2),
                           v.number(inp.get("fps", 30.0), "input.fps", positive=True))
    raw_blocks = top.get("blocks")
    if not isinstance(raw_blocks, list) or not raw_blocks:
        raise ConfigError(file, "blocks", "expected a non-empty list of blocks")
    known = {input_spec.name}
    blocks: list[BlockSpec] = []
    layer_names: set[str] = set()
    for bi, rb in enumerate(raw_blocks):
        blocks.append(_block(v, rb, f"blocks[{bi}]", known))
        known.add(blocks[-1].name)
        for li, layer in enumerate(blocks[-1].layers):
            # Layer names are model-wide: cuts, shards and weight files name layers alone.
            if layer.name in layer_names or layer.name in known:
                raise ConfigError(file, f"blocks[{bi}].layers[{li}].name",
                                  f"a name unique in the model, {layer.name!r} is already used")
            layer_names.add(layer.name)
    outputs = top.get("outputs", [blocks[-1].name])
    if isinstance(outputs, str):
        outputs = [outputs]
    if not isinstance(outputs, list) or not outputs:
        raise ConfigError(file, "outputs", "expected a list of block names")
    for i, o in enumerate(outputs):
        if not isinstance(o, str) or o not in known or o == input_spec.name:
            raise ConfigError(file, f"outputs[{i}]", f"expected a block name, got {o!r}")
    return ModelSpec(name, input_spec, tuple(blocks), tuple(outputs),
                     str(top.get("description", "")), file)


def _block(v: _Validator, raw: Any, key: str, known: set[str]) -> BlockSpec:
    rb = v.mapping(raw, key, {"name", "inputs", "layers", "builtin", "weights", "outputs"})
    name = v.string(rb.get("name"), f"{key}.name")
    if name in known:
        raise ConfigError(v.file, f"{key}.name", f"a unique name, {name!r} is already used")
    raw_inputs = rb.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ConfigError(v.file, f"{key}.inputs", "expected a non-empty list of {from: NAME, window: ...}")
    edges = tuple(_edge(v, e, f"{key}.inputs[{i}]", known) for i, e in enumerate(raw_inputs))
    for i, e in enumerate(edges):
        # Graph inputs are named after their source: a block reads each source once.
        if any(e.source == earlier.source for earlier in edges[:i]):
            raise ConfigError(v.file, f"{key}.inputs[{i}].from",
                              f"each source once per block, {e.source!r} is already an input")
    weights = rb.get("weights", "float32")
    if weights not in WEIGHT_DTYPES:
        raise ConfigError(v.file, f"{key}.weights", f"one of {', '.join(WEIGHT_DTYPES)}, got {weights!r}")
    if "builtin" in rb:
        builtin = rb["builtin"]
        if not isinstance(builtin, str) or builtin not in BUILTIN_STEPS:
            raise ConfigError(v.file, f"{key}.builtin", f"one of {', '.join(BUILTIN_STEPS)}, got {builtin!r}")
        if "layers" in rb:
            raise ConfigError(v.file, f"{key}.layers", "a built-in block has no layers")
        return BlockSpec(name, edges, (), builtin, weights)
    raw_layers = rb.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ConfigError(v.file, f"{key}.layers", "expected a non-empty list of layers (or builtin: STEP)")
    names = {e.source for e in edges}
    layers = []
    for li, rl in enumerate(raw_layers):
        layer = _layer(v, rl, f"{key}.layers[{li}]", names, first=li == 0, n_edges=len(edges))
        layers.append(layer)
        names.add(layer.name)
    outs = rb.get("outputs", [layers[-1].name])
    if isinstance(outs, str):
        outs = [outs]
    layer_names = {layer.name for layer in layers}
    if not isinstance(outs, list) or not outs:
        raise ConfigError(v.file, f"{key}.outputs", "expected a list of layer names")
    for i, o in enumerate(outs):
        if not isinstance(o, str) or o not in layer_names:
            raise ConfigError(v.file, f"{key}.outputs[{i}]", f"a layer of this block, got {o!r}")
    return BlockSpec(name, edges, tuple(layers), "", weights, tuple(outs))


def _edge(v: _Validator, raw: Any, key: str, known: set[str]) -> EdgeSpec:
    if isinstance(raw, str):
        raw = {"from": raw}
    re_ = v.mapping(raw, key, {"from", "window"})
    source = v.string(re_.get("from"), f"{key}.from")
    if source not in known:
        raise ConfigError(v.file, f"{key}.from", f"the model input or an earlier block, got {source!r}")
    rw = re_.get("window")
    if rw is None:
        return EdgeSpec(source)
    if isinstance(rw, int) and not isinstance(rw, bool):
        rw = {"size": rw}
    w = v.mapping(rw, f"{key}.window", {"size", "stride", "mode"})
    size = v.integer(w.get("size"), f"{key}.window.size", minimum=1)
    stride = v.integer(w.get("stride", 1), f"{key}.window.stride", minimum=1)
    mode = w.get("mode", "stack")
    if mode not in WINDOW_MODES:
        raise ConfigError(v.file, f"{key}.window.mode", f"one of {', '.join(WINDOW_MODES)}, got {mode!r}")
    return EdgeSpec(source, Window(size, stride, mode))


def _layer(v: _Validator, raw: Any, key: str, names: set[str], first: bool, n_edges: int) -> LayerSpec:
    rl = v.mapping(raw, key, None)
    ltype = rl.get("type")
    if not isinstance(ltype, str) or ltype not in LAYER_PARAMS:
        raise ConfigError(v.file, f"{key}.type", f"one of {', '.join(LAYER_PARAMS)}, got {ltype!r}")
    allowed = LAYER_PARAMS[ltype]
    unknown = set(rl) - {"name", "type", "inputs"} - set(allowed)
    if unknown:
        raise ConfigError(v.file, f"{key}.{sorted(unknown)[0]}",
                          f"not a parameter of {ltype} (allowed: {', '.join(allowed) or 'none'})")
    name = v.string(rl.get("name"), f"{key}.name")
    if name in names:
        raise ConfigError(v.file, f"{key}.name", f"a unique name, {name!r} is already used")
    inputs = rl.get("inputs", [])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list):
        raise ConfigError(v.file, f"{key}.inputs", "expected a list of layer or input names")
    for i, src in enumerate(inputs):
        if not isinstance(src, str) or src not in names:
            raise ConfigError(v.file, f"{key}.inputs[{i}]", f"an earlier layer or a block input, got {src!r}")
    if not inputs and first and n_edges > 1:
        raise ConfigError(v.file, f"{key}.inputs", "the block has several inputs: name the ones this layer reads")
    if ltype in MULTI_INPUT and len(inputs) < 2:
        raise ConfigError(v.file, f"{key}.inputs", f"{ltype} needs at least two inputs")
    params = {}
    for pname, (kind, default) in allowed.items():
        pkey = f"{key}.{pname}"
        if pname not in rl:
            if default is _REQUIRED:
                raise ConfigError(v.file, pkey, f"required for {ltype}")
            params[pname] = default if default is None else v.param(default, pkey, kind)
            continue
        params[pname] = v.param(rl[pname], pkey, kind)
    return LayerSpec(name, ltype, tuple(inputs), params)


class _Validator(Validator):
    """The generic checks plus the kinds of layer parameters."""

    def param(self, raw: Any, key: str, kind: str) -> Any:
        if kind == "int":
            return self.integer(raw, key, minimum=1)
        if kind == "axis":
            if not isinstance(raw, int) or isinstance(raw, bool):
                raise self.fail(key, "an integer axis", raw)
            return raw
        if kind == "int2":
            if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
                return (raw, raw)
            if isinstance(raw, list) and len(raw) == 2 and all(
                    isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in raw):
                return (raw[0], raw[1])
            raise self.fail(key, "a positive integer or [height, width]", raw)
        if kind == "ints":
            return self.ints(raw, key)
        if kind == "float":
            return self.number(raw, key)
        if kind == "bool":
            if not isinstance(raw, bool):
                raise self.fail(key, "true or false", raw)
            return raw
        if kind == "padding":
            if raw not in ("same", "valid"):
                raise self.fail(key, "same or valid", raw)
            return raw
        if kind == "activation":
            if raw not in ACTIVATIONS:
                raise self.fail(key, f"one of {', '.join(ACTIVATIONS)} (softmax is its own layer)", raw)
            return raw
        raise AssertionError(kind)
