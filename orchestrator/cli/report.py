"""``mchair report RUN.json [--png DIR]``: a pipeline sweep's table, and its pictures like the paper's
Figures 19 (IPS against devices) and 20 (latency breakdown)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from worker.errors import UserError

from ..report import PipelineBenchmark, draw_ips_vs_devices, draw_latency_breakdown
from ._table import format_table

IPS_PNG = "ips-vs-devices.png"
LATENCY_PNG = "latency-breakdown.png"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``report``."""
    p.description = ("Reads the JSON that `mchair bench pipeline --json FILE` writes; prints per "
                     "cluster size the IPS measured and predicted and t_forward split into compute, "
                     "communication, reload (predicted) and queueing.")
    p.add_argument("file", type=Path, metavar="RUN.json", help="a `mchair bench pipeline --json` file")
    p.add_argument("--png", type=Path, metavar="DIR", help=f"also draw DIR/{IPS_PNG} (like the paper's Fig. 19) "
                   f"and DIR/{LATENCY_PNG} (like Fig. 20); DIR is created")
    p.set_defaults(run=_report)


def _report(args: argparse.Namespace) -> int:
    bench = PipelineBenchmark.load(args.file)
    print(runs_table(bench))
    if args.png:
        for path in draw(bench, args.png):
            print(f"wrote {path}")
    return 0


def draw(bench: PipelineBenchmark, folder: Path) -> tuple[Path, Path]:
    """Write both pictures of ``bench`` into ``folder`` (created); their paths."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--png {folder}: expected a folder, it is a file")
    folder.mkdir(parents=True, exist_ok=True)
    return draw_ips_vs_devices(bench, folder / IPS_PNG), draw_latency_breakdown(bench, folder / LATENCY_PNG)


def runs_table(bench: PipelineBenchmark) -> str:
    """A header line, one row per cluster size (IPS measured vs predicted, t_forward and its parts), a legend."""
    rows = [(r.n, _num(r.ips_measured, 2), _num(r.ips_predicted, 2), _num(r.ratio, 2),
             _ms(r.t_forward_p50_s), _ms(r.t_forward_p95_s), _ms(r.t_forward_predicted_s),
             _ms(r.compute_p50_s), _ms(r.communication_p50_s), _ms(r.reload_predicted_s), _ms(r.queueing_p50_s),
             r.drops, r.duplicates, r.layout) for r in sorted(bench.runs, key=lambda r: r.n)]
    head = (f"{bench.model} on profile {bench.profile}: camera {bench.fps:g} frames/s, {bench.seconds:g} s per run, "
            f"one process {bench.single_process_ips:.3g} IPS, {bench.host_cores} host cores, {bench.date}")
    table = format_table(("n", "IPS", "predicted", "ratio", "t_fwd p50", "p95", "predicted", "compute",
                          "comm", "reload*", "queue", "drops", "dups", "layout"), rows)
    legend = ("IPS: measured on a local cluster of n agent processes; ratio = measured / predicted. Times in ms: "
              "t_forward p50/p95 measured,\nits parts p50 along a frame's path; *reload is the plan's prediction "
              "(the agents do not measure it). Layout: stages, xR replicas, /K shards.")
    return f"{head}\n\n{table}\n\n{legend}"


def _num(value: float, digits: int) -> float | str:
    # A run with no results has nan figures: a dash reads better than "nan".
    return "-" if math.isnan(value) else round(value, digits)


def _ms(seconds: float) -> float | str:
    return _num(1000 * seconds, 1)
