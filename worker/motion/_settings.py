"""The ``motion:`` section of cluster.yaml: how a camera agent decides that the scene moves (keys below)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from worker._config_keys import Broken, Flag, Integer, Number, Rule, key, parse_section


def _odd_blur(m: MotionSettings) -> Broken | None:
    return Broken("blur", "an odd integer >= 1 (1: no blur)", m.blur) if m.blur % 2 == 0 else None


@dataclass(frozen=True)
class MotionSettings:
    """How a camera agent decides that the scene moves."""

    RULES: ClassVar[tuple[Rule, ...]] = (_odd_blur,)

    threshold: int = key(25, Integer(1, 255),
                         "a thumbnail pixel changed when its grey level moved by more than this")
    min_area: float = key(0.01, Number(0, 1, above=True),
                          "a frame moves when at least this fraction of thumbnail pixels changed")
    start_frames: int = key(3, Integer(1, 10_000), "motion starts after this many consecutive moving frames")
    quiet_frames: int = key(15, Integer(1, 10_000), "motion stops after this many consecutive still frames")
    thumbnail_width: int = key(64, Integer(8, 4096), "frames are compared as grey thumbnails this wide")
    blur: int = key(5, Integer(1, 255), "Gaussian kernel size (odd; 1: no blur). It smooths sensor noise away")
    # Finite: a zero period would read the camera in a busy loop.
    fps: float = key(10.0, Number(0, 1000, above=True), "camera frames read per second while the camera does not "
                     "record. While recording, the camera runs at the task table's fps")
    enabled: bool = key(True, Flag(), "`false`: only `mchair motion CAMERA` (or `mchair master --record CAMERA`) "
                        "starts streams")


def parse_motion_settings(raw: Any, file: str = "cluster.yaml") -> MotionSettings:
    """Validate the ``motion:`` mapping (None: all defaults); errors name ``motion.KEY``."""
    return parse_section(MotionSettings, {} if raw is None else raw, "motion", file)
