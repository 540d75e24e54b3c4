"""The agent's Heartbeat: periodic, and one final one for every recorder retired with its epoch."""

from __future__ import annotations

import time

import psutil

from worker.wire import Heartbeat, LinkBytes, StageTime

from ._dataplane import DataPlane
from ._recorder import Recorder


def rss_mb() -> float:
    """This process's resident memory in MiB (0 when the OS will not say)."""
    try:
        return float(psutil.Process().memory_info().rss / 2**20)
    except psutil.Error:
        return 0.0


def build_heartbeat(device: str, epoch: int, plane: DataPlane | None, recorder: Recorder | None,
                    period_s: float, drops: int, links: tuple[LinkBytes, ...] = ()) -> Heartbeat:
    """The Heartbeat of ``epoch``: ``plane``'s statistics over the last ``period_s``, ``recorder``'s frame
    numbers since the last heartbeat (both taken: the next one starts afresh) and the tensor bytes
    written to each peer (``links``)."""
    ips, latency = plane.take_stats(period_s) if plane is not None else (0.0, {})
    first_tag, frames = recorder.take_numbers() if recorder is not None else (-1, ())
    return Heartbeat(
        device=device, epoch=epoch, time_ns=time.time_ns(),
        queue_fill=plane.queue_fill() if plane is not None else 0.0, ips=ips,
        stage_ms=tuple(StageTime(stage=k, ms=v) for k, v in latency.items()),
        drops=drops, rss_mb=rss_mb(), first_tag=first_tag, frames=frames,
        links=links)


__all__ = ["build_heartbeat", "rss_mb"]
