"""`mchair model ...` as a user runs it: a subprocess, one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from orchestrator.toolchain.tflite_writer import write_tflite
from orchestrator.toolchain.zoo import find_spec
from worker.graph import Graph, Operator, Tensor, default_layers, read_graph

ROOT = Path(__file__).resolve().parents[3]

Run = Callable[..., subprocess.CompletedProcess[str]]


# --- bad models ----------------------------------------------------------------------------------


def _damaged(third_party: Callable[[str], Path], directory: Path) -> dict[str, Path]:
    data = third_party("face_detection_short_range").read_bytes()
    files = {}
    rng = np.random.default_rng(3)
    corrupt = bytearray(data)
    for pos in rng.integers(8, len(data), 2000):
        corrupt[pos] = int(rng.integers(0, 256))
    bad_root = bytearray(data)
    bad_root[0:4] = (len(data) + 4096).to_bytes(4, "little")
    for name, content in (("corrupt.tflite", bytes(corrupt)), ("badroot.tflite", bytes(bad_root)),
                          ("truncated.tflite", data[: len(data) // 2]),
                          ("notes.tflite", b"these are my notes, not a model\n"),
                          ("photo.jpg", b"\xff\xd8\xff\xe0" + rng.bytes(3000)),
                          ("empty.tflite", b"")):
        files[name] = directory / name
        files[name].write_bytes(content)
    return files


@pytest.mark.parametrize(("file", "problem"), [
    ("corrupt.tflite", "corrupt or truncated TFLite model"),
    ("badroot.tflite", "corrupt or truncated TFLite model"),
    ("truncated.tflite", "corrupt or truncated TFLite model"),
    ("notes.tflite", "not a TFLite model"),
    ("photo.jpg", "not a TFLite model"),
    ("empty.tflite", "not a TFLite model: only 0 bytes"),
])
def test_inspect_bad_model_file(user_error: Callable[..., str], file: str, problem: str, mchair: Run,
                                third_party: Callable[[str], Path], tmp_path: Path) -> None:
    _damaged(third_party, tmp_path)
    line = user_error(mchair("model", "inspect", file), file, problem)
    assert line.startswith(f"mchair: error: {file}: ")


def test_partition_of_a_truncated_model(user_error: Callable[..., str], mchair: Run,
                                        third_party: Callable[[str], Path], tmp_path: Path) -> None:
    _damaged(third_party, tmp_path)
    user_error(mchair("model", "partition", "truncated.tflite", "--stages", "2", "--out", "out"),
                      "truncated.tflite", "corrupt or truncated")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_inspect_missing_paths(user_error: Callable[..., str], mchair: Run) -> None:
    user_error(mchair("model", "inspect", "absent.tflite"), "absent.tflite", "cannot read")
    user_error(mchair("model", "inspect", "nowhere/absent.yaml"), "absent.yaml", "cannot read")
    user_error(mchair("model", "inspect", "absent-model"), "absent-model", "not a built-in model")


def test_build_unknown_builtin_name(user_error: Callable[..., str], mchair: Run) -> None:
    user_error(mchair("model", "build", "no-such-model"), "no-such-model", "not a built-in model",
                      "alexnet-tiny")


BAD_SPECS = {
    "BAD.yaml": ("name: bad\ninput: {shape: [1, 8, 8, 3]}\nblocks:\n  - name: net\n    inputs: [frame]\n"
                 "    layers:\n      - {name: conv1, type: conv2d, filters: '8', kernel: 3}\n",
                 "blocks[0].layers[0].filters", "expected an integer >= 1, got '8'"),
    "softmax.yaml": ("name: bad\ninput: {shape: [1, 8]}\nblocks:\n  - name: net\n    inputs: [frame]\n"
                     "    layers:\n      - {name: fc, type: dense, units: 3, activation: softmax}\n",
                     "blocks[0].layers[0].activation", "got 'softmax'"),
    "broken.yaml": ("name: bad\nblocks: [\n", "line", "not valid YAML"),
    "list.yaml": ("- name: bad\n", "top level", "expected a mapping"),
}


@pytest.mark.parametrize("file", sorted(BAD_SPECS))
def test_build_malformed_spec(user_error: Callable[..., str], file: str, mchair: Run,
                              tmp_path: Path) -> None:
    text, key, expected = BAD_SPECS[file]
    (tmp_path / file).write_text(text)
    user_error(mchair("model", "build", file), file, key, expected)
    user_error(mchair("model", "inspect", file), file, key, expected)


# Specs that parse but cannot be built: the error is found while building, still names the file.
UNBUILDABLE = {
    "bigkernel.yaml": ("name: bigkernel\ninput: {shape: [1, 8, 8, 3]}\nblocks:\n  - name: net\n"
                       "    inputs: [frame]\n    layers:\n"
                       "      - {name: conv1, type: conv2d, filters: 4, kernel: 11, padding: valid}\n",
                       "conv1", "smaller than the kernel"),
    "flow.yaml": ("name: flow\ninput: {shape: [1, 8, 8, 3]}\nblocks:\n  - name: of\n    builtin: optical_flow\n"
                  "    inputs: [frame]\n", "blocks[0]", "optical_flow needs a window of 2 frames"),
}


@pytest.mark.parametrize("file", sorted(UNBUILDABLE))
def test_unbuildable_spec_names_the_file(user_error: Callable[..., str], file: str, mchair: Run,
                                         tmp_path: Path) -> None:
    text, where, expected = UNBUILDABLE[file]
    (tmp_path / file).write_text(text)
    user_error(mchair("model", "inspect", file), file, where, expected)
    # `build` announces what it builds first; the error is still one line, and the last.
    result = mchair("model", "build", file)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mchair: error: ")]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    assert file in errors[0] and expected in errors[0]


def test_partition_usage_errors(user_error: Callable[..., str], mchair: Run, tmp_path: Path) -> None:
    user_error(mchair("model", "partition", "alexnet-tiny", "--shard", "pool1=2", "--out", "D"),
                      "pool1", "MAX_POOL_2D cannot be sharded")
    user_error(mchair("model", "partition", "alexnet-tiny", "--cuts", "nope", "--out", "D"),
                      "--cuts nope", "no layer of that name")
    user_error(mchair("model", "partition", "alexnet-tiny", "--shard", "fc1=two", "--out", "D"),
                      "--shard fc1=two", "LAYER=K")
    user_error(mchair("model", "partition", "alexnet-tiny", "--shard", "fc1=1000", "--out", "D"),
                      "fc1=1000", "64 output units")
    user_error(mchair("model", "partition", "alexnet-tiny", "--stages", "0", "--out", "D"),
                      "--stages 0")
    assert not (tmp_path / "D" / "manifest.json").exists()


def test_check_without_manifest(user_error: Callable[..., str], mchair: Run, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    user_error(mchair("model", "check", "empty"), "empty/manifest.json", "cannot read",
                      "`mchair model partition`")
    user_error(mchair("model", "check", "absent"), "absent/manifest.json", "cannot read")
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "manifest.json").write_text('{"model": "x", "blocks": [')
    user_error(mchair("model", "check", "garbled"), "garbled/manifest.json", "not a valid partition manifest")


# --- happy paths ---------------------------------------------------------------------------------


def test_build_writes_the_tflite(mchair: Run, tmp_path: Path) -> None:
    result = mchair("model", "build", "alexnet-tiny", "--out", "D")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "D" / "classifier.tflite"
    assert path.is_file() and str(Path("D") / "classifier.tflite") in result.stdout
    graph = read_graph(path)
    assert [layer.name for layer in graph.layers] == [
        layer.name for layer in find_spec("alexnet-tiny").blocks[0].layers]
    assert json.loads((tmp_path / "D" / "model.json").read_text())["model"] == "alexnet-tiny"


def test_inspect_json_of_a_real_model(mchair: Run,
                                      third_party: Callable[[str], Path]) -> None:
    path = third_party("face_detection_short_range")
    result = mchair("model", "inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "face_detection_short_range"
    (block,) = report["blocks"]
    graph = read_graph(path)
    assert [layer["name"] for layer in block["layers"]] == [layer.name for layer in graph.layers]
    for layer in block["layers"]:
        assert isinstance(layer["macs"], int) and layer["macs"] >= 0
        assert isinstance(layer["cut_bytes"], int) and layer["cut_bytes"] >= 0
        assert layer["why_not_partitionable"] == ""
    assert sum(layer["macs"] for layer in block["layers"]) > 10_000_000
    # Inside a residual block a cut carries both branches.
    assert max(layer["cut_tensors"] for layer in block["layers"]) >= 2


def test_partition_check_and_tampered_manifest(mchair: Run,
                                               tmp_path: Path) -> None:
    result = mchair("model", "partition", "alexnet-tiny", "--stages", "3", "--shard", "fc1=2", "--out", "D")
    assert result.returncode == 0, result.stderr
    assert "manifest:" in result.stdout and "2 shards" in result.stdout
    result = mchair("model", "check", "D")
    assert result.returncode == 0, result.stderr
    header, _, *rows = result.stdout.splitlines()
    assert header.split() == ["block", "tasks", "samples", "max", "abs", "error", "max", "rel", "error", "outputs",
                              "vary", "ok"]
    assert len(rows) == 1 and rows[0].split()[0] == "classifier" and rows[0].split()[-1] == "yes", result.stdout

    manifest_path = tmp_path / "D" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (task,) = [t for t in manifest["tasks"] if t["layers"] == ["fc1"]]
    assert len(task["shards"]) == 2
    first, second = task["shards"]
    first["artifact"], second["artifact"] = second["artifact"], first["artifact"]
    manifest_path.write_text(json.dumps(manifest, indent=1))
    result = mchair("model", "check", "D")
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "NO" in result.stdout.split()
    assert "over tolerance" in result.stderr and "classifier" in result.stderr


def test_control_flow_op_is_named_not_a_crash(user_error: Callable[..., str], mchair: Run,
                                              tmp_path: Path) -> None:
    f32 = np.dtype("float32")
    tensors = [Tensor("x", (1, 4), f32), Tensor("act", (1, 4), f32), Tensor("loop", (1, 4), f32)]
    operators = [Operator("RELU", (0,), (1,)),
                 Operator("WHILE", (1,), (2,), "WhileOptions", {"cond_subgraph_index": 1, "body_subgraph_index": 2})]
    graph = Graph("looping", tensors, operators, [0], [2], [])
    graph.layers = default_layers(graph)
    assert [layer.name for layer in graph.layers] == ["act", "loop"]
    write_tflite(graph, tmp_path / "looping.tflite")

    result = mchair("model", "inspect", "looping.tflite")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (header,) = [line for line in lines if line.startswith("#")]
    column = header.index("cannot partition / notes")
    (row,) = [line for line in lines if " loop " in line]
    assert "WHILE" in row[column:], result.stdout
    (act,) = [line for line in lines if " act " in line]
    assert act[column:].strip() == "", result.stdout

    user_error(mchair("model", "partition", "looping.tflite", "--stages", "2", "--out", "D"),
                      "looping.tflite", "layer loop", "WHILE")
    assert not (tmp_path / "D" / "manifest.json").exists()


def test_inspect_with_a_codec_sizes_every_cut_against_the_raw_frame(mchair: Run) -> None:
    raw = json.loads(mchair("model", "inspect", "alexnet-tiny", "--json").stdout)
    result = mchair("model", "inspect", "alexnet-tiny", "--json", "--codec", "uint8", "--frames", "1")
    assert result.returncode == 0, result.stderr
    (block,) = json.loads(result.stdout)["blocks"]
    frame = 4 * 67 * 67 * 3
    for plain, coded in zip(raw["blocks"][0]["layers"], block["layers"], strict=True):
        # uint8 keeps a byte per value plus its scale and offset.
        assert coded["codec"] == "uint8"
        assert coded["codec_cut_bytes"] == plain["cut_bytes"] // 4 + 8
        assert coded["codec_cut_per_frame"] == coded["codec_cut_bytes"] / frame
    table = mchair("model", "inspect", "alexnet-tiny", "--codec", "uint8+zstd", "--frames", "1").stdout
    assert "cut in uint8+zstd" in table and "/ raw frame" in table


def test_inspect_with_an_unknown_codec(user_error: Callable[..., str], mchair: Run) -> None:
    user_error(mchair("model", "inspect", "alexnet-tiny", "--codec", "gzip"), "--codec gzip")
