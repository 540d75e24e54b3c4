"""Model specs: every built-in spec parses; a malformed one gives one ConfigError naming the file,
the key path and what was expected."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.toolchain.spec import LAYER_PARAMS, load_spec, parse_spec
from orchestrator.toolchain.zoo import builtin_models, find_spec, models_dir
from worker.errors import ConfigError, UserError
from worker.stream import Window


def base_spec() -> dict[str, Any]:
    """A valid three-block spec that the malformed cases below each break in one place."""
    return {
        "name": "toy",
        "description": "three blocks, a window, a temporal pyramid",
        "input": {"name": "frame", "shape": [1, 8, 8, 3], "fps": 15},
        "blocks": [
            {"name": "feat", "inputs": ["frame"], "layers": [
                {"name": "conv", "type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
                {"name": "gap", "type": "global_avgpool"},
                {"name": "fc", "type": "dense", "units": 5}]},
            {"name": "head", "inputs": [{"from": "feat", "window": {"size": 4, "stride": 2, "mode": "stack"}}],
             "layers": [
                 {"name": "pyr", "type": "temporal_pyramid", "levels": 3},
                 {"name": "logits", "type": "dense", "units": 2}]},
            {"name": "fuse", "inputs": ["feat", {"from": "head", "window": 1}], "outputs": ["mix", "prob"],
             "layers": [
                 {"name": "cat", "type": "concat", "inputs": ["feat", "head"]},
                 {"name": "mix", "type": "dense", "units": 3, "activation": "tanh"},
                 {"name": "prob", "type": "softmax"}]},
        ],
        "outputs": ["head", "fuse"],
    }


def _layer(spec: dict[str, Any], b: int, li: int) -> dict[str, Any]:
    return spec["blocks"][b]["layers"][li]


Mutation = Callable[[dict[str, Any]], Any]

# (id, mutation of base_spec(), key path in the message, what the message says was expected)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("missing-name", lambda s: s.pop("name"), "name", "expected a non-empty string, got None"),
    ("empty-name", lambda s: s.update(name=""), "name", "expected a non-empty string"),
    ("unknown-top-level-key", lambda s: s.update(colour="red"), "colour", "unknown key (allowed: "),
    ("missing-input", lambda s: s.pop("input"), "input", "expected a mapping, got None"),
    ("bad-input-shape", lambda s: s["input"].update(shape=[8]), "input.shape", "a list of at least 2 integers"),
    ("zero-fps", lambda s: s["input"].update(fps=0), "input.fps", "a positive number"),
    ("empty-blocks", lambda s: s.update(blocks=[]), "blocks", "expected a non-empty list of blocks"),
    ("missing-blocks", lambda s: s.pop("blocks"), "blocks", "expected a non-empty list of blocks"),
    ("block-not-a-mapping", lambda s: s["blocks"].__setitem__(1, "head"), "blocks[1]", "expected a mapping"),
    ("unknown-block-key", lambda s: s["blocks"][0].update(device="pi1"), "blocks[0].device", "unknown key"),
    ("duplicate-block-name", lambda s: s["blocks"][1].update(name="feat"), "blocks[1].name",
     "'feat' is already used"),
    ("block-named-like-the-input", lambda s: s["blocks"][0].update(name="frame"), "blocks[0].name",
     "'frame' is already used"),
    ("no-block-inputs", lambda s: s["blocks"][0].update(inputs=[]), "blocks[0].inputs",
     "expected a non-empty list"),
    ("empty-layers", lambda s: s["blocks"][0].update(layers=[]), "blocks[0].layers",
     "expected a non-empty list of layers"),
    ("unknown-layer-type", lambda s: _layer(s, 0, 1).update(type="convolution"), "blocks[0].layers[1].type",
     "one of conv2d, depthwise_conv2d, dense"),
    ("missing-layer-type", lambda s: _layer(s, 0, 1).pop("type"), "blocks[0].layers[1].type", "got None"),
    ("layer-type-is-a-list", lambda s: _layer(s, 0, 1).update(type=["dense"]), "blocks[0].layers[1].type",
     "got ['dense']"),
    ("missing-layer-name", lambda s: _layer(s, 0, 1).pop("name"), "blocks[0].layers[1].name",
     "expected a non-empty string"),
    ("missing-required-param", lambda s: _layer(s, 0, 0).pop("filters"), "blocks[0].layers[0].filters",
     "required for conv2d"),
    ("missing-units", lambda s: _layer(s, 0, 2).pop("units"), "blocks[0].layers[2].units", "required for dense"),
    ("string-for-filters", lambda s: s["blocks"][1]["layers"].__setitem__(
        0, {"name": "c1", "type": "conv2d", "filters": "8", "kernel": 3}),
     "blocks[1].layers[0].filters", "expected an integer >= 1, got '8'"),
    ("zero-kernel", lambda s: _layer(s, 0, 0).update(kernel=0), "blocks[0].layers[0].kernel",
     "expected a positive integer or [height, width], got 0"),
    ("three-kernel-sizes", lambda s: _layer(s, 0, 0).update(kernel=[3, 3, 3]), "blocks[0].layers[0].kernel",
     "[height, width]"),
    ("bool-kernel", lambda s: _layer(s, 0, 0).update(kernel=[True, True]), "blocks[0].layers[0].kernel",
     "[height, width]"),
    ("bool-units", lambda s: _layer(s, 0, 2).update(units=True), "blocks[0].layers[2].units",
     "an integer >= 1"),
    ("bad-padding", lambda s: _layer(s, 0, 0).update(padding="full"), "blocks[0].layers[0].padding",
     "same or valid, got 'full'"),
    ("string-use-bias", lambda s: _layer(s, 0, 0).update(use_bias="yes"), "blocks[0].layers[0].use_bias",
     "true or false"),
    ("unknown-param", lambda s: _layer(s, 0, 0).update(filter=4), "blocks[0].layers[0].filter",
     "not a parameter of conv2d (allowed: filters, kernel"),
    ("param-of-another-type", lambda s: _layer(s, 0, 1).update(units=3), "blocks[0].layers[1].units",
     "not a parameter of global_avgpool (allowed: none)"),
    ("duplicate-layer-name", lambda s: _layer(s, 0, 2).update(name="conv"), "blocks[0].layers[2].name",
     "'conv' is already used"),
    ("duplicate-layer-name-across-blocks", lambda s: _layer(s, 1, 1).update(name="fc"),
     "blocks[1].layers[1].name", "a name unique in the model, 'fc' is already used"),
    ("layer-named-like-a-block", lambda s: _layer(s, 1, 1).update(name="feat"),
     "blocks[1].layers[1].name", "'feat' is already used"),
    ("input-from-unknown-block", lambda s: s["blocks"][1]["inputs"][0].update({"from": "nope"}),
     "blocks[1].inputs[0].from", "the model input or an earlier block, got 'nope'"),
    ("input-from-a-later-block", lambda s: s["blocks"][1]["inputs"][0].update({"from": "fuse"}),
     "blocks[1].inputs[0].from", "an earlier block, got 'fuse'"),
    ("same-source-twice", lambda s: s["blocks"][2]["inputs"].__setitem__(1, {"from": "feat", "window": 2}),
     "blocks[2].inputs[1].from", "'feat' is already an input"),
    ("unknown-edge-key", lambda s: s["blocks"][1]["inputs"][0].update(size=4), "blocks[1].inputs[0].size",
     "unknown key"),
    ("window-size-0", lambda s: s["blocks"][1]["inputs"][0]["window"].update(size=0),
     "blocks[1].inputs[0].window.size", "an integer >= 1, got 0"),
    ("window-shorthand-0", lambda s: s["blocks"][1]["inputs"][0].update(window=0),
     "blocks[1].inputs[0].window.size", "an integer >= 1, got 0"),
    ("window-stride-0", lambda s: s["blocks"][1]["inputs"][0]["window"].update(stride=0),
     "blocks[1].inputs[0].window.stride", "an integer >= 1, got 0"),
    ("bad-window-mode", lambda s: s["blocks"][1]["inputs"][0]["window"].update(mode="sum"),
     "blocks[1].inputs[0].window.mode", "one of stack, concat, got 'sum'"),
    ("several-inputs-no-named-layer-inputs", lambda s: _layer(s, 2, 0).pop("inputs"),
     "blocks[2].layers[0].inputs", "the block has several inputs"),
    ("layer-input-unknown", lambda s: _layer(s, 2, 0).update(inputs=["feat", "nope"]),
     "blocks[2].layers[0].inputs[1]", "an earlier layer or a block input, got 'nope'"),
    ("layer-input-later-layer", lambda s: _layer(s, 2, 1).update(inputs=["prob"]),
     "blocks[2].layers[1].inputs[0]", "got 'prob'"),
    ("layer-input-is-a-list", lambda s: _layer(s, 2, 1).update(inputs=[["cat"]]),
     "blocks[2].layers[1].inputs[0]", "got ['cat']"),
    ("concat-one-input", lambda s: _layer(s, 2, 0).update(inputs=["feat"]), "blocks[2].layers[0].inputs",
     "concat needs at least two inputs"),
    ("block-outputs-unknown-layer", lambda s: s["blocks"][2].update(outputs=["mix", "nope"]),
     "blocks[2].outputs[1]", "a layer of this block, got 'nope'"),
    ("block-outputs-layer-of-other-block", lambda s: s["blocks"][2].update(outputs=["conv"]),
     "blocks[2].outputs[0]", "got 'conv'"),
    ("block-outputs-empty", lambda s: s["blocks"][2].update(outputs=[]), "blocks[2].outputs",
     "expected a list of layer names"),
    ("model-outputs-unknown-block", lambda s: s.update(outputs=["head", "nope"]), "outputs[1]",
     "expected a block name, got 'nope'"),
    ("model-outputs-the-input", lambda s: s.update(outputs=["frame"]), "outputs[0]",
     "expected a block name, got 'frame'"),
    ("model-outputs-a-layer", lambda s: s.update(outputs=["logits"]), "outputs[0]", "got 'logits'"),
    ("model-outputs-nested-list", lambda s: s.update(outputs=[["head"]]), "outputs[0]", "got ['head']"),
    ("model-outputs-empty", lambda s: s.update(outputs=[]), "outputs", "expected a list of block names"),
    ("softmax-as-activation", lambda s: _layer(s, 0, 2).update(activation="softmax"),
     "blocks[0].layers[2].activation", "one of none, relu, relu6, tanh (softmax is its own layer), got 'softmax'"),
    ("unknown-activation", lambda s: _layer(s, 0, 0).update(activation="gelu"),
     "blocks[0].layers[0].activation", "got 'gelu'"),
    ("bad-weights-dtype", lambda s: s["blocks"][0].update(weights="int8"), "blocks[0].weights",
     "one of float32, float16, got 'int8'"),
    ("unknown-builtin", lambda s: s["blocks"][1].update(builtin="farneback"), "blocks[1].builtin",
     "one of optical_flow, got 'farneback'"),
    ("builtin-with-layers", lambda s: s["blocks"][1].update(builtin="optical_flow"), "blocks[1].layers",
     "a built-in block has no layers"),
    ("builtin-is-a-list", lambda s: (s["blocks"][1].pop("layers"), s["blocks"][1].update(builtin=["optical_flow"])),
     "blocks[1].builtin", "got ['optical_flow']"),
    ("pyramid-levels-0", lambda s: _layer(s, 1, 0).update(levels=0), "blocks[1].layers[0].levels",
     "an integer >= 1, got 0"),
    ("reshape-shape-not-ints", lambda s: _layer(s, 0, 1).update(type="reshape", shape="1x4"),
     "blocks[0].layers[1].shape", "a list of at least 1 integers"),
    ("softmax-beta-string", lambda s: _layer(s, 2, 2).update(beta="1"), "blocks[2].layers[2].beta",
     "expected a number"),
]


def _mutated(mutation: Mutation) -> dict[str, Any]:
    spec = base_spec()
    mutation(spec)
    return spec


def _assert_config_error(exc: ConfigError, file: str, key: str, expected: str) -> None:
    message = str(exc)
    assert isinstance(exc, UserError) and exc.exit_code == 2
    assert exc.file == file, message
    assert exc.key == key, message
    assert message.startswith(f"{file}: {key}: "), message
    assert expected in message, message
    assert "\n" not in message


# --- valid specs ---------------------------------------------------------------------------------


def test_builtin_models_are_listed() -> None:
    names = builtin_models()
    assert {"alexnet", "alexnet-tiny", "vgg16", "vgg16-tiny", "action-recognition",
            "action-recognition-half", "action-recognition-tiny"} <= set(names)


@pytest.mark.parametrize("name", builtin_models())
def test_every_builtin_spec_parses(name: str) -> None:
    spec = find_spec(name)
    assert spec.name == name
    assert Path(spec.source) == models_dir() / f"{name}.yaml"
    assert spec.blocks and spec.outputs
    assert set(spec.outputs) <= {b.name for b in spec.blocks}
    layer_names = [layer.name for b in spec.blocks for layer in b.layers]
    assert len(layer_names) == len(set(layer_names))
    for block in spec.blocks:
        assert block.is_builtin != bool(block.layers)
        if not block.is_builtin:
            assert block.outputs and set(block.outputs) <= {layer.name for layer in block.layers}
    # The same file by path gives the same spec.
    assert load_spec(models_dir() / f"{name}.yaml") == spec


def test_generated_dag_specs_parse(dag_specs: dict[str, dict[str, Any]]) -> None:
    for name, raw in dag_specs.items():
        spec = parse_spec(raw, f"{name}.yaml")
        assert spec.name == name


def test_base_spec_and_defaults() -> None:
    spec = parse_spec(base_spec(), "toy.yaml")
    assert spec.input.name == "frame" and spec.input.shape == (1, 8, 8, 3) and spec.input.fps == 15.0
    assert [b.name for b in spec.blocks] == ["feat", "head", "fuse"]
    assert spec.outputs == ("head", "fuse")
    feat, head, fuse = spec.blocks
    conv = feat.layers[0]
    assert conv.inputs == ()
    assert dict(conv.params) == {"filters": 4, "kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1),
                                 "padding": "same", "activation": "relu", "use_bias": True}
    assert dict(feat.layers[2].params) == {"units": 5, "activation": "none", "use_bias": True}
    assert feat.outputs == ("fc",) and feat.weights == "float32"
    assert head.inputs[0].window == Window(4, 2, "stack")
    assert fuse.inputs[0].window == Window() and fuse.inputs[1].window == Window(1, 1, "stack")
    assert fuse.outputs == ("mix", "prob")
    assert dict(fuse.layers[2].params) == {"beta": 1.0}


def test_defaults_of_every_layer_type_parse() -> None:
    """Each layer type with only its required parameters is accepted."""
    required = {"conv2d": {"filters": 2, "kernel": 1}, "depthwise_conv2d": {"kernel": 3},
                "dense": {"units": 2}, "reshape": {"shape": [1, -1]}, "pad": {"padding": [1, 1, 1, 1]}}
    for ltype in LAYER_PARAMS:
        layer: dict[str, Any] = {"name": "l", "type": ltype, **required.get(ltype, {})}
        if ltype in ("add", "mul", "concat"):
            layer["inputs"] = ["a", "b"]
        spec = parse_spec({"name": "m", "input": {"shape": [1, 4, 4, 2]}, "blocks": [
            {"name": "a", "inputs": ["frame"], "layers": [{"name": "x", "type": "relu"}]},
            {"name": "b", "inputs": ["frame"], "layers": [{"name": "y", "type": "relu"}]},
            {"name": "c", "inputs": ["a", "b"] if "inputs" in layer else ["a"], "layers": [layer]}]})
        assert spec.blocks[2].layers[0].type == ltype


def test_string_shorthands() -> None:
    raw = base_spec()
    raw["outputs"] = "fuse"
    raw["blocks"][2]["outputs"] = "prob"
    raw["blocks"][0]["layers"][1]["inputs"] = "conv"
    spec = parse_spec(raw)
    assert spec.outputs == ("fuse",)
    assert spec.blocks[2].outputs == ("prob",)
    assert spec.blocks[0].layers[1].inputs == ("conv",)
    assert spec.source == "<spec>"


def test_builtin_block() -> None:
    spec = parse_spec({"name": "flow", "input": {"shape": [1, 8, 8, 3]}, "blocks": [
        {"name": "of", "builtin": "optical_flow", "inputs": [{"from": "frame", "window": {"size": 2}}]}]})
    (block,) = spec.blocks
    assert block.is_builtin and block.builtin == "optical_flow" and block.layers == ()
    assert spec.outputs == ("of",)


# --- malformed specs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "mutation", "key", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_spec_file_names_file_and_key(case: str, mutation: Mutation, key: str, expected: str,
                                                tmp_path: Path) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(_mutated(mutation), sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    _assert_config_error(info.value, str(path), key, expected)


@pytest.mark.parametrize(("case", "mutation", "key", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_spec_dict(case: str, mutation: Mutation, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(_mutated(mutation), "from-a-dict")
    _assert_config_error(info.value, "from-a-dict", key, expected)


def test_cases_do_not_touch_the_base() -> None:
    raw = base_spec()
    before = copy.deepcopy(raw)
    parse_spec(raw)
    assert raw == before


@pytest.mark.parametrize("text", ["name: [unclosed\n", "blocks:\n  - a\n - b\n", "a: b: c\n", "{{{{\n",
                                  "\t- tab\n"])
def test_not_yaml(text: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "not valid YAML" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["- name: toy\n- blocks: []\n", "just a string\n", "42\n", ""])
def test_not_a_mapping(text: str, tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    _assert_config_error(info.value, str(path), "top level", "expected a mapping")


def test_not_a_mapping_dict_api() -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(["name", "toy"], "list-spec")
    _assert_config_error(info.value, "list-spec", "top level", "expected a mapping, got ['name', 'toy']")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_spec(tmp_path / "absent.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'absent.yaml'}: cannot read")
    with pytest.raises(ConfigError) as info:
        load_spec(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: cannot read")


def test_find_spec_unknown_name() -> None:
    with pytest.raises(UserError, match=r"^no-such-model: not a built-in model \(known: .*alexnet-tiny"):
        find_spec("no-such-model")


def test_find_spec_by_path_names_the_file(tmp_path: Path) -> None:
    raw = base_spec()
    _layer(raw, 0, 0)["kernel"] = 0
    path = tmp_path / "mine.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"mine\.yml: blocks\[0\]\.layers\[0\]\.kernel: expected"):
        find_spec(str(path))
