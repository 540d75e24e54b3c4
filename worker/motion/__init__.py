"""Motion detection on camera frames: when it starts and stops, so the cluster can re-seat itself."""

from ._detector import MotionDetector, MotionEvent
from ._settings import MotionSettings, parse_motion_settings

__all__ = ["MotionDetector", "MotionEvent", "MotionSettings", "parse_motion_settings"]
