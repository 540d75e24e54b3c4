"""``mchair master``: find the agents, plan for them, assign a stream and report as it runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path

from worker.cluster import load_cluster
from worker.errors import UserError

from ..master import Device, Master, Report, async_watch, stream_figures
from ..planner import ALGORITHMS
from ..profile import find_profile
from ..toolchain.model import open_model
from . import _ray_master
from ._codec_args import add_codec_arguments, codec_settings
from ._table import format_table
from .status import LINK_HEADERS, link_row


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``master``."""
    p.description = ("Finds the agents (zeroconf or cluster.yaml's list) and keeps watching them. "
                     "When a camera sees motion (or `mchair motion CAMERA`, or --record) its "
                     "stream takes devices: MODEL planned with the profile for the devices it "
                     "gets, bound so that as few as possible load new weights. Devices joining, "
                     "leaving, missing heartbeats or slowed down re-seat the streams. Reports per "
                     "stream until --seconds pass or Ctrl-C. The agents outlive the master (the next "
                     "master finds them with their caches and models) unless --shutdown-agents; "
                     "`mchair fleet shutdown` stops them later.")
    p.add_argument("--cluster", type=Path, required=True, metavar="cluster.yaml", help="the cluster config")
    p.add_argument("--model", required=True, metavar="MODEL", help="built-in model name, spec .yaml or .tflite")
    p.add_argument("--profile", default="rpi3", metavar="P", help="profile of the devices (default rpi3)")
    p.add_argument("--devices", type=int, default=0, metavar="N",
                   help="wait for N agents before anything starts (default: those found within --wait seconds)")
    p.add_argument("--wait", type=float, default=10.0, metavar="S", help="how long to look for agents (default 10)")
    p.add_argument("--record", action="append", default=[], metavar="CAMERA",
                   help="start CAMERA's stream at once, as if it saw motion (repeatable)")
    p.add_argument("--seconds", type=float, default=math.inf, metavar="S", help="stop after S seconds")
    p.add_argument("--shutdown-agents", action="store_true",
                   help="when the master stops, send every agent a Shutdown (default: they keep running)")
    p.add_argument("--fps", type=float, metavar="F", help="camera rate (default: the model's)")
    p.add_argument("--algorithm", choices=tuple(ALGORITHMS), default="optimal", help="planner (default optimal)")
    p.add_argument("--work-dir", type=Path, default=Path("build/master"), metavar="DIR",
                   help="partitions and artifacts (default build/master)")
    add_codec_arguments(p)
    _ray_master.add_arguments(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    cluster = load_cluster(args.cluster)
    cluster = replace(cluster, codecs=codec_settings(args, cluster.codecs))
    profile = find_profile(args.profile)
    if args.backend == "ray":   # the device actors and their master (orchestrator/ray_backend)
        master = asyncio.run(_ray_master.async_serve_ray(args, profile, lambda m, d: _play(args, m, d)))
        print(format_streams(master))
        return 0
    master = Master(cluster, open_model(args.model), profile, args.work_dir, args.algorithm, fps=args.fps)
    try:
        asyncio.run(_serve(args, master))
    except KeyboardInterrupt:
        pass
    print(format_streams(master))
    return 0


async def _serve(args: argparse.Namespace, master: Master) -> None:
    await master.async_start()
    try:
        devices = await master.async_wait_devices(args.devices or 10**6, args.wait)
        if not devices or (args.devices and len(devices) < args.devices):
            raise UserError(f"found {len(devices)} agents, expected {args.devices or 'at least 1'} "
                            f"(discovery: {master.cluster.discovery})")
        await _play(args, master, devices)
    finally:
        await master.async_stop(shutdown_agents=args.shutdown_agents)


async def _play(args: argparse.Namespace, master: Master, devices: list[Device]) -> None:
    """Start the --record streams and report until --seconds pass (both backends)."""
    cameras = [d.name for d in devices if d.camera]
    print(f"{len(devices)} agents: {', '.join(d.name for d in devices)}; cameras: {', '.join(cameras) or 'none'}",
          file=sys.stderr)
    for camera in args.record:
        if camera not in cameras:
            raise UserError(f"--record {camera}: expected one of the cameras ({', '.join(cameras) or 'none'})")
        master.motion(camera, True, why="--record")
    await async_watch(master, args.seconds, lambda line: print(line, file=sys.stderr))


def format_streams(master: Master) -> str:
    """The end-of-run tables: per stream, and every reassignment with its reason and timing."""
    rows = [(f.camera, f.epochs, f.inferences, round(f.ips, 2), f"{f.t_forward_ms[0]:.0f} / {f.t_forward_ms[1]:.0f}",
             f.lost, f.late, f.duplicates) for f in map(stream_figures, master.streams.values())]
    moves = [(r.epoch, r.stream, r.reason, r.new_layout, len(r.new_devices),
              "-" if r.first_result_s is None else round(r.first_result_s, 2)) for r in master.reassignments]
    return (format_table(("stream", "epochs", "results", "IPS", "t_forward p50 / p95 ms", "lost", "late",
                          "duplicates"), rows)
            + "\n\n" + format_table(("epoch", "stream", "reason", "layout", "devices", "first result s"), moves))


def format_links(master: Master, seconds: float) -> str:
    """Tensor bytes per second on every link the run used (from the heartbeats), encoded and raw."""
    rows = [link_row(device, peer, codec, link.sent / seconds, link.raw / seconds)
            for (device, peer, codec), link in sorted(master.state.link_bytes.items())]
    return format_table(LINK_HEADERS, rows) if rows else "no tensors went over the network"


def format_report(report: Report) -> str:
    """The end-of-run table: throughput, latency split, drops."""
    rows = [("inferences", report.inferences), ("seconds", round(report.seconds, 1)), ("IPS", round(report.ips, 2)),
            ("t_forward p50 / p95 ms", f"{report.t_forward_ms[0]:.0f} / {report.t_forward_ms[1]:.0f}"),
            ("  compute p50 / p95 ms", f"{report.compute_ms[0]:.0f} / {report.compute_ms[1]:.0f}"),
            ("  communication p50 / p95 ms", f"{report.transfer_ms[0]:.0f} / {report.transfer_ms[1]:.0f}"),
            ("  queueing p50 / p95 ms", f"{report.queue_ms[0]:.0f} / {report.queue_ms[1]:.0f}"),
            ("frames dropped (counted by the agents)", report.drops),
            ("duplicate results", report.duplicates), ("messages refused by the master", report.rejected)]
    layout = " | ".join(f"{s.name}" + (f" x{s.replicas}" if s.replicas > 1 else "")
                        + (f" /{s.shards}" if s.shards > 1 else "") for s in report.table.stages)
    return f"{report.table.model}, epoch {report.table.epoch}: {layout}\n\n" + format_table(("figure", "value"), rows)
