"""Charts of plan sets (IPS and t_forward against cluster size), and the figure helpers diagrams share.

Matplotlib is imported only when drawing, through ``Figure`` objects (no pyplot, no global backend),
so the planner stays importable without it and drawing works headless.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..toolchain.zoo import cache_dir
from ._plan import PlanSet

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
LOG_SPAN = 30.0     # a log axis when the largest value is this many times the smallest

# Matplotlib writes its font cache on first import, by default into ~/.cache/matplotlib: into ours instead
# (set before any drawing module imports matplotlib; a user's own MPLCONFIGDIR wins).
os.environ.setdefault("MPLCONFIGDIR", str(cache_dir() / "matplotlib"))


def new_figure(width_in: float, height_in: float) -> Figure:
    """A headless figure of the given size in inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=DPI)


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, format="png")
    return out


def ips_series(planset: PlanSet) -> tuple[list[int], list[float], list[float]]:
    """Cluster sizes that have a plan, with their predicted IPS and t_forward (seconds); None plans skipped."""
    ns, ips, t_forward = [], [], []
    for plan in planset.plans:
        if plan is not None:
            ns.append(plan.n)
            ips.append(plan.metrics.ips)
            t_forward.append(plan.metrics.t_forward_s)
    return ns, ips, t_forward


def _with_gaps(ns: list[int], ys: list[float]) -> tuple[list[float], list[float]]:
    """Points with a NaN between non-consecutive sizes, so the line breaks where plans are missing."""
    xs_out: list[float] = []
    ys_out: list[float] = []
    for i, (n, y) in enumerate(zip(ns, ys)):
        if i and n != ns[i - 1] + 1:
            xs_out.append(math.nan)
            ys_out.append(math.nan)
        xs_out.append(float(n))
        ys_out.append(y)
    return xs_out, ys_out


def log_scale_if_wide(ax: Axes, values: Sequence[float]) -> None:
    """Log scale on ``ax``'s y axis when the values span more than LOG_SPAN."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > LOG_SPAN:
        ax.set_yscale("log")


def draw_ips(plansets: Sequence[PlanSet], path: str | Path, title: str = "") -> Path:
    """Predicted IPS and t_forward against the number of devices, one line per plan set; write a PNG."""
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(12.0, 4.6)
    ax_ips, ax_t = fig.subplots(1, 2)
    all_ips: list[float] = []
    all_t: list[float] = []
    n_max = 1
    for i, ps in enumerate(plansets):
        ns, ips, t_forward = ips_series(ps)
        t_ms = [t * 1e3 for t in t_forward]
        label = f"{ps.model} / {ps.algorithm}" + ("" if ns else " (no plan)")
        style = {"marker": MARKERS[i % len(MARKERS)], "markersize": 4.5, "linewidth": 1.4,
                 "color": f"C{i % 10}", "label": label}
        ax_ips.plot(*_with_gaps(ns, ips), **style)
        ax_t.plot(*_with_gaps(ns, t_ms), **style)
        all_ips += ips
        all_t += t_ms
        n_max = max(n_max, ps.n_max, *ns) if ns else max(n_max, ps.n_max)
    for ax, values, ylabel, name in ((ax_ips, all_ips, "inferences per second", "Predicted IPS"),
                                     (ax_t, all_t, "t_forward (ms)", "Predicted t_forward (one frame)")):
        log_scale_if_wide(ax, values)
        ax.set_xlim(0.5, n_max + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("devices (n)")
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        if not values:
            ax.text(0.5, 0.5, "no plan", transform=ax.transAxes, ha="center", va="center", color="0.4")
    if plansets:
        ax_ips.legend(fontsize=8, loc="best")
    fig.suptitle(title or "Predicted performance against cluster size", fontsize=12)
    fig.set_layout_engine("constrained")
    return save(fig, path)


__all__ = ["DPI", "MARKERS", "draw_ips", "ips_series", "log_scale_if_wide", "new_figure", "save"]
