"""Verification against the reference never crashes on a bad result: a wrong shape fails its own tag."""

from __future__ import annotations

import numpy as np

from orchestrator.master import verify
from orchestrator.master._results import Inference
from orchestrator.toolchain.reference import StreamReference
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.camera import open_camera, preprocess

MODEL, SEED, TAGS = "alexnet-tiny", 5, 6


def inference(tag: int, value: np.ndarray) -> Inference:
    return Inference(tag, tag, {"out": value}, 1.0, 1.0, 0.0, 0.0, float(tag))


def test_a_result_of_the_wrong_shape_is_a_failed_comparison_not_a_traceback() -> None:
    spec = find_spec(MODEL)
    reference, camera = StreamReference(build_model(spec)), open_camera(f"synthetic:{SEED}")
    want = {r.tag: next(iter(r.outputs.values())) for t in range(TAGS)
            for r in reference.push(t, preprocess(camera.read(), spec.input.shape))}
    got = [inference(t, want[t]) for t in range(TAGS)]
    got[3] = inference(3, np.zeros(want[3].size + 7, np.float32))      # `cannot reshape` before
    got[4] = inference(4, np.zeros(0, np.float32))
    verdict = verify(spec, SEED, {t: t for t in range(TAGS)}, got)
    assert (verdict.checked, verdict.equal, verdict.misshapen, verdict.first_bad_tag) == (TAGS, TAGS - 2, 2, 3)
    assert not verdict.ok and verdict.worst < 1e-5, "the misshapen results are not compared"
