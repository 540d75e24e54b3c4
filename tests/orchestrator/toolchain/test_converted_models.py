"""Real models converted by TensorFlow (tests/fixtures/models, made by tools/make_test_models.py):
each is read, inspected, cut into 2 and 4 tasks that chain exactly, and written back faithfully."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from orchestrator.toolchain import balanced_cuts, check_partition, layer_stats, partition, sample_inputs
from orchestrator.toolchain.analysis import cut_tensors, why_not_partitionable
from orchestrator.toolchain.source import blocks_of_file
from worker.graph import Graph, Layer, Operator, Tensor, read_graph

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "models"
MODELS = sorted(p.stem for p in FIXTURES.glob("*.tflite"))


def test_the_fixture_set_is_whole() -> None:
    assert set(MODELS) >= {"cnn_float32", "cnn_float16", "cnn_dynamic_int8", "cnn_int8_float_io", "cnn_int8_int8_io",
                           "lstm_keras3", "lstm_tf_keras", "transformer_block", "two_inputs", "unet_transpose_conv",
                           "sparse_dense", "rfft2d_audio"}


@pytest.mark.parametrize("stages", [2, 4])
@pytest.mark.parametrize("model", MODELS)
def test_partitions_chain_exactly(model: str, stages: int, tmp_path: Path) -> None:
    blocks = blocks_of_file(FIXTURES / f"{model}.tflite")
    graph = blocks[0].graph
    assert graph is not None
    stats = layer_stats(graph)
    assert stats and not [s.why_not_partitionable for s in stats if s.why_not_partitionable]
    cuts = balanced_cuts(graph, stages)
    manifest = partition(blocks, model, tmp_path, {blocks[0].name: cuts}, {}, progress=False)
    assert len(manifest.tasks) == len(cuts) + 1 > 1
    [result] = check_partition(manifest, tmp_path, samples=3)
    assert result.max_rel == 0.0          # LiteRT runs the same kernels on the same values: bit-exact
    assert result.varies and result.ok    # and the outputs followed the (different) inputs


def test_a_while_loop_travels_with_its_subgraphs(tmp_path: Path) -> None:
    source = read_graph(FIXTURES / "lstm_keras3.tflite")
    assert any(op.kind == "WHILE" for op in source.operators) and len(source.subgraphs) >= 2
    blocks = blocks_of_file(FIXTURES / "lstm_keras3.tflite")
    manifest = partition(blocks, "lstm", tmp_path, {blocks[0].name: {0}}, {}, progress=False)
    tasks = [read_graph(tmp_path / t.artifact.file) for t in manifest.tasks if t.artifact]
    holder = [g for g in tasks if any(op.kind == "WHILE" for op in g.operators)]
    assert len(holder) == 1 and len(holder[0].subgraphs) == len(source.subgraphs)
    assert all(not g.subgraphs for g in tasks if g is not holder[0])


def test_sequence_state_stays_in_its_task(tmp_path: Path) -> None:
    graph = read_graph(FIXTURES / "lstm_tf_keras.tflite")
    state = [i for i, t in enumerate(graph.tensors) if t.is_variable]
    assert state, "UNIDIRECTIONAL_SEQUENCE_LSTM keeps its state in variable tensors"
    assert not set(state) & {t for li in range(len(graph.layers) - 1) for t in cut_tensors(graph, li)}
    blocks = blocks_of_file(FIXTURES / "lstm_tf_keras.tflite")
    manifest = partition(blocks, "lstm", tmp_path, {blocks[0].name: {0}}, {}, progress=False)
    first = read_graph(tmp_path / manifest.tasks[0].artifact.file)
    assert sum(t.is_variable for t in first.tensors) == len(state)
    assert not any(first.tensors[t].is_variable for t in first.inputs)


def test_complex_values_cross_a_cut(tmp_path: Path) -> None:
    blocks = blocks_of_file(FIXTURES / "rfft2d_audio.tflite")
    graph = blocks[0].graph
    assert graph is not None
    complex_cuts = {li for li in range(len(graph.layers) - 1)
                    if any(graph.tensors[t].dtype == np.complex64 for t in cut_tensors(graph, li))}
    assert complex_cuts
    manifest = partition(blocks, "rfft", tmp_path, {blocks[0].name: complex_cuts}, {}, progress=False)
    assert any(ref.dtype == "complex64" for t in manifest.tasks for ref in t.inputs)
    [result] = check_partition(manifest, tmp_path, samples=2)
    assert result.ok


def test_sparse_weights_are_read_kept_sparse_and_named(tmp_path: Path) -> None:
    graph = read_graph(FIXTURES / "sparse_dense.tflite")
    sparse = [t for t in graph.tensors if t.sparsity is not None]
    assert sparse and all(t.data is not None and t.data.size < np.prod(t.shape) for t in sparse)
    assert any("sparse weights" in s.notes for s in layer_stats(graph))
    blocks = blocks_of_file(FIXTURES / "sparse_dense.tflite")
    manifest = partition(blocks, "sparse", tmp_path, {blocks[0].name: {0}}, {}, progress=False)
    written = [t for task in manifest.tasks for t in read_graph(tmp_path / task.artifact.file).tensors
               if t.sparsity is not None]
    assert sorted(t.name for t in written) == sorted(t.name for t in sparse)
    for t in written:
        [src] = [s for s in sparse if s.name == t.name]
        assert t.sparsity is not None and src.sparsity is not None
        assert (t.sparsity.traversal_order, t.sparsity.block_map) == (src.sparsity.traversal_order,
                                                                       src.sparsity.block_map)
        assert np.array_equal(t.data, src.data)


def test_a_custom_op_is_named_with_what_the_agents_need(third_party: Callable[[str], Path]) -> None:
    graph = read_graph(third_party("selfie_segmentation"))
    problems = {why_not_partitionable(graph, li) for li in range(len(graph.layers))} - {""}
    assert problems and all("Convolution2DTransposeBias" in p and "LiteRT" in p for p in problems)


def test_inputs_are_drawn_in_their_own_dtype_and_range() -> None:
    int8 = read_graph(FIXTURES / "cnn_int8_int8_io.tflite")
    rng = np.random.default_rng(0)
    [frame] = sample_inputs(int8, rng).values()
    assert frame.dtype == np.int8 and frame.min() < -100 and frame.max() > 100   # not floats cast to zeros
    # Token ids index a 7-row embedding: they stay below 7.
    tensors = [Tensor("table", (7, 4), np.dtype("float32"), np.zeros((7, 4), np.float32)),
               Tensor("ids", (1, 50), np.dtype("int32")), Tensor("out", (1, 50, 4), np.dtype("float32"))]
    gather = Graph("g", tensors, [Operator("GATHER", (0, 1), (2,))], [1], [2], [Layer("gather", (0,))])
    ids = sample_inputs(gather, rng)["ids"]
    assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() == 6
