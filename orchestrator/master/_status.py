"""The master's view of the cluster in one message: what ``mchair status`` shows and metrics export."""

from __future__ import annotations

import math
import time

from worker.cluster import ClusterConfig
from worker.wire import DeviceStatus, LinkStatus, StageTime, Status, StreamStatus

from ._fleet import Member
from ._state import ClusterState
from ._streams import EpochRun, Stream, stream_figures


def cluster_status(state: ClusterState, cluster: ClusterConfig, model: str, profile: str) -> Status:
    """Every known device (seats, queue, speed against the plan, drops, memory, silence) and every stream."""
    seats: dict[str, tuple[str, list[str]]] = {}
    for stream in state.streams.values():
        if stream.current is None:
            continue
        table = stream.current.table
        for seat in table.seats:
            stage = table.stages[seat.stage]
            _, labels = seats.setdefault(seat.device, (table.stream, []))
            labels.append(f"{stage.name} {seat.replica}/{seat.shard}" if stage.replicas * stage.shards > 1
                          else stage.name)
    by_epoch = {r.epoch: r for s in state.streams.values() for r in s.runs}
    now = time.monotonic()
    period = cluster.agent.heartbeat_s   # a heartbeat's link bytes cover one period
    devices = tuple(_device_status(state, name, member, seats.get(name, ("", [])), by_epoch, now, period)
                    for name, member in sorted(state.members.items()))
    streams = tuple(_stream_status(state, stream, cluster.codecs.error_budget) for stream in state.streams.values())
    return Status(model=model, profile=profile, epoch=state.epoch, time_ns=time.time_ns(),
                  reassignments=len(state.reassignments), devices=devices, streams=streams)


def _device_status(state: ClusterState, name: str, member: Member, seated: tuple[str, list[str]],
                   by_epoch: dict[int, EpochRun], now: float, period: float) -> DeviceStatus:
    """One device: its seats (``seated``: its stream and seat labels) and its last heartbeat's figures."""
    stream, labels = seated
    beat = state.heartbeats.get(name)
    if beat is None:
        return DeviceStatus(device=name, alive=member.alive, camera=member.device.camera, stream=stream,
                            seats=tuple(labels), slowdown=state.scale(name), last_heartbeat_s=-1.0)
    run = by_epoch.get(beat.epoch)
    return DeviceStatus(
        device=name, alive=member.alive, camera=member.device.camera, stream=stream, seats=tuple(labels),
        epoch=beat.epoch, queue_fill=beat.queue_fill, ips=beat.ips,
        stage_ms=tuple(StageTime(stage=s.stage, ms=s.ms, expected_ms=_expected_ms(run, s.stage))
                       for s in beat.stage_ms),
        slowdown=state.scale(name), drops=beat.drops, rss_mb=beat.rss_mb, last_heartbeat_s=now - member.last_heard,
        links=tuple(LinkStatus(peer=link.peer, codec=link.codec, bytes_per_s=link.bytes / period,
                               raw_bytes_per_s=link.raw_bytes / period) for link in beat.links))


def _stream_status(state: ClusterState, stream: Stream, error_budget: float) -> StreamStatus:
    """One stream: its current epoch's layout, devices and figures, and its figures over every epoch."""
    run = stream.current
    figures = stream_figures(stream)
    p50, p95 = run.results.percentiles() if run else (math.nan, math.nan)
    return StreamStatus(
        camera=stream.camera, active=stream.active, epoch=run.epoch if run else 0,
        layout=run.plan.layout() if run else "", devices=tuple(p.device for p in run.table.devices) if run else (),
        results=figures.inferences, ips=run.results.ips(5.0) if run else 0.0,
        t_forward_p50_ms=_finite(p50), t_forward_p95_ms=_finite(p95), lost=figures.lost,
        duplicates=figures.duplicates, error_budget=error_budget,
        output_error=state.output_errors.get(stream.camera, -1.0), refused=state.refused.get(stream.camera, 0))


def _expected_ms(run: EpochRun | None, stage: str) -> float:
    """The plan's run time of ``stage`` (0: the heartbeat's epoch is not known)."""
    if run is None:
        return 0.0
    return next((1000 * d.run_s for d in run.plan.details if d.name == stage), 0.0)


def _finite(value: float) -> float:
    """0 for the percentiles of no results (JSON and Prometheus readers choke on NaN)."""
    return value if math.isfinite(value) else 0.0


__all__ = ["cluster_status"]
