"""The camera loop of a camera agent: it reads the camera for the life of the agent, table or not.

Frames come at ``motion.fps`` while the agent does not record, and at the recorder's fps while it
does (the recorder then picks which frames become tags). Every frame read gets the next camera
frame number (counted for the life of the agent, so numbers continue across epochs) and goes
through the motion detector when ``motion.enabled``. The camera is read on the event loop, as the
recorder always did: a synthetic camera's read is fast, and no thread is spent per camera.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from worker.motion import MotionDetector, MotionEvent, MotionSettings

from ._recorder import FrameSource, Recorder

log = logging.getLogger("mchair.agent")

OnMotion = Callable[[MotionEvent], None]


class CameraLoop:
    """Reads ``camera`` at a steady pace, feeds the motion detector and the current recorder."""

    def __init__(self, camera: FrameSource, motion: MotionSettings, on_motion: OnMotion) -> None:
        self.camera, self.motion = camera, motion
        self.detector = MotionDetector(motion)
        self.recorder: Recorder | None = None   # the current epoch's (the agent swaps it)
        self.frames_read = 0   # frames read from the camera (the next frame number)
        self.errors = 0
        self._on_motion = on_motion
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def fps(self) -> float:
        """Frames read per second now: the recorder's while it records, else ``motion.fps``."""
        rec = self.recorder
        return rec.fps if rec is not None and rec.running else self.motion.fps

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start reading (a no-op while running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._async_run(), name="camera")

    def wake(self) -> None:
        """The pace changed (a recorder started): read the next frame now rather than at the old pace."""
        self._wake.set()

    async def async_stop(self) -> None:
        """Stop reading and wait for the loop to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _async_run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            delay = due - loop.time()
            self._wake.clear()
            try:
                # Even when late: the loop must yield, or a camera slower than the pace starves the agent.
                await asyncio.wait_for(self._wake.wait(), max(delay, 0.0))
                due = loop.time()   # woken: the new pace starts now
            except TimeoutError:
                pass
            period = 1.0 / self.fps
            due += period
            if due < loop.time() - period:
                due = loop.time()  # far behind (a busy loop): go on from now rather than burst
            self._tick()

    def _tick(self) -> None:
        try:
            frame = self.camera.read()
        except Exception as exc:  # noqa: BLE001 - a failing camera must not stop the agent
            self._error(exc)
            return
        captured_ns = time.time_ns()
        number, self.frames_read = self.frames_read, self.frames_read + 1
        # Recorder and detector fail apart: a frame the model cannot take may still show motion.
        if self.recorder is not None:
            try:
                self.recorder.offer(frame, number, captured_ns)
            except Exception as exc:  # noqa: BLE001 - logged; the next frame gets its own chance
                self._error(exc)
        if self.motion.enabled:
            try:
                event = self.detector.update(frame)
                if event is not None:
                    self._on_motion(event)
            except Exception as exc:  # noqa: BLE001 - as above
                self._error(exc)

    def _error(self, exc: Exception) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.error("camera frame failed (%d so far): %s: %s", self.errors, type(exc).__name__, exc)

__all__ = ["CameraLoop", "OnMotion"]
