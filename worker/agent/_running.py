"""The task table an agent runs now: its data plane and, on the recording device, its recorder.

Back-pressure goes through here (docs/runtime.md, "Protocol" 6): a seat of this device that fills
up tells the recorder, this agent's own or the recording device's; AlmostFull and Resume from
other devices reach this agent's recorder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor

import numpy as np

from worker.runtime import SeatEngine
from worker.wire import AlmostFull, Resume, Seat, TaskTable

from ._camera import CameraLoop
from ._counters import Drops
from ._dataplane import DataPlane, Send
from ._recorder import Recorder
from ._seats import parse_seat_label, seat_label

log = logging.getLogger("mchair.agent")

FrameHook = Callable[[int, np.ndarray], None]
PLANE_COUNTS = ("computed", "compute_errors", "overflow_drops", "batches_sent", "local_feeds", "results_sent")
# What a table adds to the agent's counters (AgentCounters fields of the same names).
COUNTS = (*PLANE_COUNTS, "frames", "frame_drops", "almost_full_sent", "resume_sent")


class Running:
    """``table`` on ``device``: the engines' data plane and, when a seat of it records, the recorder
    that ``camera`` feeds (``max_frames`` and ``frame_hook`` as the Agent takes them)."""

    def __init__(self, device: str, table: TaskTable, engines: Mapping[Seat, SeatEngine], pool: Executor,
                 send: Send, drops: Drops, camera: CameraLoop | None, *, throttle: Mapping[int, float] | None = None,
                 max_frames: int | None = None, frame_hook: FrameHook | None = None) -> None:
        self.device, self.table = device, table
        self._send, self._drops, self._camera, self._frame_hook = send, drops, camera, frame_hook
        self.almost_full_sent = self.resume_sent = 0
        self.plane = DataPlane(device, table, engines, pool, send, self._on_pressure, drops, throttle)
        records = any(table.stages[s.stage].recorder for s in engines)
        self.recorder = Recorder(table.frame_shape, table.fps, self._on_frame, max_frames=max_frames) \
            if records and camera is not None else None
        if camera is not None:
            camera.recorder = self.recorder

    def counts(self) -> dict[str, int]:
        """Its counters (``COUNTS``)."""
        rec = self.recorder
        return {**{k: int(getattr(self.plane, k)) for k in PLANE_COUNTS},
                "frames": rec.kept if rec else 0, "frame_drops": rec.drops if rec else 0,
                "almost_full_sent": self.almost_full_sent, "resume_sent": self.resume_sent}

    def on_rate(self, message: Resume | AlmostFull, peer: str) -> None:
        """A Resume or AlmostFull of this table (epoch and stream already checked), for the recorder."""
        what = type(message).__name__
        if self.recorder is None:
            self._drops.record(peer, "unexpected", f"{what}({message.seat}) but {self.device} does not record "
                               f"{self.table.stream}")
        elif isinstance(message, Resume) and message.seat == "*":
            log.info("agent %s: recording %s at %g frames/s", self.device, self.table.stream, self.table.fps)
            self.recorder.start()
            if self._camera is not None:
                self._camera.wake()   # the recording pace starts now, not after a frame at the idle pace
        elif parse_seat_label(message.seat) not in set(self.table.seats):
            self._drops.record(peer, "unknown-seat", f"{what} from {message.seat[:80]!r}")
        elif isinstance(message, Resume):
            self.recorder.resume(message.seat)
        else:
            self.recorder.almost_full(message.seat)

    def close(self) -> None:
        """Stop the data plane and the recorder for good: no counter moves after this."""
        self.plane.close()
        if self.recorder is not None:
            self.recorder.stop()
        if self._camera is not None and self._camera.recorder is self.recorder:
            self._camera.recorder = None   # (a newer table may have given the camera its recorder already)

    def _on_frame(self, tag: int, value: np.ndarray, captured_ns: int, frame: int) -> None:
        if self._frame_hook is not None:
            self._frame_hook(tag, value)
        self.plane.feed_frame(tag, value, captured_ns, frame)

    def _on_pressure(self, seat: Seat, full: bool) -> None:
        """Tell the recorder (this agent's own, or the recording device's) that ``seat`` is (no longer) full."""
        label = seat_label(seat)
        if full:
            self.almost_full_sent += 1
        else:
            self.resume_sent += 1
        recorder_device = self.table.seat(0, 0, 0).device
        if recorder_device == self.device and self.recorder is not None:
            (self.recorder.almost_full if full else self.recorder.resume)(label)
            return
        cls = AlmostFull if full else Resume
        self._send(self.table.peer(recorder_device), cls(epoch=self.table.epoch, seat=label, stream=self.table.stream))


__all__ = ["COUNTS", "FrameHook", "Running"]
