"""Shared fixtures: an isolated model cache, the third-party .tflite files, small DAG specs."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIRD_PARTY = ROOT / "build" / "third_party"
REAL_MODELS = ("face_detection_short_range", "palm_detection_lite", "hand_landmark_lite", "face_landmark")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session builds models into its own cache, never the user's."""
    path = tmp_path_factory.mktemp("model-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("MCHAIR_CACHE_DIR", str(path))
    yield path
    mp.undo()
    shutil.rmtree(path, ignore_errors=True)  # full-size models take over a GB


@pytest.fixture(scope="session")
def third_party() -> Callable[[str], Path]:
    """Path of a real third-party .tflite (fetched by `make third-party`)."""
    def get(name: str) -> Path:
        path = THIRD_PARTY / f"{name}.tflite"
        if not path.exists():
            pytest.fail(f"{path} is missing: run `make third-party` (the README's test command does)")
        return path
    return get


def _conv(name: str, filters: int, k: int = 3, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": "conv2d", "filters": filters, "kernel": k, **kw}


def resnet_spec() -> dict[str, Any]:
    """Two residual blocks (one with a projection), then a pooled classifier."""
    return {"name": "tiny-resnet", "input": {"name": "image", "shape": [1, 16, 16, 3]}, "blocks": [{
        "name": "net", "inputs": ["image"], "layers": [
            _conv("stem", 8, activation="relu"),
            _conv("r1a", 8, activation="relu"), _conv("r1b", 8),
            {"name": "r1add", "type": "add", "inputs": ["stem", "r1b"], "activation": "relu"},
            _conv("r2a", 16, stride=2, activation="relu"), _conv("r2b", 16),
            _conv("r2proj", 16, k=1, stride=2, inputs=["r1add"]),
            {"name": "r2add", "type": "add", "inputs": ["r2b", "r2proj"], "activation": "relu"},
            {"name": "gap", "type": "global_avgpool"},
            {"name": "fc", "type": "dense", "units": 10},
            {"name": "prob", "type": "softmax"}]}]}


def mobilenet_spec(weights: str = "float32") -> dict[str, Any]:
    """Depthwise-separable blocks with PAD, PRELU, an inverted residual, hard-swish."""
    return {"name": f"tiny-mobilenet-{weights}", "input": {"name": "image", "shape": [1, 24, 24, 3]},
            "blocks": [{"name": "net", "inputs": ["image"], "weights": weights, "layers": [
                {"name": "pad0", "type": "pad", "padding": [0, 1, 0, 1]},
                _conv("conv0", 8, stride=2, padding="valid"),
                {"name": "prelu0", "type": "prelu"},
                {"name": "dw1", "type": "depthwise_conv2d", "kernel": 3, "activation": "relu6"},
                _conv("pw1", 8, k=1),
                {"name": "res1", "type": "add", "inputs": ["prelu0", "pw1"]},
                {"name": "dw2", "type": "depthwise_conv2d", "kernel": 3, "stride": 2, "multiplier": 2},
                {"name": "bn2", "type": "batch_norm"},
                {"name": "hs2", "type": "hard_swish"},
                _conv("pw2", 12, k=1, activation="relu"),
                {"name": "pool", "type": "avgpool2d", "pool": 2, "padding": "same"},
                {"name": "flat", "type": "flatten"},
                {"name": "fc", "type": "dense", "units": 6, "activation": "tanh"}]}]}


def two_head_spec() -> dict[str, Any]:
    """A shared trunk with two heads: the block has two outputs."""
    return {"name": "two-head", "input": {"name": "image", "shape": [1, 12, 12, 3]}, "blocks": [{
        "name": "net", "inputs": ["image"], "outputs": ["boxes", "scores"], "layers": [
            _conv("trunk1", 8, activation="relu"),
            {"name": "trunk_pool", "type": "maxpool2d", "pool": 2},
            _conv("trunk2", 8, activation="relu"),
            _conv("box_conv", 4, k=1, inputs=["trunk2"]),
            {"name": "boxes", "type": "reshape", "shape": [1, -1, 4]},
            _conv("score_conv", 2, k=1, inputs=["trunk2"]),
            {"name": "score_flat", "type": "flatten"},
            {"name": "scores", "type": "sigmoid"},
            ]}]}


@pytest.fixture(scope="session")
def dag_specs() -> dict[str, dict[str, Any]]:
    """Generated DAG models as spec dicts, by name."""
    return {s["name"]: s for s in (resnet_spec(), mobilenet_spec(), mobilenet_spec("float16"), two_head_spec())}


@pytest.fixture(scope="session")
def fc_bound_profile() -> Any:
    """rpi3 with fast convolutions and slow fc layers: plans split and replicate as n grows."""
    import dataclasses

    from orchestrator.profile import OpModel, find_profile

    rpi3 = find_profile("rpi3")
    ops = dict(rpi3.ops)
    ops["CONV_2D"] = OpModel("CONV_2D", 0.0005, 0.0001, source="test: fast convolutions")
    ops["FULLY_CONNECTED"] = OpModel("FULLY_CONNECTED", 0.0, s_per_mb=0.5, source="test: slow fc layers")
    return dataclasses.replace(rpi3, name="fcbound", ops=ops)
