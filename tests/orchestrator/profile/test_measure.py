"""Measuring a model: every layer, shard, block, built-in step and the camera, in LiteRT."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from orchestrator.profile._measure import (
    Measurement,
    MeasureOptions,
    Progress,
    camera_shape,
    frames_for,
    layer_task,
    measure_model,
    shard_counts,
    time_call,
)
from orchestrator.toolchain.analysis import layer_stats
from orchestrator.toolchain.model import open_model
from orchestrator.toolchain.source import blocks_of_file, blocks_of_model
from orchestrator.toolchain.spec import parse_spec
from orchestrator.toolchain.tflite_writer import write_tflite
from orchestrator.toolchain.zoo import build_model
from worker.camera import SyntheticCamera
from worker.executor import load_model

QUICK = MeasureOptions(repeat=1, budget_s=0.0, loads=1, max_shards=3)


@pytest.fixture(scope="module")
def tiny_action() -> Measurement:
    """action-recognition-tiny measured once, quickly (three graph blocks and optical flow)."""
    return measure_model("action-recognition-tiny", QUICK, progress=False)


def test_every_layer_is_measured_with_the_models_figures(tiny_action: Measurement) -> None:
    model = open_model("action-recognition-tiny")
    name, blocks = model.name, model.blocks
    timings = tiny_action.timings
    assert timings.model == name == "action-recognition-tiny" and tiny_action.executor == "litert"
    assert not tiny_action.skipped
    graphs = [b for b in blocks if b.graph is not None]
    assert [lt.layer for lt in timings.layers.values()] == [layer.name for b in graphs for layer in b.graph.layers]
    for block in graphs:
        for stats in layer_stats(block.graph):
            lt = timings.layers[stats.name]
            # The planner refuses timings whose MACs or weights differ from the model's.
            assert (lt.block, lt.ops, lt.macs, lt.weight_bytes, lt.output_bytes) == (
                block.name, tuple(stats.ops), stats.macs, stats.weight_bytes, stats.output_bytes)
            assert lt.time_s > 0 and lt.load_s > 0 and lt.memory_mb >= 0
            assert sorted(lt.shards) == ([2, 3] if stats.shardable else []), stats.name
            assert all(s > 0 for s in lt.shards.values())
    assert [(t.block, t.first, t.last) for t in timings.tasks] == [
        (b.name, b.graph.layers[0].name, b.graph.layers[-1].name) for b in graphs]
    assert all(t.time_s > 0 and t.load_s > 0 for t in timings.tasks)
    assert set(timings.steps) == {"optical_flow"} and timings.steps["optical_flow"] > 0
    assert tiny_action.camera_s is not None and tiny_action.camera_s > 0
    assert tiny_action.base_mb > 10


def _spec_file(spec: dict[str, Any], directory: Path) -> str:
    path = directory / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


@pytest.mark.parametrize("spec_name", ["tiny-resnet", "tiny-mobilenet-float16", "two-head"])
def test_generated_dags(spec_name: str, dag_specs: dict[str, Any], tmp_path: Path) -> None:
    measured = measure_model(_spec_file(dag_specs[spec_name], tmp_path), QUICK, progress=False)
    (block,) = blocks_of_model(build_model(parse_spec(dag_specs[spec_name]), progress=False))
    assert not measured.skipped
    assert list(measured.timings.layers) == [layer.name for layer in block.graph.layers]
    assert all(t.time_s > 0 for t in measured.timings.layers.values())
    assert len(measured.timings.tasks) == 1


def test_a_real_third_party_model(third_party: Callable[[str], Path]) -> None:
    # Residual adds, float16 weights dequantized in the graph, two outputs.
    path = third_party("face_detection_short_range")
    measured = measure_model(str(path), MeasureOptions(repeat=1, budget_s=0.0, loads=1, max_shards=2), progress=False)
    graph = blocks_of_file(path)[0].graph
    assert not measured.skipped and len(measured.timings.layers) == len(graph.layers)
    assert sum(1 for t in measured.timings.layers.values() if t.shards) == sum(s.shardable for s in layer_stats(graph))
    assert measured.camera_s is not None and measured.camera_s > 0


def test_layer_task_outputs_what_the_rest_of_the_block_reads(dag_specs: dict[str, Any]) -> None:
    (block,) = blocks_of_model(build_model(parse_spec(dag_specs["tiny-resnet"]), progress=False))
    graph = block.graph
    rng = np.random.default_rng(0)
    for li, layer in enumerate(graph.layers):
        task = layer_task(graph, li)
        mine = set(layer.ops)
        read_later = {graph.tensors[t].name for o in layer.ops for t in graph.operators[o].outputs
                      if t in graph.outputs or any(c not in mine for c in graph.consumers.get(t, ()))}
        assert {task.tensors[t].name for t in task.outputs} == read_later, layer.name
        runner = load_model(write_tflite(task), "litert")
        out = runner.run({s.name: rng.random(s.shape, np.float32) for s in runner.inputs})
        assert set(out) == read_later
    # stem feeds r1a and, around the residual, r1add: one output read by two later layers.
    stem = layer_task(graph, 0)
    assert len(stem.outputs) == 1 and len(graph.consumers[graph.tensor_index(stem.tensors[stem.outputs[0]].name)]) == 2


def test_shard_counts_are_capped_by_units(dag_specs: dict[str, Any]) -> None:
    (block,) = blocks_of_model(build_model(parse_spec(dag_specs["two-head"]), progress=False))
    names = [layer.name for layer in block.graph.layers]
    assert shard_counts(block.graph, names.index("trunk1"), 4) == [2, 3, 4]
    assert shard_counts(block.graph, names.index("score_conv"), 4) == [2]     # 2 filters
    assert shard_counts(block.graph, names.index("trunk_pool"), 4) == []


def test_progress_lines_count_to_the_total() -> None:
    out = io.StringIO()
    bar = Progress(3, out)
    for what in ("a", "b", "c"):
        bar.step(what)
    bar.close()
    assert out.getvalue().splitlines() == ["[1/3] a", "[2/3] b", "[3/3] c"]
    quiet = io.StringIO()
    Progress(1, quiet, enabled=False).step("x")
    assert quiet.getvalue() == ""


def test_time_call_runs_at_least_repeat_and_fills_the_budget() -> None:
    calls = []
    time_call(lambda: calls.append(1), repeat=5, budget_s=0.0)
    assert len(calls) == 6   # one warm-up
    calls.clear()
    assert time_call(lambda: calls.append(1), repeat=1, budget_s=0.02) >= 0
    assert len(calls) > 10


def test_camera_frames_for_inputs_and_windows() -> None:
    camera = SyntheticCamera(seed=0)
    assert frames_for((1, 12, 16, 3), camera).shape == (1, 12, 16, 3)
    window = frames_for((1, 2, 12, 16, 3), camera)
    assert window.shape == (1, 2, 12, 16, 3) and window.dtype == np.float32
    assert not np.array_equal(window[0, 0], window[0, 1])   # two successive frames
    blocks = list(open_model("action-recognition-tiny").blocks)
    assert camera_shape(blocks) == (1, 12, 16, 3)
