"""The recorder of one epoch: tags the camera frames it keeps, lowering its sampling rate under back-pressure.

The camera loop (``_camera.py``) reads the camera at the table's fps while the recorder records and
offers it every frame with its camera frame number. The recorder keeps one frame in ``2**halvings``
and numbers only the kept ones (tag 0, 1, ... from every new table), so windows downstream never
meet a hole. Every AlmostFull halves the rate again (down to ``1/2**max_halvings``); the full rate
comes back once every seat that said AlmostFull has said Resume. Skipped frames are drops.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from worker.camera import open_camera, preprocess

log = logging.getLogger("mchair.agent")

MAX_HALVINGS = 6
OnFrame = Callable[[int, np.ndarray, int, int], None]   # (tag, model input, captured_ns, camera frame)


class FrameSource(Protocol):
    """A camera: ``read()`` gives the next frame (uint8 RGB, any size)."""

    def read(self) -> np.ndarray:
        """The next frame."""
        ...


def synthetic_camera(seed: int = 0) -> FrameSource:
    """The seeded synthetic camera (the same frames as ``SyntheticCamera(seed=seed)`` anywhere)."""
    return open_camera(f"synthetic:{seed}")


class Recorder:
    """Tags the frames offered while it records, preprocessed to ``shape``, and hands them to ``on_frame``."""

    def __init__(self, shape: tuple[int, ...], fps: float, on_frame: OnFrame, *,
                 max_frames: int | None = None, max_halvings: int = MAX_HALVINGS) -> None:
        self.shape, self.fps = tuple(shape), float(fps)
        self._on_frame = on_frame
        self.max_frames, self.max_halvings = max_frames, max_halvings
        self.kept = 0          # frames tagged (the next tag)
        self._numbers: list[int] = []   # camera frame numbers of the tags kept since take_numbers()
        self.drops = 0         # frames offered and skipped because the rate was lowered
        self.halvings = 0
        self._skip = 0         # frames still to skip before the next kept one
        self._full: set[str] = set()
        self._started = self._stopped = False
        # (monotonic time, rate) at every change: what the tests and the logs show of the back-pressure.
        self.rate_changes: deque[tuple[float, float]] = deque(maxlen=1000)

    @property
    def rate(self) -> float:
        """Frames kept per second now."""
        return self.fps / (1 << self.halvings)

    @property
    def running(self) -> bool:
        """True while it records: started, not stopped, and short of ``max_frames``."""
        return (self._started and not self._stopped
                and (self.max_frames is None or self.kept < self.max_frames))

    @property
    def almost_full_seats(self) -> frozenset[str]:
        """The seats that said AlmostFull and have not said Resume yet."""
        return frozenset(self._full)

    def start(self) -> None:
        """Start recording (a no-op once started, or once stopped)."""
        self._started = True

    def stop(self) -> None:
        """Stop recording for good (the epoch is over): frames offered later are ignored."""
        self._stopped = True

    def almost_full(self, seat: str) -> None:
        """``seat`` is almost full: halve the sampling rate (once more)."""
        self._full.add(seat)
        if self.halvings < self.max_halvings:
            self.halvings += 1
            self.rate_changes.append((time.monotonic(), self.rate))
            log.info("%s is almost full: sampling at %.3g frames/s", seat, self.rate)

    def resume(self, seat: str) -> None:
        """``seat`` drained: the full rate comes back once no seat is almost full."""
        self._full.discard(seat)
        if not self._full and self.halvings:
            self.halvings, self._skip = 0, 0
            self.rate_changes.append((time.monotonic(), self.rate))
            log.info("%s resumed: sampling at %.3g frames/s again", seat, self.rate)

    def offer(self, frame: np.ndarray, number: int, captured_ns: int) -> None:
        """Camera frame ``number``, read at ``captured_ns``: tag it unless the lowered rate skips it.

        An exception from preprocessing or ``on_frame`` propagates (the camera loop counts it); a
        frame that got its tag keeps it, so tags stay without holes.
        """
        if not self.running:
            return
        if self._skip > 0:
            self._skip -= 1
            self.drops += 1
            return
        self._skip = (1 << self.halvings) - 1
        value = preprocess(frame, self.shape)
        tag, self.kept = self.kept, self.kept + 1
        self._numbers.append(number)
        if not self.running:   # max_frames reached: this was the last frame
            log.info("recorded %d frames (%d skipped): stopping", self.kept, self.drops)
        self._on_frame(tag, value, captured_ns, number)

    def take_numbers(self) -> tuple[int, tuple[int, ...]]:
        """(first tag, camera frame numbers) of the frames kept since the last call: which frame each tag is."""
        numbers, self._numbers = tuple(self._numbers), []
        return (self.kept - len(numbers) if numbers else -1), numbers


__all__ = ["MAX_HALVINGS", "FrameSource", "OnFrame", "Recorder", "synthetic_camera"]
