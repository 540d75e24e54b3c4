"""The master's view of the cluster in one message: what ``mchair status`` shows and metrics export."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from worker.messages import DeviceStatus, LinkStatus, StageTime, Status, StreamStatus

from ._session import stream_figures

if TYPE_CHECKING:
    from ._master import Master
    from ._streams import EpochRun


def cluster_status(master: Master) -> Status:
    """Every known device (seats, queue, speed against the plan, drops, memory, silence) and every stream."""
    now = time.monotonic()
    runs = [s.current for s in master.streams.values() if s.current is not None]
    period = master.cluster.agent.heartbeat_s   # a heartbeat's link bytes cover one period
    by_epoch = {r.epoch: r for s in master.streams.values() for r in s.runs}
    seats: dict[str, tuple[str, list[str]]] = {}
    for current in runs:
        for seat in current.table.seats:
            stage = current.table.stages[seat.stage]
            _, labels = seats.setdefault(seat.device, (current.table.stream, []))
            labels.append(f"{stage.name} {seat.replica}/{seat.shard}" if stage.replicas * stage.shards > 1
                          else stage.name)
    devices = []
    for name, member in sorted(master.fleet.members.items()):
        beat = master.heartbeats.get(name)
        beat_run = by_epoch.get(beat.epoch) if beat else None
        stream_name, labels = seats.get(name, ("", []))
        devices.append(DeviceStatus(
            device=name, alive=member.alive, camera=member.device.camera, stream=stream_name, seats=tuple(labels),
            epoch=beat.epoch if beat else 0, queue_fill=beat.queue_fill if beat else 0.0,
            ips=beat.ips if beat else 0.0,
            stage_ms=tuple(StageTime(stage=s.stage, ms=s.ms, expected_ms=_expected_ms(beat_run, s.stage))
                           for s in (beat.stage_latency_ms if beat else ())),
            slowdown=master.contention.scale(name), drops=beat.drops if beat else 0,
            rss_mb=beat.rss_mb if beat else 0.0,
            last_heartbeat_s=now - member.last_heard if beat else -1.0,
            links=tuple(LinkStatus(peer=link.peer, codec=link.codec, bytes_per_s=link.bytes / period,
                                   raw_bytes_per_s=link.raw_bytes / period) for link in (beat.links if beat else ()))))
    streams = []
    for stream in master.streams.values():
        run = stream.current
        figures = stream_figures(stream)
        p50, p95 = run.results.percentiles() if run else (math.nan, math.nan)
        streams.append(StreamStatus(
            camera=stream.camera, active=stream.active, epoch=run.epoch if run else 0,
            layout=run.plan.layout() if run else "", devices=tuple(p.device for p in run.table.devices) if run else (),
            results=figures.inferences, ips=run.results.ips(5.0) if run else 0.0,
            t_forward_p50_ms=_finite(p50), t_forward_p95_ms=_finite(p95), lost=figures.lost,
            duplicates=figures.duplicates, error_budget=master.cluster.codecs.error_budget,
            output_error=master.output_errors.get(stream.camera, -1.0)))
    return Status(model=master.model, profile=master.profile.name, epoch=master.epoch, time_ns=time.time_ns(),
                  reassignments=len(master.reassignments), devices=tuple(devices), streams=tuple(streams))


def _expected_ms(run: EpochRun | None, stage: str) -> float:
    """The plan's run time of ``stage`` (0: the heartbeat's epoch is not known)."""
    if run is None:
        return 0.0
    return next((1000 * d.run_s for d in run.plan.details if d.name == stage), 0.0)


def _finite(value: float) -> float:
    """0 for the percentiles of no results (JSON and Prometheus readers choke on NaN)."""
    return value if math.isfinite(value) else 0.0


__all__ = ["cluster_status"]
