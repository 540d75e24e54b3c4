"""A slow stage: its agent says AlmostFull, the recorder halves its rate (skipped frames are drops, not
tags), results keep consecutive tags equal to the reference on the kept frames, Resume restores the rate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._harness import Partitioned, async_play, camera_frames, check_results, run_async

FPS = 40.0
SLOW_S = 0.04      # stage 1 on pi1 takes 40 ms a tag: 25 tags/s against 40 frames/s
FRAMES = 60


def test_a_slow_stage_lowers_the_rate_without_breaking_windows(partitioned: Callable[[int], Partitioned],
                                                                tmp_path: Path) -> None:
    part = partitioned(3)
    played = run_async(async_play(part, ["pi0", "pi1", "pi2"], tmp_path, frames=FRAMES, seed=3, fps=FPS,
                                  table_kw={"buffer": 24, "almost_full": 8}, throttle={"pi1": {1: SLOW_S}},
                                  timeout=40), timeout=60)
    rec, slow = played.counters["pi0"], played.counters["pi1"]
    # pi1 said AlmostFull (and Resume once drained); the recorder lowered its rate, skipping frames.
    assert slow.almost_full_sent >= 1 and slow.resume_sent >= 1, slow
    assert played.counters["pi2"].almost_full_sent == 0
    assert rec.frames == FRAMES and rec.frame_drops > 0, rec
    rates = [rate for _, rate in played.rate_changes]
    assert min(rates) <= FPS / 2 and played.final_rate == FPS, rates
    # No tag was lost to a full buffer: lowering the rate was enough.
    assert all(c.overflow_drops == 0 and c.compute_errors == 0 for c in played.counters.values())
    # The kept frames are the camera's, in order, with holes where frames were skipped ...
    numbers = [played.numbers[tag] for tag in range(FRAMES)]
    assert numbers == sorted(set(numbers)) and numbers[-1] - numbers[0] + 1 == FRAMES + rec.frame_drops, numbers
    camera = camera_frames(3, numbers[-1] + 1)
    for frame, number in zip(played.kept, numbers):
        np.testing.assert_array_equal(frame, camera[number])
    # ... and numbered without holes, so every window is whole: results equal the reference on them.
    check_results(played)
    print(f"\n{len(played.want)} results, {rec.frames} frames kept, {rec.frame_drops} skipped; "
          f"pi1: {slow.almost_full_sent} AlmostFull, {slow.resume_sent} Resume; rates {rates}; "
          f"{played.seconds:.1f} s")
