"""The stream reference equals running each block by hand over explicit windows, tag by tag."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.toolchain.reference import StreamReference
from orchestrator.toolchain.spec import parse_spec
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.camera import SyntheticCamera, preprocess
from worker.executor import LiteRTRunner
from worker.stream import OpticalFlow

FRAMES = 24


def _frames(shape: tuple[int, ...], n: int = FRAMES, seed: int = 3) -> list[np.ndarray]:
    return [preprocess(f, shape) for f in SyntheticCamera(seed=seed).frames(n)]


def test_action_model_matches_hand_computation() -> None:
    model = build_model(find_spec("action-recognition-tiny"), progress=False)
    frames = _frames(model.spec.input.shape)
    results = {r.tag: r.outputs["softmax"] for r in StreamReference(model, backend="litert").run(frames)}

    run = {b: LiteRTRunner(model.path(b)) for b in ("spatial", "temporal", "fusion")}
    flow = OpticalFlow()
    spatial = {t: run["spatial"].run({"frame": f})["fc1s"] for t, f in enumerate(frames)}
    flows = {t: flow([np.stack([frames[t - 1], frames[t]], axis=1)]) for t in range(1, FRAMES)}
    temporal = {t: run["temporal"].run({"optical_flow": np.concatenate([flows[s] for s in range(t - 3, t + 1)],
                                                                       -1)})["fc1t"]
                for t in range(4, FRAMES)}
    expected = {}
    for t in range(10, FRAMES):  # 5 spatial features and 7 temporal ones (from tag 4 on)
        expected[t] = run["fusion"].run({
            "spatial": np.stack([spatial[s] for s in range(t - 4, t + 1)], axis=1),
            "temporal": np.stack([temporal[s] for s in range(t - 6, t + 1)], axis=1)})["softmax"]
    assert sorted(results) == sorted(expected)
    for t in expected:
        np.testing.assert_array_equal(results[t], expected[t])
        assert results[t].sum() == pytest.approx(1.0, rel=1e-5)
    # The video moves: results differ from tag to tag.
    assert not np.array_equal(results[10], results[FRAMES - 1])


def test_strided_window_gives_every_other_result() -> None:
    spec = parse_spec({
        "name": "strided", "input": {"name": "frame", "shape": [1, 8, 8, 3]},
        "blocks": [
            {"name": "feat", "inputs": ["frame"], "layers": [
                {"name": "c", "type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
                {"name": "gap", "type": "global_avgpool"}]},
            {"name": "head", "inputs": [{"from": "feat", "window": {"size": 4, "stride": 2}}], "layers": [
                {"name": "pyr", "type": "temporal_pyramid", "levels": 2},
                {"name": "fc", "type": "dense", "units": 3}]}]})
    model = build_model(spec, progress=False)
    tags = [r.tag for r in StreamReference(model).run(_frames((1, 8, 8, 3), 12))]
    assert tags == [3, 5, 7, 9, 11]


def test_numpy_and_litert_references_agree() -> None:
    model = build_model(find_spec("action-recognition-tiny"), progress=False)
    frames = _frames(model.spec.input.shape, 16)
    a = list(StreamReference(model, backend="litert").run(frames))
    b = list(StreamReference(model, backend="numpy").run(frames))
    assert [r.tag for r in a] == [r.tag for r in b] and a
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.outputs["softmax"], y.outputs["softmax"], rtol=1e-4, atol=1e-6)
