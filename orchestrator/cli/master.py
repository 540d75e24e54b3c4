"""``mchair master``: find the agents, plan for them, assign a stream and report as it runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
from pathlib import Path

from worker.cluster import ClusterConfig, load_cluster
from worker.errors import UserError

from ..master import Master, Report, async_find_devices, async_run
from ..planner import ALGORITHMS
from ..profile import Profile, find_profile
from ._table import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``master``."""
    p = sub.add_parser("master", help="run the master: discover agents, assign a stream, report",
                       description="Finds the agents (zeroconf or cluster.yaml's list), plans MODEL for them with "
                                   "the profile, binds the plan, pushes the task tables, serves the artifacts and "
                                   "reports IPS and t_forward until --seconds pass or Ctrl-C.")
    p.add_argument("--cluster", type=Path, required=True, metavar="cluster.yaml", help="the cluster config")
    p.add_argument("--model", required=True, metavar="MODEL", help="built-in model name, spec .yaml or .tflite")
    p.add_argument("--profile", default="rpi3", metavar="P", help="profile of the devices (default rpi3)")
    p.add_argument("--devices", type=int, default=0, metavar="N",
                   help="wait for N agents (default: those found within --wait seconds)")
    p.add_argument("--wait", type=float, default=10.0, metavar="S", help="how long to look for agents (default 10)")
    p.add_argument("--recorder", metavar="DEVICE", help="the device whose camera records (default: the first "
                   "with a camera)")
    p.add_argument("--seconds", type=float, default=math.inf, metavar="S", help="stop after S seconds")
    p.add_argument("--algorithm", choices=tuple(ALGORITHMS), default="optimal", help="planner (default optimal)")
    p.add_argument("--work-dir", type=Path, default=Path("build/master"), metavar="DIR",
                   help="partitions and artifacts (default build/master)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    cluster = load_cluster(args.cluster)
    profile = find_profile(args.profile)
    try:
        report = asyncio.run(_serve(args, cluster, profile))
    except KeyboardInterrupt:
        return 130
    print(format_report(report))
    return 0


async def _serve(args: argparse.Namespace, cluster: ClusterConfig, profile: Profile) -> Report:
    master = Master(cluster, args.model, profile, args.work_dir, args.algorithm)
    await master.async_start()
    try:
        devices = await async_find_devices(cluster, args.devices or 10**6, args.wait)
        if not devices or (args.devices and len(devices) < args.devices):
            raise UserError(f"found {len(devices)} agents, expected {args.devices or 'at least 1'} "
                            f"(discovery: {cluster.discovery})")
        recorder = args.recorder or next((d.peer.device for d in devices if d.camera), None)
        if recorder is None:
            raise UserError("no agent has a camera; start one with --camera or name one with --recorder")
        print(f"{len(devices)} agents: {', '.join(d.peer.device for d in devices)}; recorder {recorder}",
              file=sys.stderr)
        return await async_run(master, devices, recorder, args.seconds, lambda line: print(line, file=sys.stderr))
    finally:
        await master.async_stop()


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
