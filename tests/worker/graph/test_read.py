"""The .tflite reader: bad files give ModelFormatError naming the file; real models read, layer
and round-trip through our writer bit-exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from orchestrator.toolchain.tflite_writer import write_tflite
from worker.errors import ModelFormatError
from worker.executor import LiteRTRunner
from worker.graph import Graph, parse_graph, read_graph

REAL = ("face_detection_short_range", "palm_detection_lite", "hand_landmark_lite", "face_landmark",
        "selfie_segmentation")
WEIGHT_USERS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _assert_format_error(path: Path, match: str = "") -> ModelFormatError:
    with pytest.raises(ModelFormatError) as info:
        read_graph(path)
    exc = info.value
    assert exc.file == str(path)
    assert str(exc).startswith(f"{path}: ")
    assert "\n" not in str(exc)
    if match:
        assert match in str(exc)
    return exc


def _check_parse(data: bytes, name: str) -> Graph | None:
    """parse_graph either raises ModelFormatError naming ``name`` or returns a consistent Graph."""
    try:
        graph = parse_graph(data, name)
    except ModelFormatError as exc:
        assert exc.file == name and str(exc).startswith(f"{name}: "), exc
        return None
    # Any other exception type propagates and fails the test.
    assert isinstance(graph, Graph)
    n = len(graph.tensors)
    for op in graph.operators:
        assert all(t < n for t in op.inputs + op.outputs)
    return graph


# --- files that are not models ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    _assert_format_error(tmp_path / "absent.tflite", "cannot read")


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    _assert_format_error(tmp_path, "cannot read")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tflite"
    path.write_bytes(b"")
    _assert_format_error(path, "only 0 bytes")


def test_random_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    for i, size in enumerate((1, 7, 8, 100, 4096, 65536)):
        path = tmp_path / f"random{i}.tflite"
        path.write_bytes(rng.bytes(size))
        _assert_format_error(path, "not a TFLite model")


def test_random_bytes_behind_a_valid_identifier(tmp_path: Path) -> None:
    """Garbage that passes the 'TFL3' check must still fail cleanly inside the parser."""
    rng = np.random.default_rng(12)
    for i in range(200):
        body = bytearray(rng.bytes(int(rng.integers(8, 4096))))
        body[4:8] = b"TFL3"
        _check_parse(bytes(body), f"garbage{i}.tflite")


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.tflite"
    path.write_text("name: alexnet\nthis is a text file, not a flatbuffer\n")
    _assert_format_error(path, "file identifier is not 'TFL3'")


def test_other_flatbuffer_identifier(tmp_path: Path, third_party: Callable[[str], Path]) -> None:
    data = bytearray(third_party("face_detection_short_range").read_bytes())
    data[4:8] = b"XXXX"
    path = tmp_path / "other.bin"
    path.write_bytes(bytes(data))
    _assert_format_error(path, "not a TFLite model")


# --- damaged real models -------------------------------------------------------------------------


def test_truncated_model_raises_model_format_error(third_party: Callable[[str], Path], tmp_path: Path) -> None:
    data = third_party("face_detection_short_range").read_bytes()
    cuts = sorted(set(range(0, len(data), 997)) | {1, 4, 7, 8, 9, 16, 100, len(data) // 2})
    assert len(cuts) > 200
    for n in cuts:
        with pytest.raises(ModelFormatError) as info:
            parse_graph(data[:n], "cut.tflite")
        assert str(info.value).startswith("cut.tflite: "), n
    # The same through a file: the message names the path.
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 3])
    _assert_format_error(path, "corrupt or truncated")


def test_truncated_fp16_model_is_named(third_party: Callable[[str], Path], tmp_path: Path) -> None:
    data = third_party("palm_detection_lite").read_bytes()
    for n in (len(data) // 7, len(data) // 2, len(data) - 4096):
        path = tmp_path / f"palm-{n}.tflite"
        path.write_bytes(data[:n])
        _assert_format_error(path)


def test_flipped_bytes_never_crash_the_reader(third_party: Callable[[str], Path]) -> None:
    data = third_party("face_detection_short_range").read_bytes()
    n = len(data)
    rng = np.random.default_rng(2024)
    regions = [(8, 8192), (n // 2 - 4096, n // 2 + 4096), (n - 16384, n)]
    outcomes = {"graph": 0, "error": 0}
    for i in range(240):
        mutated = bytearray(data)
        lo, hi = regions[i % len(regions)]
        for _ in range(int(rng.integers(1, 5))):
            mutated[int(rng.integers(lo, hi))] ^= int(rng.integers(1, 256))
        graph = _check_parse(bytes(mutated), f"flip{i}.tflite")
        outcomes["graph" if graph is not None else "error"] += 1
    # Both outcomes occur: flips in weights still read, flips in the structure are caught.
    assert outcomes["graph"] > 0 and outcomes["error"] > 0, outcomes


def test_corrupt_root_offset(third_party: Callable[[str], Path], tmp_path: Path) -> None:
    data = bytearray(third_party("face_detection_short_range").read_bytes())
    data[0:4] = (len(data) + 1000).to_bytes(4, "little")
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(bytes(data))
    _assert_format_error(path, "corrupt or truncated")


# --- layers of real models -----------------------------------------------------------------------


def _layer_of(graph: Graph) -> dict[int, int]:
    owner: dict[int, int] = {}
    for li, layer in enumerate(graph.layers):
        for op in layer.ops:
            assert op not in owner, f"operator {op} is in layers {owner[op]} and {li}"
            owner[op] = li
    return owner


def _is_fp16_dequantize(graph: Graph, op_index: int) -> bool:
    op = graph.operators[op_index]
    if op.kind != "DEQUANTIZE":
        return False
    src = graph.tensors[op.inputs[0]]
    return src.is_constant and src.dtype == np.float16


@pytest.mark.parametrize("name", REAL)
def test_every_operator_is_in_exactly_one_layer(name: str, third_party: Callable[[str], Path]) -> None:
    graph = read_graph(third_party(name))
    owner = _layer_of(graph)
    assert sorted(owner) == list(range(len(graph.operators)))
    names = [layer.name for layer in graph.layers]
    assert len(set(names)) == len(names), "layer names must be unique"
    assert all(layer.ops for layer in graph.layers)
    # One computing operator per layer; the rest are constant preludes (fp16 DEQUANTIZE).
    for layer in graph.layers:
        compute = [o for o in layer.ops if not _is_fp16_dequantize(graph, o)]
        assert len(compute) == 1, (layer.name, [graph.operators[o].kind for o in layer.ops])


@pytest.mark.parametrize("name", REAL)
def test_fp16_dequantize_belongs_to_the_layer_using_the_weights(
        name: str, third_party: Callable[[str], Path]) -> None:
    graph = read_graph(third_party(name))
    owner = _layer_of(graph)
    dequantizes = [i for i in range(len(graph.operators)) if _is_fp16_dequantize(graph, i)]
    assert dequantizes, f"{name} has float16 weights dequantized in the graph"
    conv_weights = 0
    for i in dequantizes:
        consumers = graph.consumers[graph.operators[i].outputs[0]]
        # A shared constant (e.g. one zero bias for several convs) goes with its first user.
        first = min(consumers)
        assert owner[i] == owner[first], (i, graph.operators[first].kind)
        if graph.operators[first].kind in WEIGHT_USERS and len(consumers) == 1:
            conv_weights += 1
            user = graph.operators[first]
            assert graph.operators[i].outputs[0] in user.inputs[1:]
    assert conv_weights > 0


# --- round trip through our writer ---------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_round_trip_is_bit_identical_in_litert(name: str, third_party: Callable[[str], Path]) -> None:
    path = third_party(name)
    graph = read_graph(path)
    data = write_tflite(graph)
    again = parse_graph(data, "rewritten.tflite")
    assert [op.kind for op in again.operators] == [op.kind for op in graph.operators]
    assert [(layer.name, layer.ops) for layer in again.layers] == [(layer.name, layer.ops) for layer in graph.layers]
    original, rewritten = LiteRTRunner(str(path)), LiteRTRunner(data)
    assert [(s.name, s.shape, s.dtype) for s in original.inputs] == \
        [(s.name, s.shape, s.dtype) for s in rewritten.inputs]
    assert [s.name for s in original.outputs] == [s.name for s in rewritten.outputs]
    rng = np.random.default_rng(5)
    for _ in range(2):
        feeds = {s.name: rng.standard_normal(s.shape).astype(s.dtype) for s in original.inputs}
        want, got = original.run(feeds), rewritten.run(feeds)
        assert want.keys() == got.keys()
        for key in want:
            assert want[key].dtype == got[key].dtype and want[key].shape == got[key].shape, key
            assert np.array_equal(want[key], got[key]), f"{name}: output {key} differs after the round trip"
