"""The recorder's camera loop: frames at the table's fps, a sampling rate lowered by back-pressure.

The camera runs at full speed whatever the rate (a real camera does); the recorder keeps one frame
in ``2**halvings`` and numbers only the kept ones (tag 0, 1, ...), so windows downstream never
meet a hole. Every AlmostFull halves the rate again (down to ``1/2**max_halvings``); the full rate
comes back once every seat that said AlmostFull has said Resume. Skipped frames are drops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from worker.camera import SyntheticCamera, preprocess

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
    return SyntheticCamera(seed=seed)


class Recorder:
    """Reads ``camera`` at ``fps``, preprocesses kept frames to ``shape`` and hands them to ``on_frame``."""

    def __init__(self, camera: FrameSource, shape: tuple[int, ...], fps: float, on_frame: OnFrame, *,
                 max_frames: int | None = None, max_halvings: int = MAX_HALVINGS) -> None:
        self.camera, self.shape, self.fps = camera, tuple(shape), float(fps)
        self._on_frame = on_frame
        self.max_frames, self.max_halvings = max_frames, max_halvings
        self.kept = 0          # frames tagged (the next tag)
        self.frames_read = 0   # frames read from the camera (the next frame number)
        self._numbers: list[int] = []   # camera frame numbers of the tags kept since take_numbers()
        self.drops = 0         # frames read and skipped because the rate was lowered
        self.halvings = 0
        self.errors = 0
        self._skip = 0         # frames still to skip before the next kept one
        self._full: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        # (monotonic time, rate) at every change: what the tests and the logs show of the back-pressure.
        self.rate_changes: deque[tuple[float, float]] = deque(maxlen=1000)

    @property
    def rate(self) -> float:
        """Frames kept per second now."""
        return self.fps / (1 << self.halvings)

    @property
    def running(self) -> bool:
        """True while the camera loop runs."""
        return self._task is not None and not self._task.done()

    @property
    def almost_full_seats(self) -> frozenset[str]:
        """The seats that said AlmostFull and have not said Resume yet."""
        return frozenset(self._full)

    def start(self) -> None:
        """Start capturing (again a no-op while running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._async_run(), name="recorder")

    async def async_stop(self) -> None:
        """Stop capturing and wait for the loop to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

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

    async def _async_run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        due = loop.time()
        while self.max_frames is None or self.kept < self.max_frames:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due += period
            if due < loop.time() - period:
                due = loop.time()  # far behind (a busy loop): go on from now rather than burst
            self._tick()
        log.info("recorded %d frames (%d skipped): stopping the camera", self.kept, self.drops)

    def _tick(self) -> None:
        try:
            frame = self.camera.read()
            captured_ns = time.time_ns()
            number, self.frames_read = self.frames_read, self.frames_read + 1
            if self._skip > 0:
                self._skip -= 1
                self.drops += 1
                return
            self._skip = (1 << self.halvings) - 1
            value = preprocess(frame, self.shape)
        except Exception as exc:  # noqa: BLE001 - a failing camera must not stop the agent
            self._error(exc)
            return
        tag, self.kept = self.kept, self.kept + 1
        self._numbers.append(number)
        try:
            self._on_frame(tag, value, captured_ns, number)
        except Exception as exc:  # noqa: BLE001 - logged; the next frame gets its own chance
            self._error(exc)

    def take_numbers(self) -> tuple[int, tuple[int, ...]]:
        """(first tag, camera frame numbers) of the frames kept since the last call: which frame each tag is."""
        numbers, self._numbers = tuple(self._numbers), []
        return (self.kept - len(numbers) if numbers else -1), numbers

    def _error(self, exc: Exception) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.error("camera frame failed (%d so far): %s: %s", self.errors, type(exc).__name__, exc)


__all__ = ["MAX_HALVINGS", "FrameSource", "Recorder", "synthetic_camera"]
