"""``mchair bench lab``: the lab's measured IPS against what the planner predicts for lab devices
(the host's profile scaled to the device's CPU quota, memory and link), for each lab size of a
sweep; the same JSON as ``bench pipeline`` for ``mchair report``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from ..lab import MEDIA, Lab, LabSpec, parse_link, parse_memory, with_master
from ..lab import _cgroups as cgroups
from ..lab._profile import lab_profile
from ..master import Device, Master, Report, async_run
from ..planner import build_problem, plan_problem
from ..profile import find_profile
from ..report import PipelineBenchmark
from ..toolchain.model import open_model
from ..toolchain.zoo import find_spec
from .bench_pipeline import check_writable, host_cores, parse_devices, print_run, record_run, single_process_ips
from .report import runs_table


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench lab``."""
    p = bsub.add_parser("lab", help="IPS of lab swarms of n devices against the prediction for lab devices (root)")
    p.add_argument("--devices", default="1,2,4", metavar="N[,N...]", help="lab sizes (default 1,2,4)")
    p.add_argument("--model", default="alexnet", help="built-in model (default alexnet)")
    p.add_argument("--profile", default="xeon-2core", metavar="P",
                   help="this host's profile, scaled to a lab device (default xeon-2core)")
    p.add_argument("--cpu", type=float, default=0.25, metavar="CORES", help="CPU per device (default 0.25)")
    p.add_argument("--memory", default="1GB", metavar="SIZE", help="memory per device (default 1GB)")
    p.add_argument("--link", default="62mbit", metavar="RATE[,...]", help="every link (default 62mbit)")
    p.add_argument("--medium", choices=MEDIA, default="shared", help="(default shared)")
    p.add_argument("--seconds", type=float, default=10.0, metavar="S", help="length of each run (default 10)")
    p.add_argument("--fps", type=float, metavar="F", help="camera rate (default: the model's)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every run as JSON (for `mchair report`)")
    p.add_argument("--name", default="mclab", help="the lab's name (default mclab)")
    p.add_argument("--dir", type=Path, default=Path("build/lab"), metavar="DIR", help="(default build/lab)")
    p.set_defaults(run=_lab)


def _lab(args: argparse.Namespace) -> int:
    sizes = parse_devices(args.devices)
    if args.json is not None:
        check_writable(args.json)
    spec = find_spec(args.model)
    host = find_profile(args.profile)
    fps = args.fps or spec.input.fps
    model = open_model(args.model)
    steps = 1 + len(sizes)
    print(f"[1/{steps}] {spec.name}: one LiteRT process on the host, {args.seconds:g} s ...", file=sys.stderr,
          flush=True)
    single = single_process_ips(spec, args.seconds)
    bench: PipelineBenchmark | None = None
    for step, n in enumerate(sizes, 2):
        lab_spec = LabSpec(n, 1, args.cpu, parse_memory(args.memory), parse_link(args.link), args.medium)
        lab = Lab(args.name, args.dir)
        lab.up(lab_spec, "WARNING")
        try:
            rtt = lab.measure_rtt()[1] / 1000
            profile = lab_profile(host, lab_spec, rtt)
            problem = build_problem(model, profile, fps=fps)
            plans = plan_problem(problem, n)
            plan = plans.plan(n)
            if plan is None:
                print(f"[{step}/{steps}] no plan for {n} lab devices: skipped", file=sys.stderr, flush=True)
                continue
            print(f"[{step}/{steps}] plan for {n}: {plan.layout()} (predicted {plan.metrics.ips:.1f} IPS); "
                  f"{n} lab devices ({args.cpu:g} cores, {args.memory}, {lab_spec.link} {args.medium}), "
                  f"round trip {rtt * 1000:.2f} ms, {args.seconds:g} s ...", file=sys.stderr, flush=True)

            async def stream(master: Master, devices: list[Device], lab: Lab = lab) -> tuple[Report, list[float]]:
                before = [cgroups.cpu_seconds(lab.name, d.name) for d in devices]
                report = await async_run(master, devices, "pi0", args.seconds)
                used = [cgroups.cpu_seconds(lab.name, d.name) - b for d, b in zip(devices, before)]
                return report, [u / report.seconds for u in used]

            report, cores = with_master(lab, args.model, profile, stream, fps=fps, plans=plans)
        finally:
            lab.down()
        layer_s = sum(u.times[0] * u.rate for u in problem.units)
        run = record_run(n, plan, report, n / layer_s)
        print_run(spec.name, profile.name, run, single, fps, where="lab")
        # A device that gets less than its quota was starved by the host, which the lab cannot hide.
        print(f"cores each device got during the run (quota {args.cpu:g}): "
              + ", ".join(f"{c:.2f}" for c in cores) + "\n", flush=True)
        bench = bench or PipelineBenchmark(spec.name, profile.name, fps, args.seconds, single,
                                           datetime.now(timezone.utc).isoformat(timespec="seconds"), host_cores(),
                                           runs=())
        bench = replace(bench, runs=(*bench.runs, run))
        if args.json is not None:
            bench.save(args.json)       # after every size: an interrupted sweep keeps what it measured
    if bench is not None:
        print(runs_table(bench))
        base = next((r.ips_measured for r in bench.runs if r.n == min(sizes)), 0.0)
        print("\nscaling IPS(n) / IPS(" + str(min(sizes)) + "): " + ", ".join(
            f"n={r.n}: {r.ips_measured / base:.2f}" for r in bench.runs if base > 0))
    if args.json is not None:
        print(f"\nwrote {args.json}")
    return 0
