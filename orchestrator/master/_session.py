"""Runs of the master: assign one stream for a while (demo, benchmarks), or serve the game (CLI),
with a status line now and then and a report at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker.wire import TaskTable

from ._discovery import Device
from ._results import percentiles
from ._state import ClusterState
from ._streams import stream_figures

if TYPE_CHECKING:
    from ._master import Master


@dataclass(frozen=True)
class Report:
    """What a run of one stream did."""

    table: TaskTable
    seconds: float
    inferences: int
    ips: float
    t_forward_ms: tuple[float, ...]        # p50, p95
    compute_ms: tuple[float, ...]
    transfer_ms: tuple[float, ...]
    queue_ms: tuple[float, ...]
    drops: int                             # frames the agents report dropped
    duplicates: int                        # results that came twice (must be 0)
    rejected: int                          # messages the master refused (frames, and results that did not belong)


def status_line(state: ClusterState) -> str:
    """Per stream: epoch, results, IPS over the last seconds, t_forward, drops; the master's log line."""
    parts = []
    for stream in state.streams.values():
        run = stream.current
        if run is None:
            continue
        p50, p95 = run.results.percentiles()
        parts.append(f"{stream.camera} epoch {run.epoch}: {len(run.results.inferences)} results, "
                     f"{run.results.ips(5.0):.1f} IPS, t_forward p50 {p50:.0f} ms p95 {p95:.0f} ms")
    alive = len(state.alive())
    return f"{alive} devices; " + ("; ".join(parts) or "no stream running") + f"; drops {state.drops()}"


async def async_run(master: Master, devices: Sequence[Device], recorder: str, seconds: float,
                    status: Callable[[str], None] | None = None, every: float = 2.0) -> Report:
    """Start ``recorder``'s stream, let it run ``seconds``, and report on it (every epoch it had)."""
    await master.async_assign(devices, recorder)
    started = time.monotonic()
    await async_watch(master, seconds, status, every)
    stream = master.streams[recorder]
    done = stream.inferences()
    table = (stream.current or stream.runs[-1]).table
    return Report(table, time.monotonic() - started, len(done), stream_figures(stream).ips,
                  percentiles(done), percentiles(done, "compute_ms"), percentiles(done, "transfer_ms"),
                  percentiles(done, "queue_ms"), master.state.drops(),
                  stream.duplicates(), master.rejects.count() + master.state.result_drops.count())


async def async_watch(master: Master, seconds: float, status: Callable[[str], None] | None = None,
                      every: float = 2.0) -> None:
    """Let the master serve for ``seconds``, with a status line every ``every`` seconds."""
    started = time.monotonic()
    while (left := seconds - (time.monotonic() - started)) > 0:
        await asyncio.sleep(min(every, left))
        if status is not None:
            status(status_line(master.state))


__all__ = ["Report", "async_run", "async_watch", "status_line"]
