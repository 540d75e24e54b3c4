"""``mchair bench planner``: how fast the planners are, and how much IPS the exact one gains."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..planner import PlanSet, build_problem, draw_ips, plan_problem
from ..profile import find_profile
from ..toolchain.model import open_model
from ..toolchain.zoo import builtin_models
from . import bench_chairs, bench_codec, bench_lab, bench_lab_faults, bench_pipeline, bench_ray, bench_wire
from ._table import format_table

TARGET_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options and benchmarks of ``bench``."""
    bsub = parser.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    p = bsub.add_parser("planner", help="time to plan n = 1..N for each built-in model, IPS optimal/paper")
    p.add_argument("--profile", default="rpi3", metavar="P", help="profile name or .yaml (default rpi3)")
    p.add_argument("--devices", type=int, default=64, metavar="N", help="plan n = 1..N (default 64)")
    p.add_argument("--models", metavar="A,B", help="comma-separated models (default: every built-in one)")
    p.add_argument("--repeat", type=int, default=3, metavar="R", help="best of R timings (default 3)")
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
    timings, ratios, plansets = [], {}, []
    for i, name in enumerate(models, 1):
        print(f"[{i}/{len(models)}] {name}: building and reading the model ...", file=sys.stderr, flush=True)
        problem = build_problem(open_model(name), profile)
        best: dict[str, float] = {}
        result: dict[str, PlanSet] = {}
        for algorithm in ("optimal", "paper"):
            for _ in range(max(1, args.repeat)):
                start = time.perf_counter()
                result[algorithm] = plan_problem(problem, args.devices, algorithm)
                best[algorithm] = min(best.get(algorithm, float("inf")), time.perf_counter() - start)
        plansets += [result["optimal"], result["paper"]]
        timings.append((name, len(problem.units), round(best["optimal"] * 1000, 1), round(best["paper"] * 1000, 1)))
        ratios[name] = [_ratio(o, p) for o, p in zip(result["optimal"].plans, result["paper"].plans)]
    total = sum(t[2] for t in timings) / 1000
    print(f"planning n = 1..{args.devices} on {profile.name} (best of {args.repeat})\n")
    print(format_table(("model", "units", "optimal ms", "paper ms"), timings))
    verdict = "met" if total < TARGET_S else "NOT met"
    print(f"\noptimal, all models together: {total:.3f} s (target < {TARGET_S:g} s: {verdict})\n")
    print("IPS optimal / paper per n ('-': no plan; paper missing a plan counts as inf)\n")
    rows = [[n] + [ratios[m][n - 1] for m in models] for n in range(1, args.devices + 1)]
    print(format_table(["n", *models], rows))
    worst = min((r for m in models for r in ratios[m] if isinstance(r, float)), default=1.0)
    print(f"\nlowest ratio: {worst:.3f} (optimal is never worse than paper when >= 1)")
    if args.png:
        draw_ips(plansets, args.png, f"IPS vs devices on {profile.name}")
        print(f"wrote {args.png}", file=sys.stderr)
    return 0


def _ratio(optimal, paper) -> float | str:
    if optimal is None:
        return "-"
    if paper is None:
        return "inf"
    return round(optimal.metrics.ips / paper.metrics.ips, 3)
