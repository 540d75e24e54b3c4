"""The Model the toolchain makes once: its values, who makes and reads them, windows, results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.toolchain import open_model
from orchestrator.toolchain.analysis import layer_stats
from orchestrator.toolchain.model import FILE_INPUT
from worker.errors import UserError
from worker.stream import Window
from worker.wire import CAMERA_FRAME


def test_the_stream_graph_of_a_spec() -> None:
    model = open_model("action-recognition-tiny")
    assert model.name == model.source == "action-recognition-tiny" and model.spec is not None
    assert [b.name for b in model.blocks] == ["optical_flow", "spatial", "temporal", "fusion"]
    assert model.producers == {CAMERA_FRAME: "frame", "optical_flow/optical_flow": "optical_flow",
                               "spatial/fc1s": "spatial", "temporal/fc1t": "temporal", "fusion/softmax": "fusion"}
    assert model.consumers[CAMERA_FRAME] == ("optical_flow", "spatial")
    assert model.consumers["spatial/fc1s"] == model.consumers["temporal/fc1t"] == ("fusion",)
    assert model.consumers["fusion/softmax"] == ()
    assert model.results == {"fusion/softmax"}
    flow = model.block_input("temporal", "optical_flow")
    assert flow is not None and flow.source == "optical_flow" and flow.window == Window(4, 1, "concat")
    assert model.block_input("temporal", "conv1t") is None   # made inside the block
    assert model.input.shape == (1, 12, 16, 3) and model.frame_bytes == 4 * 12 * 16 * 3


def test_layer_figures_are_the_toolchains() -> None:
    model = open_model("alexnet-tiny")
    (block,) = model.blocks
    assert block.graph is not None
    assert model.layers(block.name) == layer_stats(block.graph)
    assert all(s.macs > 0 for s in model.layers(block.name) if "CONV_2D" in s.ops)


def test_a_tflite_is_one_block_fed_by_the_camera(third_party: Callable[[str], Path]) -> None:
    path = third_party("face_detection_short_range")
    model = open_model(path)
    (block,) = model.blocks
    assert model.name == block.name == path.stem and model.spec is None and model.source == str(path)
    assert model.input.name == FILE_INPUT and model.input.shape == tuple(block.inputs[0].shape)
    assert [i.source for i in model.inputs[block.name]] == [FILE_INPUT] * len(block.inputs)
    assert model.outputs == (block.name,) and model.frame_bytes == sum(r.nbytes for r in block.inputs)
    assert model.consumers[CAMERA_FRAME] == (block.name,)


def test_an_unknown_model_is_one_line() -> None:
    with pytest.raises(UserError, match="no-such-model: not a built-in model"):
        open_model("no-such-model")
