"""``mchair bench planner``: how fast the planners are, and how much IPS the exact one gains."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from ..planner import DEEP_DAGS, Plan, PlanSet, Problem, build_problem, deep_dag, draw_ips, plan_problem
from ..profile import find_profile
from ..toolchain.model import open_model
from ..toolchain.zoo import builtin_models
from . import bench_chairs, bench_codec, bench_lab, bench_lab_faults, bench_pipeline, bench_ray, bench_wire
from ._table import format_table

TARGET_S = 1.0          # per model, n = 1..256
TARGET_1024_S = 10.0    # per model, n = 1..1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options and benchmarks of ``bench``."""
    bsub = parser.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    p = bsub.add_parser("planner", help="time to plan n = 1..N for each built-in model and deep DAG, IPS "
                        "optimal/paper, the gap to the IPS bound")
    p.add_argument("--profile", default="rpi3", metavar="P", help="profile name or .yaml (default rpi3)")
    p.add_argument("--devices", type=int, default=64, metavar="N", help="plan n = 1..N (default 64)")
    p.add_argument("--models", metavar="A,B", help="comma-separated models (default: every built-in one, and "
                   "the deep DAGs)")
    p.add_argument("--repeat", type=int, default=1, metavar="R", help="best of R timings (default 1)")
    p.add_argument("--png", type=Path, metavar="FILE", help="also draw IPS vs devices for every model")
    p.set_defaults(run=_planner)
    bench_wire.add_benchmarks(bsub)
    bench_pipeline.add_benchmarks(bsub)
    bench_chairs.add_benchmarks(bsub)
    bench_codec.add_benchmarks(bsub)
    bench_ray.add_benchmarks(bsub)
    bench_lab.add_benchmarks(bsub)
    bench_lab_faults.add_benchmarks(bsub)


def _planner(args: argparse.Namespace) -> int:
    profile = find_profile(args.profile)
    models = args.models.split(",") if args.models else builtin_models()
    target = TARGET_S if args.devices <= 256 else TARGET_1024_S
    rows, ratios, plansets = [], {}, []
    for i, name in enumerate(models, 1):
        print(f"[{i}/{len(models)}] {name}: building and reading the model ...", file=sys.stderr, flush=True)
        problem = build_problem(open_model(name), profile)
        row, result = _time_planners(name, problem, args.devices, args.repeat)
        rows.append(row)
        plansets += [result["optimal"], result["paper"]]
        ratios[name] = [_ratio(o, p) for o, p in zip(result["optimal"].plans, result["paper"].plans)]
    deep = []
    if not args.models:
        for name in DEEP_DAGS:
            print(f"deep DAG {name}: planning ...", file=sys.stderr, flush=True)
            deep.append(_time_planners(name, deep_dag(name, profile), args.devices, args.repeat)[0])
    head = ("model", "units", "optimal s", "optimal cpu s", "paper s", f"IPS at {args.devices}", "optimal/paper",
            "worst gap", "at n")
    print(f"planning n = 1..{args.devices} on {profile.name} (best of {args.repeat}; cpu: this process's CPU "
          f"time, the wall time counts other processes on the machine too)\n")
    print(format_table(head, rows))
    if deep:
        print("\ndeep DAGs (synthetic layer graphs shaped like the converted models, docs/planner.md)\n")
        print(format_table(head, deep))
    worst = max(r[3] for r in rows + deep)
    verdict = "met" if worst < target else "NOT met"
    print(f"\noptimal, slowest model: {worst:.3f} s of CPU (target < {target:g} s per model: {verdict})")
    print("worst gap: 1 - IPS / bound, the bound being an IPS no plan on n devices exceeds\n")
    print("IPS optimal / paper per n ('-': no plan; paper missing a plan counts as inf)\n")
    shown = sorted({n for n in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
                    if n <= args.devices} | {args.devices})
    print(format_table(["n", *models], [[n] + [ratios[m][n - 1] for m in models] for n in shown]))
    lowest = min((r for m in models for r in ratios[m] if isinstance(r, float)), default=1.0)
    print(f"\nlowest ratio: {lowest:.3f} (optimal is never worse than paper when >= 1)")
    if args.png:
        draw_ips(plansets, args.png, f"IPS vs devices on {profile.name}")
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


def _time_planners(name: str, problem: Problem, devices: int, repeat: int) -> tuple[tuple, dict[str, PlanSet]]:
    """One table row (times, IPS, ratio, worst gap) and both algorithms' plan sets."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    result: dict[str, PlanSet] = {}
    for algorithm in ("optimal", "paper"):
        for _ in range(max(1, repeat)):
            start, start_cpu = time.perf_counter(), time.process_time()
            result[algorithm] = plan_problem(problem, devices, algorithm)
            wall[algorithm] = min(wall.get(algorithm, math.inf), time.perf_counter() - start)
            cpu[algorithm] = min(cpu.get(algorithm, math.inf), time.process_time() - start_cpu)
    optimal, paper = result["optimal"], result["paper"]
    gaps = [(p.gap, p.n) for p in optimal.plans if p is not None]
    gap, at = max(gaps, default=(0.0, 0))
    last = optimal.plans[-1]
    row = (name, len(problem.units), round(wall["optimal"], 3), round(cpu["optimal"], 3), round(wall["paper"], 3),
           round(last.metrics.ips, 3) if last else "-", _ratio(last, paper.plans[-1]), f"{gap:.1%}", at)
    return row, result


def _ratio(optimal: Plan | None, paper: Plan | None) -> float | str:
    if optimal is None:
        return "-"
    if paper is None:
        return "inf"
    return round(optimal.metrics.ips / paper.metrics.ips, 3)
