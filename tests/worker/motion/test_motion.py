"""Motion detection: hysteresis on scripted scenes, noise immunity, cuts, and settings validation."""

from __future__ import annotations

import numpy as np
import pytest

from worker.camera import ScriptedCamera
from worker.errors import ConfigError
from worker.motion import (
    MotionDetector,
    MotionEvent,
    MotionSettings,
    parse_motion_settings,
)


def _events(cam: ScriptedCamera, count: int, det: MotionDetector | None = None,
            noise: float = 0.0) -> list[MotionEvent]:
    det = det or MotionDetector()
    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        frame = cam.read().copy()
        if noise:
            salt = rng.random(frame.shape[:2]) < noise
            frame[salt] = 255
        event = det.update(frame)
        if event:
            out.append(event)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_start_after_start_frames_and_stop_after_quiet_frames(seed: int) -> None:
    cam = ScriptedCamera(seed, [("still", 30), ("move", 60), ("still", 40)])
    events = _events(cam, 130)
    s = MotionSettings()
    assert [(e.kind, e.frame) for e in events] == [("start", 30 + s.start_frames - 1),
                                                   ("stop", 90 + s.quiet_frames - 1)]
    assert events[0].score >= s.min_area and events[1].score < s.min_area


def test_other_start_and_quiet_counts() -> None:
    det = MotionDetector(MotionSettings(start_frames=1, quiet_frames=5))
    events = _events(ScriptedCamera(4, [("still", 10), ("move", 20), ("still", 10)]), 40, det)
    assert [(e.kind, e.frame) for e in events] == [("start", 10), ("stop", 34)]
    assert not det.moving


def test_still_scene_and_salt_noise_give_no_event() -> None:
    assert _events(ScriptedCamera(0, [("still", 1)]), 60) == []
    assert _events(ScriptedCamera(0, [("still", 1)]), 60, noise=0.01) == []


def test_one_frame_glitch_is_not_motion() -> None:
    cam = ScriptedCamera(0, [("still", 1)])
    det = MotionDetector()
    frames = list(cam.frames(20))
    frames[10] = 255 - frames[10]     # a single flash, then the scene is back
    assert [det.update(f) for f in frames] == [None] * 20


def test_scene_cut_counts_as_motion() -> None:
    cam = ScriptedCamera(5, [("still", 20), ("cut", 1), ("still", 40)])
    events = _events(cam, 61)
    s = MotionSettings()
    start = 20 + s.start_frames - 1   # the cut frame and the held frames after it differ from the old scene
    # quiet frames are counted from the frame after the start
    assert [(e.kind, e.frame) for e in events] == [("start", start), ("stop", start + s.quiet_frames)]
    assert events[0].score > 0.5


def test_reset_forgets_the_scene() -> None:
    det = MotionDetector()
    a, b = ScriptedCamera(0).read(), ScriptedCamera(9).read()
    det.update(a)
    det.reset()
    assert det.update(b) is None and det.score == 0.0


def test_settings_defaults_and_values() -> None:
    assert parse_motion_settings(None) == MotionSettings()
    assert parse_motion_settings({}) == MotionSettings()
    got = parse_motion_settings({"threshold": 40, "min_area": 0.05, "start_frames": 2, "quiet_frames": 8,
                                 "thumbnail_width": 32, "blur": 1}, "c.yaml")
    assert got == MotionSettings(40, 0.05, 2, 8, 32, 1)
    assert MotionSettings().fps == 10.0 and MotionSettings().enabled is True
    got = parse_motion_settings({"fps": 4, "enabled": False})
    assert got.fps == 4.0 and isinstance(got.fps, float) and got.enabled is False


@pytest.mark.parametrize("raw, key", [
    ({"threshold": 0}, "motion.threshold"), ({"threshold": 300}, "motion.threshold"),
    ({"threshold": "high"}, "motion.threshold"), ({"min_area": 0}, "motion.min_area"),
    ({"min_area": 1.5}, "motion.min_area"), ({"start_frames": 0}, "motion.start_frames"),
    ({"quiet_frames": True}, "motion.quiet_frames"), ({"thumbnail_width": 4}, "motion.thumbnail_width"),
    ({"blur": 4}, "motion.blur"), ({"speed": 1}, "motion.speed"), ([1, 2], "motion"),
    ({"fps": 0}, "motion.fps"), ({"fps": -2.5}, "motion.fps"), ({"fps": "fast"}, "motion.fps"),
    ({"fps": float("inf")}, "motion.fps"), ({"fps": float("nan")}, "motion.fps"), ({"fps": True}, "motion.fps"),
    ({"enabled": "yes"}, "motion.enabled"), ({"enabled": 1}, "motion.enabled"), ({"enabled": None}, "motion.enabled"),
])
def test_settings_errors_name_the_key(raw: object, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_motion_settings(raw, "cluster.yaml")
    assert err.value.key == key and err.value.file == "cluster.yaml"
    assert str(err.value).startswith(f"cluster.yaml: {key}:")
