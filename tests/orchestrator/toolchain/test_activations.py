"""Tapping a model's values: the numpy executor and the stream reference hand every activation to a tap,
which can replace it; ``CutSizes`` sizes every cut in a codec from those activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.toolchain.activations import CutSizes, ModelStream, record_activations
from orchestrator.toolchain.analysis import layer_stats
from orchestrator.toolchain.model import open_model
from orchestrator.toolchain.reference import StreamReference
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.camera import SyntheticCamera, preprocess
from worker.executor import NumpyRunner

MODEL = "alexnet-tiny"


def _frames(n: int = 3) -> list[np.ndarray]:
    spec = find_spec(MODEL)
    return [preprocess(f, tuple(spec.input.shape)) for f in SyntheticCamera(seed=0).frames(n)]


def test_a_tap_that_returns_nothing_changes_nothing() -> None:
    model = build_model(find_spec(MODEL), progress=False)
    seen: list[tuple[str, str]] = []
    plain = [r.outputs for r in StreamReference(model, backend="numpy").run(_frames())]
    tapped = [r.outputs for r in StreamReference(model, tap=lambda b, t, v: seen.append((b, t))).run(_frames())]
    for a, b in zip(plain, tapped, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    assert ("", "image") in seen, "the model input is tapped as block ''"
    assert ("classifier", "conv1") in seen and ("classifier", "softmax") in seen


def test_a_tap_replaces_an_activation_on_its_way() -> None:
    runner = NumpyRunner(build_model(find_spec(MODEL), progress=False).path("classifier"))
    feeds = {runner.inputs[0].name: _frames(1)[0]}
    plain = runner.run(feeds)
    zeroed = runner.run(feeds, lambda name, value: np.zeros_like(value) if name == "conv5" else None)
    out = runner.outputs[0].name
    assert not np.allclose(plain[out], zeroed[out])
    # After conv5 everything is a function of zeros: the same result from any frame.
    other = runner.run({runner.inputs[0].name: _frames(2)[1]},
                       lambda name, value: np.zeros_like(value) if name == "conv5" else None)
    np.testing.assert_allclose(zeroed[out], other[out])


def test_record_activations_keeps_every_value_of_every_frame() -> None:
    seen, frames = record_activations(open_model(MODEL), 2)
    assert frames == 2
    assert len(seen[("", "image")]) == 2 and len(seen[("classifier", "fc1")]) == 2


@pytest.mark.parametrize(("codec", "ratio"), [("raw", 1.0), ("fp16", 0.5)])
def test_cut_sizes_match_the_layer_table_in_raw_and_halve_in_fp16(codec: str, ratio: float) -> None:
    model = open_model(MODEL)
    blocks = model.blocks
    sizes = CutSizes(model, codec, 2)
    stats = layer_stats(blocks[0].graph)  # type: ignore[arg-type]
    for s in stats:
        assert sizes.cut_bytes(blocks[0], s.index) == pytest.approx(s.cut_bytes * ratio, abs=8)
    assert sizes.frame_bytes == 4 * int(np.prod(find_spec(MODEL).input.shape))


def test_a_tflite_file_streams_its_camera_frames_as_frame(third_party: object, tmp_path: Path) -> None:
    path = third_party("face_detection_short_range")  # type: ignore[operator]
    stream = ModelStream(open_model(path))
    keys: set[tuple[str, str]] = set()
    outputs, frames = stream.run(1, lambda b, t, v: keys.add((b, t)))
    assert frames == 1 and len(outputs) == 1
    assert ("", "frame") in keys and any(b == path.stem for b, _ in keys)
