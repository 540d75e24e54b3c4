"""``mchair bench pipeline``: a local cluster's measured IPS against the planner's prediction, one
LiteRT process running the whole model, and the bound n / sum of layer times."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from worker.camera import SyntheticCamera, preprocess
from worker.errors import UserError

from ..master import LocalCluster, Report, async_run
from ..planner import build_problem, plan_problem
from ..profile import Profile, find_profile
from ..toolchain.reference import StreamReference
from ..toolchain.source import open_model
from ..toolchain.spec import ModelSpec
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table

TARGET = 0.9   # measured / predicted


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench pipeline``."""
    p = bsub.add_parser("pipeline", help="a local cluster's IPS against the prediction, one process and the bound")
    p.add_argument("--model", default="action-recognition", help="built-in model (default action-recognition)")
    p.add_argument("--devices", type=int, default=2, metavar="N", help="agent processes (default 2: the cores "
                   "of this machine; more agents than cores share them, which the planner does not know)")
    p.add_argument("--profile", default="xeon-2core", metavar="P", help="a profile measured on this machine "
                   "(default xeon-2core; make one with `mchair profile MODEL`)")
    p.add_argument("--seconds", type=float, default=10.0, metavar="S", help="length of each run (default 10)")
    p.add_argument("--fps", type=float, metavar="F", help="camera rate (default: the model's)")
    p.add_argument("--work-dir", type=Path, default=Path("build/bench-pipeline"), metavar="DIR")
    p.set_defaults(run=_pipeline)


def _pipeline(args: argparse.Namespace) -> int:
    if args.devices < 1:
        raise UserError(f"--devices {args.devices}: expected at least 1")
    spec = find_spec(args.model)
    profile = find_profile(args.profile)
    print(f"[1/3] {spec.name}: one LiteRT process, frames as fast as they come, {args.seconds:g} s ...",
          file=sys.stderr, flush=True)
    single = _single_process_ips(spec, args.seconds)
    fps = args.fps or spec.input.fps
    name, blocks = open_model(args.model)
    problem = build_problem(name, blocks, spec, profile, fps=fps)
    plan = plan_problem(problem, args.devices).plan(args.devices)
    if plan is None:
        raise UserError(f"no plan for {args.devices} devices with profile {profile.name}")
    bound = args.devices / sum(u.times[0] * u.rate for u in problem.units)
    print(f"[2/3] plan for {args.devices}: {plan.layout()} (predicted {plan.metrics.ips:.1f} IPS)",
          file=sys.stderr, flush=True)
    print(f"[3/3] {args.devices} agents on 127.0.0.1, camera at {fps:g} frames/s, {args.seconds:g} s ...",
          file=sys.stderr, flush=True)
    report = asyncio.run(_cluster(args, profile, fps))
    measured = report.ips
    rows = [("local cluster, measured", round(measured, 2), "1"),
            ("planner's prediction", round(plan.metrics.ips, 2), f"{measured / plan.metrics.ips:.2f}"),
            ("one LiteRT process, whole model", round(single, 2), f"{measured / single:.2f}"),
            ("bound: n / sum of layer times", round(bound, 2), f"{measured / bound:.2f}"),
            ("camera rate", round(fps, 2), f"{measured / fps:.2f}")]
    print(f"{spec.name} on {args.devices} agents (profile {profile.name})\n")
    print(format_table(("IPS", "value", "measured / value"), rows))
    ratio = measured / plan.metrics.ips
    print(f"\nmeasured / predicted {ratio:.2f} (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'}); "
          f"t_forward p50 {report.t_forward_ms[0]:.0f} ms (predicted {1000 * plan.metrics.t_forward_s:.0f} ms), "
          f"drops {report.drops}")
    return 0


def _single_process_ips(spec: ModelSpec, seconds: float) -> float:
    reference = StreamReference(build_model(spec))
    camera = SyntheticCamera(seed=0)
    results, started, tag = 0, time.perf_counter(), 0
    first = None
    while time.perf_counter() - started < seconds:
        got = reference.push(tag, preprocess(camera.read(), spec.input.shape))
        if got and first is None:
            first, results = time.perf_counter(), 0
        results += len(got)
        tag += 1
    return results / (time.perf_counter() - first) if first else 0.0


async def _cluster(args: argparse.Namespace, profile: Profile, fps: float) -> Report:
    local = LocalCluster(args.work_dir, args.devices)
    master, devices = await local.async_start_with_master(args.model, profile, fps=fps)
    try:
        return await async_run(master, devices, local.recorder, args.seconds)
    finally:
        await local.async_stop_with(master, "benchmark over")
