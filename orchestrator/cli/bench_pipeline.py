"""``mchair bench pipeline``: a local cluster's measured IPS against the planner's prediction, one
LiteRT process running the whole model, and the bound n / sum of layer times; for one cluster size
or a sweep (``--devices 1,2,3``), recorded with ``--json`` for ``mchair report``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from worker.camera import SyntheticCamera, preprocess
from worker.errors import UserError

from ..master import LocalCluster, Report, async_run
from ..planner import Plan, build_problem, plan_problem
from ..profile import Profile, find_profile
from ..report import PipelineBenchmark, PipelineRun
from ..toolchain.model import open_model
from ..toolchain.reference import StreamReference
from ..toolchain.spec import ModelSpec
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table
from .report import runs_table

TARGET = 0.9   # measured / predicted


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench pipeline``."""
    p = bsub.add_parser("pipeline", help="a local cluster's IPS against the prediction, one process and the bound")
    p.add_argument("--model", default="action-recognition", help="built-in model (default action-recognition)")
    p.add_argument("--devices", default="2", metavar="N[,N...]", help="agent processes, or a comma-separated list "
                   "of cluster sizes to run one after the other (default 2: the cores of this machine; more agents "
                   "than cores share them, which the planner does not know)")
    p.add_argument("--profile", default="xeon-2core", metavar="P", help="a profile measured on this machine "
                   "(default xeon-2core; make one with `mchair profile MODEL`)")
    p.add_argument("--seconds", type=float, default=10.0, metavar="S", help="length of each run (default 10)")
    p.add_argument("--fps", type=float, metavar="F", help="camera rate (default: the model's)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every run as JSON (for `mchair report`)")
    p.add_argument("--work-dir", type=Path, default=Path("build/bench-pipeline"), metavar="DIR")
    p.set_defaults(run=_pipeline)


def parse_devices(text: str) -> tuple[int, ...]:
    """``"1,2,3"`` -> (1, 2, 3): the cluster sizes of a sweep, ascending, each once; UserError if not that."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UserError(f"--devices {text}: expected an integer >= 1 or a comma-separated list of them (1,2,3)")
    return tuple(sorted(set(sizes)))


def _pipeline(args: argparse.Namespace) -> int:
    sizes = parse_devices(args.devices)
    if args.json is not None:
        check_writable(args.json)
    model = open_model(args.model)
    spec = find_spec(args.model)
    profile = find_profile(args.profile)
    fps = args.fps or model.input.fps
    problem = build_problem(model, profile, fps=fps)
    # Planned before the long runs, so a size with no plan fails at once.
    plans = plan_problem(problem, max(sizes))
    for n in sizes:
        if plans.plan(n) is None:
            raise UserError(f"--devices {n}: no plan for {n} devices with profile {profile.name}")
    layer_s = sum(u.times[0] * u.rate for u in problem.units)
    steps = 1 + len(sizes)
    print(f"[1/{steps}] {spec.name}: one LiteRT process, frames as fast as they come, {args.seconds:g} s ...",
          file=sys.stderr, flush=True)
    single = single_process_ips(spec, args.seconds)
    bench = PipelineBenchmark(spec.name, profile.name, fps, args.seconds, single,
                              datetime.now(timezone.utc).isoformat(timespec="seconds"), host_cores(), runs=())
    for step, n in enumerate(sizes, 2):
        plan = plans.plan(n)
        assert plan is not None          # checked above
        print(f"[{step}/{steps}] plan for {n}: {plan.layout()} (predicted {plan.metrics.ips:.1f} IPS); "
              f"{n} agents on 127.0.0.1, camera at {fps:g} frames/s, {args.seconds:g} s ...",
              file=sys.stderr, flush=True)
        report = asyncio.run(_cluster(args, n, profile, fps))
        run = record_run(n, plan, report, n / layer_s)
        if step > 2:
            print()
        print_run(spec.name, profile.name, run, single, fps)
        bench = replace(bench, runs=(*bench.runs, run))
        if args.json is not None:
            bench.save(args.json)       # after every size: an interrupted sweep keeps what it measured
    if len(sizes) > 1:
        print(f"\n{runs_table(bench)}")
    if args.json is not None:
        print(f"\nwrote {args.json}")
    return 0


def record_run(n: int, plan: Plan, report: Report, bound: float) -> PipelineRun:
    """What one cluster size predicted and measured (seconds; Report's figures are ms)."""
    m = plan.metrics
    # The path's reloading (Metrics.reload_s), not the sum over stages: parallel branches (the two
    # streams of action recognition) reload at the same time, and this is one frame's latency.
    return PipelineRun(n=n, layout=plan.layout(), ips_predicted=m.ips, ips_measured=report.ips, ips_bound=bound,
                       t_forward_predicted_s=m.t_forward_s, t_forward_p50_s=report.t_forward_ms[0] / 1000,
                       t_forward_p95_s=report.t_forward_ms[1] / 1000, compute_p50_s=report.compute_ms[0] / 1000,
                       communication_p50_s=report.transfer_ms[0] / 1000, queueing_p50_s=report.queue_ms[0] / 1000,
                       reload_predicted_s=m.reload_s, inferences=report.inferences, drops=report.drops,
                       duplicates=report.duplicates)


def print_run(model: str, profile: str, run: PipelineRun, single: float, fps: float,
              where: str = "local cluster") -> None:
    """The table of one cluster size against its baselines, and the verdict on the prediction."""
    measured = run.ips_measured
    rows = [(f"{where}, measured", round(measured, 2), "1"),
            ("planner's prediction", round(run.ips_predicted, 2), f"{run.ratio:.2f}"),
            ("one LiteRT process, whole model", round(single, 2), _over(measured, single)),
            ("bound: n / sum of layer times", round(run.ips_bound, 2), _over(measured, run.ips_bound)),
            ("camera rate", round(fps, 2), _over(measured, fps))]
    print(f"{model} on {run.n} agents (profile {profile})\n")
    print(format_table(("IPS", "value", "measured / value"), rows))
    verdict = "met" if run.ratio >= TARGET else "NOT met"
    print(f"\nmeasured / predicted {run.ratio:.2f} (target >= {TARGET}: {verdict}); "
          f"t_forward p50 {1000 * run.t_forward_p50_s:.0f} ms (predicted {1000 * run.t_forward_predicted_s:.0f} ms), "
          f"drops {run.drops}", flush=True)


def check_writable(path: Path) -> None:
    """Fail before the long runs, not after them, when ``path`` cannot be written."""
    if path.is_dir():
        raise UserError(f"--json {path}: expected a file, it is a folder")
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder if not path.exists() else path, os.W_OK):
        raise UserError(f"--json {path}: cannot write there")


def _over(measured: float, value: float) -> str:
    return f"{measured / value:.2f}" if value > 0 else "-"


def host_cores() -> int:
    """The cores this process may use."""
    # The cores this process may use (a container or taskset can give fewer than the machine has).
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def single_process_ips(spec: ModelSpec, seconds: float) -> float:
    """Results per second of one LiteRT process running the whole model, frames back to back."""
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


async def _cluster(args: argparse.Namespace, devices: int, profile: Profile, fps: float) -> Report:
    local = LocalCluster(args.work_dir, devices)
    master, found = await local.async_start_with_master(args.model, profile, fps=fps)
    try:
        return await async_run(master, found, local.recorder, args.seconds)
    finally:
        await local.async_stop_with(master, "benchmark over")
