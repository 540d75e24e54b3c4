"""The ``motion:`` section of cluster.yaml.

Every key, with its default::

    motion:
      threshold: 25         # a thumbnail pixel changed when its grey level moved by more than this (1..255)
      min_area: 0.01        # a frame moves when at least this fraction of thumbnail pixels changed (0..1]
      start_frames: 3       # motion starts after this many consecutive moving frames
      quiet_frames: 15      # motion stops after this many consecutive still frames
      thumbnail_width: 64   # frames are compared as grey thumbnails this wide (>= 8)
      blur: 5               # Gaussian kernel size (odd; 1: no blur), smooths sensor noise away
      fps: 10.0             # camera frames read per second while not recording (> 0; recording: the table's fps)
      enabled: true         # false: only `mchair motion` starts streams
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from worker._yaml import Validator


@dataclass(frozen=True)
class MotionSettings:
    """How a camera agent decides that the scene moves."""

    threshold: int = 25
    min_area: float = 0.01
    start_frames: int = 3
    quiet_frames: int = 15
    thumbnail_width: int = 64
    blur: int = 5
    fps: float = 10.0
    enabled: bool = True


def parse_motion_settings(raw: Any, file: str = "cluster.yaml") -> MotionSettings:
    """Validate the ``motion:`` mapping (None: all defaults); errors name ``motion.KEY``."""
    v = Validator(file)
    m = v.mapping(raw if raw is not None else {}, "motion", {f.name for f in fields(MotionSettings)})
    d = MotionSettings()
    threshold = v.integer(m.get("threshold", d.threshold), "motion.threshold", minimum=1)
    if threshold > 255:
        raise v.fail("motion.threshold", "an integer in 1..255", threshold)
    min_area = v.number(m.get("min_area", d.min_area), "motion.min_area", positive=True)
    if min_area > 1:
        raise v.fail("motion.min_area", "a fraction in (0, 1]", m.get("min_area"))
    blur = v.integer(m.get("blur", d.blur), "motion.blur", minimum=1)
    if blur % 2 == 0:
        raise v.fail("motion.blur", "an odd integer >= 1 (1: no blur)", blur)
    fps = v.number(m.get("fps", d.fps), "motion.fps", positive=True)
    if not math.isfinite(fps):   # a zero period would read the camera in a busy loop
        raise v.fail("motion.fps", "a finite positive number", fps)
    enabled = m.get("enabled", d.enabled)
    if not isinstance(enabled, bool):
        raise v.fail("motion.enabled", "true or false", enabled)
    return MotionSettings(
        threshold, min_area,
        v.integer(m.get("start_frames", d.start_frames), "motion.start_frames", minimum=1),
        v.integer(m.get("quiet_frames", d.quiet_frames), "motion.quiet_frames", minimum=1),
        v.integer(m.get("thumbnail_width", d.thumbnail_width), "motion.thumbnail_width", minimum=8),
        blur, fps, enabled)
