"""``mchair plan MODEL --profile P --devices N``: the plan for every cluster size 1..N."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from worker.errors import UserError

from ..planner import ALGORITHMS, DEFAULT_MAX_SHARDS, Plan, PlanSet, draw_ips, draw_plan, plan_model
from ..profile import find_profile
from ..toolchain.model import open_model
from ._codec_args import add_codec_arguments, codec_settings
from ._table import format_table, human_bytes


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``plan``."""
    p.description = ("For every n = 1..N devices: which layers go together, which stages are replicated "
                     "(data parallelism) or split (model parallelism), and the predicted IPS, t_forward, "
                     "reload time, memory per device and energy per inference.")
    p.add_argument("model", metavar="MODEL", help="built-in model name, spec .yaml or any .tflite")
    p.add_argument("--profile", required=True, metavar="P", help="profile name (rpi3) or profile .yaml")
    p.add_argument("--devices", type=int, required=True, metavar="N", help="plan for 1..N devices")
    p.add_argument("--algorithm", choices=tuple(ALGORITHMS), default="optimal",
                   help="optimal (exact, default) or paper (Algorithm 1 of the Musical Chair paper)")
    p.add_argument("--latency-bound", type=float, metavar="S", help="largest acceptable t_forward in seconds")
    p.add_argument("--memory", type=float, metavar="MB", help="memory per device for tasks (default: the "
                   "profile's usable memory)")
    p.add_argument("--max-shards", type=int, default=DEFAULT_MAX_SHARDS, metavar="K",
                   help=f"split a conv/fc layer at most K ways (default {DEFAULT_MAX_SHARDS})")
    add_codec_arguments(p)
    p.add_argument("--json", action="store_true", help="print every plan as JSON (what the runtime needs)")
    p.add_argument("--png", type=Path, metavar="FILE", help="draw the plan for N devices (devices in columns, "
                   "like the paper's Fig. 18) and IPS vs devices beside it (FILE with -ips before .png)")
    p.set_defaults(run=_plan)


def _plan(args: argparse.Namespace) -> int:
    for flag, value in (("--devices", args.devices), ("--max-shards", args.max_shards)):
        if value < 1:
            raise UserError(f"{flag} {value}: expected an integer >= 1")
    for flag, value in (("--latency-bound", args.latency_bound), ("--memory", args.memory)):
        if value is not None and value <= 0:
            raise UserError(f"{flag} {value:g}: expected a positive number")
    profile = find_profile(args.profile)
    plans = plan_model(open_model(args.model), profile, args.devices, args.algorithm, args.latency_bound, args.memory,
                       args.max_shards, codecs=codec_settings(args))
    if all(p is None for p in plans.plans):
        raise UserError(f"{args.model} on {profile.name}: no plan for 1..{args.devices} devices: {plans.reasons[-1]}")
    if args.json:
        print(json.dumps(plans.to_dict(), indent=1))
    else:
        print(report(plans))
    if args.png:
        _draw(plans, args.png)
    return 0


def report(plans: PlanSet) -> str:
    """The table of plans for n = 1..n_max, one row per n, and the stages of the largest plan."""
    rows: list[tuple[object, ...]] = []
    for n, (plan, reason) in enumerate(zip(plans.plans, plans.reasons), 1):
        if plan is None:
            rows.append((n, "-", "-", "-", "-", "-", "-", "-", f"no plan: {reason}"))
            continue
        m = plan.metrics
        bound = round(plan.bound_ips, 3) if math.isfinite(plan.bound_ips) else "-"
        rows.append((n, round(m.ips, 3), bound, f"{plan.gap:.1%}" if math.isfinite(plan.bound_ips) else "-",
                     round(m.t_forward_s, 3), round(m.reload_s, 2), human_bytes(m.max_memory_bytes),
                     round(m.energy_j, 2), plan.layout()))
    bound = f", t_forward <= {plans.latency_bound_s:g} s" if plans.latency_bound_s else ""
    head = (f"{plans.model} on {plans.profile} ({plans.algorithm} planner, {plans.memory_bytes / 1e6:.0f} MB per "
            f"device{bound}); IPS bound: no plan on n devices is faster, gap: how far below it the plan may be; "
            f"layout: stages in order, xR replicas, /K shards, [rec] the recorder")
    out = [head, "", format_table(("n", "IPS", "IPS bound", "gap", "t_forward s", "reload s", "max memory",
                                   "J/inference", "layout"), rows)]
    last = next((p for p in reversed(plans.plans) if p is not None), None)
    if last is not None:
        out += ["", f"stages for n = {last.n}:", _stages_table(last)]
    return "\n".join(out)


def _stages_table(plan: Plan) -> str:
    rows = [(d.name, d.replicas, d.shards, round(d.busy_s * 1000, 1), round(d.run_s * 1000, 1),
             human_bytes(d.memory_bytes), human_bytes(d.in_bytes), "-" if d.recorder else d.codec,
             f"{d.error:.2g}" if d.error else "0", round(d.reload_s, 2)) for d in plan.details]
    m = plan.metrics
    table = format_table(("stage", "replicas", "shards", "busy ms/frame", "run ms", "memory", "in/frame",
                          "in codec", "error", "reload s"), rows)
    return (f"{table}\nbottleneck: {m.bottleneck}; medium busy {m.network_s * 1000:.1f} ms/frame; "
            f"predicted output error {plan.error:.2g} (sum over the cuts)")


def _draw(plans: PlanSet, path: Path) -> None:
    last = next((p for p in reversed(plans.plans) if p is not None), None)
    if last is None:
        return
    title = f"{plans.model} on {plans.profile}, {plans.algorithm} planner"
    draw_plan(last, path, title)
    chart = path.with_name(f"{path.stem}-ips{path.suffix or '.png'}")
    draw_ips([plans], chart, title)
    print(f"wrote {path} and {chart}", file=sys.stderr)
