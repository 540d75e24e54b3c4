"""Plan diagrams in the style of the paper's Figures 18, 22 and 24.

One column per stage, left to right in data-flow order; inside a column one box per device
(replicas x shards run in parallel), coloured by block, with the recorder (camera) first. All
geometry is in inches (the axes span the figure one unit per inch, y downwards), so a plan always
gives the same image size and text stays the same size however big the plan: long chains wrap
onto several rows and tall columns show their first devices, "... N more" and the last one.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._draw_charts import draw_ips, new_figure, save
from ._plan import Plan, StagePlan

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BOX_W, BOX_H, GAP_X, GAP_Y = 1.55, 0.74, 0.55, 0.12   # inches
PITCH_X, PITCH_Y = BOX_W + GAP_X, BOX_H + GAP_Y
MAX_COLS = 7            # stages per row before wrapping
MAX_SLOTS = 8           # boxes per column; more devices: the first ones, "... N more", the last
LEFT, RIGHT, HEADER, ROW_GAP = 0.85, 0.45, 0.26, 0.5
LEGEND_W, LEGEND_H = 2.05, 0.22
MIN_WIDTH = 7.5
CHAR_EM = 0.57          # average character width of DejaVu Sans, in ems (for wrapping)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
RECORDER_COLOUR, BOTTLENECK = "#8c8c8c", "#d62728"
RECORDER_BLOCK = "recorder"


@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size_pt: float, bold: bool) -> float:
    """Width of ``text`` in inches as matplotlib's default font draws it."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=size_pt, weight="bold" if bold else "normal")
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72


def _fit(text: str, width_in: float, size_pt: float, bold: bool = False) -> str:
    """``text`` cut with an ellipsis to fit ``width_in`` inches at ``size_pt``."""
    full = _text_width(text, size_pt, bold)
    if full <= width_in:
        return text
    cut = max(int(len(text) * width_in / full), 1)      # a guess, then a character at a time
    while cut < len(text) - 1 and _text_width(text[:cut + 1] + "\u2026", size_pt, bold) <= width_in:
        cut += 1
    while cut > 1 and _text_width(text[:cut] + "\u2026", size_pt, bold) > width_in:
        cut -= 1
    return text[:cut] + "\u2026"


def _wrap(text: str, width_in: float, size_pt: float) -> list[str]:
    """``text`` wrapped to lines of about ``width_in`` inches."""
    return textwrap.wrap(text, max(int(width_in * 72 / (size_pt * CHAR_EM)), 10)) or [""]


def _lighten(colour: str, amount: float = 0.6) -> str:
    """``colour`` (#rrggbb) mixed with white."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def _size(nbytes: float) -> str:
    """Bytes for a label: B, kB, MB or GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes:.0f} B"


def _ms(seconds: float) -> str:
    """Seconds as a short millisecond label."""
    ms = seconds * 1e3
    return f"{ms:.2f} ms" if ms < 1 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def _blocks(d: StagePlan) -> list[tuple[str, int]]:
    """The stage's blocks in order with how many of its units each holds."""
    if not d.tasks:
        return [(d.name, max(len(d.units), 1))]
    out: list[tuple[str, int]] = []
    i = 0
    for block, first, last in d.tasks:
        count = 1
        if first and first in d.units[i:]:
            start = d.units.index(first, i)
            end = d.units.index(last, start) if last in d.units[start:] else start
            count, i = end - i + 1, end + 1
        else:
            i += 1
        if out and out[-1][0] == block:
            out[-1] = (block, out[-1][1] + count)
        else:
            out.append((block, count))
    return out


def _key(d: StagePlan) -> str:
    """The block a stage is coloured by: its first unit's, past the camera when the stage holds more."""
    blocks = [b for b, _ in _blocks(d)]
    return blocks[1] if len(blocks) > 1 and blocks[0] == RECORDER_BLOCK else blocks[0]


def _palette(plans: Sequence[Plan]) -> dict[str, str]:
    """A colour per block, in order of first appearance in the plans."""
    colours: dict[str, str] = {}
    for plan in plans:
        for d in plan.details:
            for block, _ in _blocks(d):
                if block not in colours:
                    colours[block] = RECORDER_COLOUR if block == RECORDER_BLOCK else \
                        PALETTE[sum(b != RECORDER_BLOCK for b in colours) % len(PALETTE)]
    return colours


def _block_label(d: StagePlan) -> str:
    """The blocks a stage holds: one, two joined, or first ... last (its strip shows them all)."""
    names = [b for b, _ in _blocks(d)]
    return " + ".join(names) if len(names) <= 2 else f"{names[0]} \u2026 {names[-1]}"


def _unit_label(d: StagePlan) -> str:
    """The stage's units: one, two, or ``first..last (N layers)``."""
    units = d.units or (d.name,)
    if len(units) <= 2:
        return ", ".join(units)
    steps = sum(1 for _, first, _ in d.tasks if not first)
    kind = "layers" if steps == 0 else "units"
    return f"{units[0]}..{units[-1]} ({len(units)} {kind})"


def _role(d: StagePlan, device: int) -> str:
    """Which copy a device is: replica r/R, shard s/S, both, or recorder."""
    r, s = divmod(device, d.shards)
    parts = []
    if d.replicas > 1:
        parts.append(f"replica {r + 1}/{d.replicas}")
    if d.shards > 1:
        parts.append(f"shard {s + 1}/{d.shards}")
    return " \u00b7 ".join(parts) or ("recorder" if d.recorder else "1 device")


def _header(d: StagePlan, index: int) -> str:
    """A column's caption: stage number and how it is spread."""
    parts = [f"stage {index + 1}"]
    if d.replicas > 1:
        parts.append(f"{d.replicas} replicas")
    if d.shards > 1:
        parts.append(f"{d.shards} shards")
    return " \u00b7 ".join(parts)


def summary(plan: Plan) -> str:
    """One line of the plan's predicted figures: devices, IPS, t_forward, energy, memory, bottleneck."""
    m = plan.metrics
    used = f"{m.devices} of {plan.n}" if m.devices != plan.n else str(m.devices)
    used += " device" if plan.n == 1 else " devices"
    return (f"{used} \u00b7 {m.ips:.3g} IPS \u00b7 t_forward {_ms(m.t_forward_s)} \u00b7 "
            f"{m.energy_j:.3g} J/inference \u00b7 max {_size(m.max_memory_bytes)}/device \u00b7 "
            f"bottleneck: {m.bottleneck}")


@dataclass(frozen=True)
class _Layout:
    """Where a plan's columns go: stage indices per row, each row's height, and the overall size."""

    rows: tuple[tuple[int, ...], ...]
    row_h: tuple[float, ...]
    width: float
    height: float


def _slots(d: StagePlan) -> int:
    """Boxes drawn for a stage."""
    return min(d.devices, MAX_SLOTS)


def _layout(plan: Plan) -> _Layout:
    """The plan's rows of at most MAX_COLS columns, balanced so the last row is not a stub."""
    n = len(plan.details)
    nrows = max(1, math.ceil(n / MAX_COLS))
    per_row = math.ceil(n / nrows) if n else 1
    rows = tuple(tuple(range(i, min(i + per_row, n))) for i in range(0, max(n, 1), per_row))
    row_h = tuple(HEADER + max((_slots(plan.details[i]) for i in row), default=1) * PITCH_Y - GAP_Y
                  for row in rows)
    width = LEFT + per_row * PITCH_X - GAP_X + RIGHT
    return _Layout(rows, row_h, width, sum(row_h) + ROW_GAP * (len(rows) - 1))


def _camera(ax: Axes, x: float, y: float) -> None:
    """A small camera glyph centred at (x, y) with its caption below."""
    from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

    ax.add_patch(Rectangle((x - 0.08, y - 0.15), 0.08, 0.04, fc="#333333", ec="none"))
    ax.add_patch(FancyBboxPatch((x - 0.2, y - 0.11), 0.4, 0.24, boxstyle="round,pad=0,rounding_size=0.04",
                                fc="#333333", ec="none"))
    ax.add_patch(Circle((x, y + 0.01), 0.075, fc="white", ec="none"))
    ax.add_patch(Circle((x, y + 0.01), 0.045, fc="#333333", ec="none"))
    ax.text(x, y + 0.22, "camera", ha="center", va="top", fontsize=6.5, color="#333333")


def _arrow(ax: Axes, x0: float, y0: float, x1: float, y1: float) -> None:
    """A plain arrow from (x0, y0) to (x1, y1)."""
    ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.1,
                                                    "shrinkA": 0, "shrinkB": 0, "mutation_scale": 9})


def _box(ax: Axes, x: float, y: float, d: StagePlan, device: int, colours: dict[str, str],
         bottleneck: bool) -> None:
    """One device's box: blocks, units, role, busy time and memory, and a strip of its blocks' colours."""
    from matplotlib.patches import FancyBboxPatch, Rectangle

    edge, lw = ("#222222", 1.8) if d.recorder else ("#555555", 0.8)
    if bottleneck:
        edge, lw = BOTTLENECK, 2.0
    ax.add_patch(FancyBboxPatch((x, y), BOX_W, BOX_H, boxstyle="round,pad=0,rounding_size=0.05",
                                fc=_lighten(colours[_key(d)]), ec=edge, lw=lw))
    inner = BOX_W - 0.12
    cx = x + BOX_W / 2
    stats = f"{_ms(d.busy_s)}/frame \u00b7 {_size(d.memory_bytes)}" + (" \u00b7 reload" if d.reload_s > 0 else "")
    for dy, text, size, style in ((0.13, _block_label(d), 7.5, "bold"), (0.28, _unit_label(d), 7.0, "normal"),
                                  (0.43, _role(d, device), 7.0, "italic"), (0.57, stats, 6.0, "normal")):
        ax.text(cx, y + dy, _fit(text, inner, size, style == "bold"), ha="center", va="center", fontsize=size,
                fontweight="bold" if style == "bold" else "normal",
                fontstyle="italic" if style == "italic" else "normal", color="#333333" if size < 7 else "black")
    blocks = _blocks(d)
    total = sum(c for _, c in blocks)
    sx = x + 0.06
    for block, count in blocks:
        w = inner * count / total
        ax.add_patch(Rectangle((sx, y + BOX_H - 0.1), w, 0.05, fc=colours[block], ec="none"))
        sx += w


def _column(ax: Axes, x: float, top: float, d: StagePlan, colours: dict[str, str], bottleneck: bool) -> None:
    """A stage's boxes from ``top`` down; past MAX_SLOTS the first ones, a "more" note and the last."""
    from matplotlib.patches import FancyBboxPatch

    if d.devices <= MAX_SLOTS:
        shown: list[int | None] = list(range(d.devices))
    else:
        shown = [*range(MAX_SLOTS - 2), None, d.devices - 1]
    for slot, device in enumerate(shown):
        y = top + slot * PITCH_Y
        if device is not None:
            _box(ax, x, y, d, device, colours, bottleneck)
            continue
        hidden = d.devices - (MAX_SLOTS - 1)
        ax.add_patch(FancyBboxPatch((x, y), BOX_W, BOX_H, boxstyle="round,pad=0,rounding_size=0.05",
                                    fc="white", ec=colours[_key(d)], lw=1.0, ls="--"))
        ax.text(x + BOX_W / 2, y + BOX_H / 2, f"\u22ee  {hidden} more devices\n(x{d.devices} in all)",
                ha="center", va="center", fontsize=7.5, color="#333333", linespacing=1.4)


def _draw_stages(ax: Axes, plan: Plan, lay: _Layout, top: float, colours: dict[str, str]) -> None:
    """The plan's columns, arrows and wrap connectors, rows starting at ``top``."""
    bottleneck = plan.metrics.bottleneck
    y = top
    prev: tuple[float, float] | None = None      # right edge and centre of the previous column
    for row, row_h in zip(lay.rows, lay.row_h):
        centre = y + HEADER + (row_h - HEADER) / 2
        for c, i in enumerate(row):
            d = plan.details[i]
            x = LEFT + c * PITCH_X
            neck = d.name == bottleneck
            ax.text(x + BOX_W / 2, y + HEADER / 2, _fit(_header(d, i), BOX_W + GAP_X * 0.6, 6.5),
                    ha="center", va="center", fontsize=6.5, color=BOTTLENECK if neck else "#333333",
                    fontweight="bold" if neck else "normal")
            _column(ax, x, centre - (_slots(d) * PITCH_Y - GAP_Y) / 2, d, colours, neck)
            label = _size(d.in_bytes)
            if prev is not None and c > 0:
                _arrow(ax, prev[0] + 0.03, centre, x - 0.03, centre)
                ax.text((prev[0] + x) / 2, centre - 0.05, label, ha="center", va="bottom", fontsize=5.5,
                        color="#444444")
            elif prev is not None:       # wrapped: down from the previous row's end, back to this row's start
                mid = y - ROW_GAP / 2
                ax.plot([prev[0] + 0.03, prev[0] + GAP_X / 2, prev[0] + GAP_X / 2, LEFT - 0.35, LEFT - 0.35],
                        [prev[1], prev[1], mid, mid, centre], color="#444444", lw=1.1)
                _arrow(ax, LEFT - 0.35, centre, LEFT - 0.03, centre)
                ax.text(LEFT + 0.1, mid - 0.04, label, ha="left", va="bottom", fontsize=5.5, color="#444444")
            if d.recorder and prev is None:
                _camera(ax, LEFT / 2 - 0.05, centre - 0.05)
                _arrow(ax, LEFT / 2 + 0.17, centre, LEFT - 0.03, centre)
            prev = (x + BOX_W, centre)
        y += row_h + ROW_GAP


def _legend(ax: Axes, top: float, width: float, colours: dict[str, str]) -> float:
    """Swatches of the blocks (and the bottleneck edge) from ``top``; returns the height used."""
    from matplotlib.patches import Rectangle

    entries = [(block, colour, "none") for block, colour in colours.items()] + \
        [("bottleneck stage", "white", BOTTLENECK)]
    ncol = max(1, int((width - 0.4) // LEGEND_W))
    for k, (name, fc, ec) in enumerate(entries):
        x, y = 0.3 + (k % ncol) * LEGEND_W, top + (k // ncol) * LEGEND_H
        ax.add_patch(Rectangle((x, y + 0.03), 0.22, 0.13, fc=fc, ec=ec, lw=1.5))
        ax.text(x + 0.3, y + 0.095, _fit(name, LEGEND_W - 0.4, 7.5), ha="left", va="center", fontsize=7.5)
    return math.ceil(len(entries) / ncol) * LEGEND_H


def _legend_height(width: float, colours: dict[str, str]) -> float:
    """Height the legend will take."""
    ncol = max(1, int((width - 0.4) // LEGEND_W))
    return math.ceil((len(colours) + 1) / ncol) * LEGEND_H


def _canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure with one bare axes spanning it, one unit per inch, y downwards."""
    fig = new_figure(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    return fig, ax


def _text_block(ax: Axes | None, top: float, width: float, lines: list[tuple[str, float, str]]) -> float:
    """Wrapped header lines (text, size, weight) from ``top``; returns the height (draws when ``ax``)."""
    y = top
    for text, size, weight in lines:
        for line in _wrap(text, width - 0.6, size):
            if ax is not None:
                ax.text(0.3, y, line, ha="left", va="top", fontsize=size, fontweight=weight)
            y += size * 1.45 / 72
    return y - top


def draw_plans(plans: Sequence[Plan], path: str | Path, title: str = "") -> Path:
    """Several plans stacked vertically (like Fig. 18 a-d) with one shared legend; write a PNG."""
    plans = list(plans)
    layouts = [_layout(p) for p in plans]
    colours = _palette(plans)
    width = max([MIN_WIDTH, *(lay.width for lay in layouts)])
    heads = [[(f"({chr(97 + k % 26)}) {p.algorithm}, n = {p.n}", 9.5, "bold"), (summary(p), 8.5, "normal")]
             for k, p in enumerate(plans)]
    if len(plans) == 1:     # draw_plan: the title names the plan
        heads = [heads[0][1:]]
    top_lines = [(title, 12.0, "bold")] if title else []
    top_h = 0.2 + _text_block(None, 0, width, top_lines) + (0.1 if title else 0)
    panels = [_text_block(None, 0, width, h) + 0.1 + lay.height for h, lay in zip(heads, layouts)]
    height = top_h + sum(panels) + 0.35 * len(plans) + _legend_height(width, colours) + 0.3
    fig, ax = _canvas(width, height)
    _text_block(ax, 0.2, width, top_lines)
    y = top_h
    for k, (plan, lay, head) in enumerate(zip(plans, layouts, heads)):
        if k:
            ax.plot([0.2, width - 0.2], [y - 0.2, y - 0.2], color="#bbbbbb", lw=0.8)
        y += _text_block(ax, y, width, head) + 0.1
        _draw_stages(ax, plan, lay, y, colours)
        y += lay.height + 0.35
    _legend(ax, y, width, colours)
    return save(fig, path)


def draw_plan(plan: Plan, path: str | Path, title: str = "") -> Path:
    """One plan as columns of device boxes in data-flow order (paper Fig. 18 style); write a PNG."""
    return draw_plans([plan], path, title or f"{plan.algorithm} plan, n = {plan.n}")


__all__ = ["draw_ips", "draw_plan", "draw_plans", "summary"]
