"""Frame differencing on a blurred grey thumbnail, with hysteresis so noise and flicker are ignored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ._settings import MotionSettings


@dataclass(frozen=True)
class MotionEvent:
    """Motion started or stopped at frame ``frame`` (0-based count of ``update`` calls)."""

    kind: Literal["start", "stop"]
    frame: int
    score: float   # fraction of thumbnail pixels that changed at that frame


class MotionDetector:
    """Feed frames to ``update``; it returns a MotionEvent only when motion starts or stops."""

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self.moving = False
        self.score = 0.0          # changed fraction of the last frame
        self.frames = 0           # frames seen
        self._reference: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._run = 0             # consecutive moving (while still) or still (while moving) frames

    def reset(self) -> None:
        """Forget the scene (e.g. after switching cameras): the next frame is the new reference."""
        self.moving, self.score, self._run = False, 0.0, 0
        self._reference = self._previous = None

    def thumbnail(self, frame: np.ndarray) -> np.ndarray:
        """The blurred grey thumbnail compared between frames."""
        s = self.settings
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
        height = max(1, round(grey.shape[0] * s.thumbnail_width / grey.shape[1]))
        thumb = cv2.resize(grey, (s.thumbnail_width, height), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(thumb, (s.blur, s.blur), 0) if s.blur > 1 else thumb

    def _changed(self, a: np.ndarray, b: np.ndarray) -> float:
        if a.shape != b.shape:   # the camera changed resolution: that is a new scene
            return 1.0
        return float(np.count_nonzero(cv2.absdiff(a, b) > self.settings.threshold)) / a.size

    def update(self, frame: np.ndarray) -> MotionEvent | None:
        """Take the next frame; a MotionEvent when motion just started or stopped, else None."""
        s, index = self.settings, self.frames
        self.frames += 1
        thumb = self.thumbnail(frame)
        event = None
        if self._reference is None:
            self._reference = thumb
        elif not self.moving:
            # Compare with the last still frame, not the previous one: a scene cut stays different
            # from it frame after frame (and so starts motion), a one-frame glitch does not.
            self.score = self._changed(thumb, self._reference)
            if self.score >= s.min_area:
                self._run += 1
                if self._run >= s.start_frames:
                    self.moving, self._run = True, 0
                    event = MotionEvent("start", index, self.score)
            else:
                self._run, self._reference = 0, thumb   # follow slow drift (light) while still
        else:
            assert self._previous is not None
            self.score = self._changed(thumb, self._previous)
            if self.score < s.min_area:
                self._run += 1
                if self._run >= s.quiet_frames:
                    self.moving, self._run, self._reference = False, 0, thumb
                    event = MotionEvent("stop", index, self.score)
            else:
                self._run = 0
        self._previous = thumb
        return event
