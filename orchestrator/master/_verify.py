"""Do a run's results equal the single-process stream reference, tag by tag?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from worker.camera import open_camera, preprocess

from ..toolchain.reference import StreamReference
from ..toolchain.spec import ModelSpec
from ..toolchain.zoo import build_model
from ._results import Inference
from ._streams import EpochRun

RTOL, ATOL = 1e-5, 1e-6


@dataclass(frozen=True)
class Verdict:
    """How a run's results compare with the reference."""

    checked: int          # results compared tag by tag
    equal: int            # of which equal (within RTOL/ATOL)
    unchecked: int        # results whose frames the recorder had not reported yet
    worst: float          # largest |got - want| / (|want| max)
    first_bad_tag: int = -1
    misshapen: int = 0    # of the checked, results not of the reference's shape (failed, not compared)

    @property
    def ok(self) -> bool:
        """Every checked result equal, and at least one checked."""
        return self.checked > 0 and self.equal == self.checked


def verify(spec: ModelSpec, camera: int | str, frames: Mapping[int, int], inferences: Sequence[Inference],
           error_budget: float = 0.0) -> Verdict:
    """Replay the camera frames each tag was (``frames``: tag -> camera frame number, as the recorder
    reported them) through the stream reference and compare every result it can. ``camera``: the
    synthetic camera's spec (``synthetic:SEED[:SCRIPT]``) or its seed. With an ``error_budget`` (lossy
    codecs on the links) a result is equal when its relative error is within it."""
    known = 0
    while known in frames:
        known += 1   # tags 0..known-1 have frame numbers: the reference needs every one before a tag
    wanted = {i.tag for i in inferences if i.tag < known}
    if not wanted:
        return Verdict(0, 0, len(inferences), 0.0)
    last = max(wanted)
    source = open_camera(camera if isinstance(camera, str) else f"synthetic:{camera}")
    reference = StreamReference(build_model(spec))
    expected: dict[int, np.ndarray] = {}
    number = -1
    frame = np.zeros(0)   # read before its first use: every tag's frame number is >= 0
    for tag in range(last + 1):
        while number < frames[tag]:   # read the camera up to this tag's frame, as the recorder did
            frame, number = source.read(), number + 1
        for result in reference.push(tag, preprocess(frame, spec.input.shape)):
            if result.tag in wanted:
                expected[result.tag] = next(iter(result.outputs.values()))
    checked = equal = misshapen = 0
    worst, first_bad = 0.0, -1
    for inference in inferences:
        if inference.tag not in wanted or inference.tag not in expected:
            continue
        want = expected[inference.tag]
        checked += 1
        got = next(iter(inference.outputs.values()), None)
        if got is None or got.size != want.size:   # a forged or broken result fails its tag, not the check
            misshapen += 1
            first_bad = inference.tag if first_bad < 0 else first_bad
            continue
        got = got.reshape(want.shape)
        error = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-12))
        worst = max(worst, error)
        if np.allclose(got, want, rtol=RTOL, atol=ATOL) or error <= error_budget:
            equal += 1
        elif first_bad < 0:
            first_bad = inference.tag
    return Verdict(checked, equal, len(inferences) - checked, worst, first_bad, misshapen)


def verify_runs(spec: ModelSpec, camera: int | str, runs: Sequence[EpochRun], error_budget: float = 0.0) -> Verdict:
    """``verify`` every epoch of a stream (each starts its tags and windows afresh), summed up."""
    verdicts = [verify(spec, camera, r.frames, r.results.inferences, error_budget) for r in runs
                if r.results.inferences]
    bad = next((v.first_bad_tag for v in verdicts if v.first_bad_tag >= 0), -1)
    return Verdict(sum(v.checked for v in verdicts), sum(v.equal for v in verdicts),
                   sum(v.unchecked for v in verdicts), max((v.worst for v in verdicts), default=0.0), bad,
                   sum(v.misshapen for v in verdicts))


__all__ = ["Verdict", "verify", "verify_runs"]
