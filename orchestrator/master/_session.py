"""One run of a stream: assign, let it flow for a while with status lines, report what it did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker.table import TaskTable

from ._discovery import Device
from ._master import Master


@dataclass(frozen=True)
class Report:
    """What a run did."""

    table: TaskTable
    seconds: float
    inferences: int
    ips: float
    t_forward_ms: tuple[float, float]      # p50, p95
    compute_ms: tuple[float, float]
    transfer_ms: tuple[float, float]
    queue_ms: tuple[float, float]
    drops: int                             # frames the agents report dropped
    duplicates: int                        # results that came twice (must be 0)
    rejected: int                          # messages the master refused


def status_line(master: Master) -> str:
    """IPS over the last few seconds, t_forward percentiles, drops: the master's log line."""
    r = master.results
    if r is None:
        return "no stream"
    p50, p95 = r.percentiles()
    drops = sum(h.drops for h in master.heartbeats.values())
    fill = max((h.queue_fill for h in master.heartbeats.values()), default=0.0)
    return (f"epoch {master.epoch}: {len(r.inferences)} results, {r.ips(5.0):.1f} IPS, t_forward p50 {p50:.0f} ms "
            f"p95 {p95:.0f} ms, drops {drops}, fullest queue {fill:.0%}")


async def async_run(master: Master, devices: Sequence[Device], recorder: str, seconds: float,
                    status: Callable[[str], None] | None = None, every: float = 2.0) -> Report:
    """Assign the stream, let it run ``seconds``, and report."""
    table = await master.async_assign(devices, recorder)
    started = time.monotonic()
    while (left := seconds - (time.monotonic() - started)) > 0:
        await asyncio.sleep(min(every, left))
        if status is not None:
            status(status_line(master))
    r = master.results
    assert r is not None
    return Report(table, time.monotonic() - started, len(r.inferences), r.ips(), r.percentiles(),
                  r.percentiles("compute_ms"), r.percentiles("transfer_ms"), r.percentiles("queue_ms"),
                  sum(h.drops for h in master.heartbeats.values()), r.duplicates, master.rejects.count())


__all__ = ["Report", "async_run", "status_line"]
