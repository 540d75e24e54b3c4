"""Pictures of a pipeline sweep in the style of the paper's Figures 19 (IPS against the number of
devices) and 20 (one frame's latency split into compute, communication, reload and queueing).

Figure helpers (headless figures, saving, markers, log scale) are the planner's (``_draw_charts``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..planner._draw_charts import MARKERS, log_scale_if_wide, new_figure, save
from ._record import PipelineBenchmark

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# (label, colour, hatch) of each part of t_forward, bottom to top as in the paper's Fig. 20.
PARTS = (("compute", "#1f77b4", ""), ("communication", "#ff7f0e", ""),
         ("reload (predicted)", "#9467bd", "//"), ("queueing", "#8c8c8c", ""))
BAR_WIDTH = 0.6


def _subtitle(bench: PipelineBenchmark) -> str:
    return (f"{bench.model} on profile {bench.profile}; camera {bench.fps:g} frames/s, {bench.seconds:g} s per run, "
            f"{bench.host_cores} host cores, {bench.date}")


def _devices_axis(ax: Axes, ns: list[int]) -> None:
    ax.set_xticks(ns)
    ax.set_xlim(min(ns) - 0.7, max(ns) + 0.7)
    ax.set_xlabel("devices (n)")
    ax.grid(True, axis="y", which="major", alpha=0.3)


def draw_ips_vs_devices(bench: PipelineBenchmark, path: str | Path) -> Path:
    """Measured and predicted IPS against the number of devices (like Fig. 19); write a PNG at ``path``."""
    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    runs = sorted(bench.runs, key=lambda r: r.n)
    ns = [r.n for r in runs]
    measured = [r.ips_measured for r in runs]
    predicted = [r.ips_predicted for r in runs]
    ax.plot(ns, measured, marker=MARKERS[0], color="C0", linewidth=1.8, label="measured (local cluster)")
    ax.plot(ns, predicted, marker=MARKERS[1], color="C3", linewidth=1.4, linestyle="--", label="predicted (planner)")
    for n, ips in zip(ns, measured):
        if not math.isnan(ips):
            ax.annotate(f"{ips:.3g}", (n, ips), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    # References drawn across the whole axis, as the paper draws the HPC machine and the TX2.
    references = [(bench.fps, "camera rate", ":", "0.35"),
                  (bench.single_process_ips, "one process, whole model", "-.", "C2")]
    for value, label, style, colour in references:
        if value > 0:
            shown = f"{value:.3g}" if value < 1000 else f"{value:,.0f}"     # never 1.5e+03 in a legend
            ax.axhline(value, linestyle=style, color=colour, linewidth=1.2, label=f"{label} ({shown})")
    values = [v for v in measured + predicted + [r[0] for r in references] if not math.isnan(v)]
    log_scale_if_wide(ax, values)
    if ax.get_yscale() == "linear" and values:
        ax.set_ylim(0, 1.12 * max(values))     # from zero, as the paper's bars; room for the labels
    _devices_axis(ax, ns)
    ax.set_ylabel("inferences per second")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_subtitle(bench), fontsize=8, color="0.3")
    fig.suptitle("IPS against the number of devices", fontsize=12)
    fig.set_layout_engine("constrained")
    return save(fig, path)


def draw_latency_breakdown(bench: PipelineBenchmark, path: str | Path) -> Path:
    """One frame's latency per cluster size in stacked parts (like Fig. 20), t_forward marked; write a PNG."""
    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    runs = sorted(bench.runs, key=lambda r: r.n)
    ns = [r.n for r in runs]
    bottoms = [0.0] * len(runs)
    for (label, colour, hatch), attribute in zip(PARTS, ("compute_p50_s", "communication_p50_s",
                                                          "reload_predicted_s", "queueing_p50_s")):
        # A part with no data (a run without results) is drawn as nothing, not as a gap in the stack.
        heights = [_ms(getattr(r, attribute)) for r in runs]
        ax.bar(ns, heights, BAR_WIDTH, bottom=bottoms, color=colour, hatch=hatch, edgecolor="white",
               linewidth=0.6, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.plot(ns, [1000 * r.t_forward_p50_s for r in runs], linestyle="none", marker="_", markersize=28,
            markeredgewidth=2.2, color="black", label="t_forward p50 (measured)")
    ax.plot(ns, [1000 * r.t_forward_predicted_s for r in runs], linestyle="none", marker="x", markersize=8,
            markeredgewidth=2.0, color="C3", label="t_forward (predicted)")
    _devices_axis(ax, ns)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("one frame, camera to result (ms)")
    ax.legend(fontsize=8, loc="best")
    ax.set_title(_subtitle(bench) + "\nparts: p50 of each along a frame's path; reload is the plan's prediction",
                 fontsize=8, color="0.3")
    fig.suptitle("Latency of one frame, by part", fontsize=12)
    fig.set_layout_engine("constrained")
    return save(fig, path)


def _ms(seconds: float) -> float:
    return 0.0 if math.isnan(seconds) else 1000 * seconds


__all__ = ["draw_ips_vs_devices", "draw_latency_breakdown"]
