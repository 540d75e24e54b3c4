"""Behaviour models fitted to measured timings: time per op type, memory, load time, task overhead.

Every fit is a non-negative least-squares problem (a time or a size cannot fall as work grows).
Times are fitted by *relative* error, each sample's row divided by its measured value, because
layers span four orders of magnitude and the planner needs the small ones right as well.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._model import (
    MB,
    LayerTiming,
    LoadModel,
    MemoryModel,
    ModelTimings,
    OpModel,
    Profile,
)

# Layers whose main op is one of these do the heavy work; the catch-all "*" model is fitted on the rest.
HEAVY_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D", "BATCH_MATMUL")
FEATURES = ("intercept_s", "s_per_mmac", "s_per_mb", "s_per_mb2", "s_per_out_mb")
# Feature sets from richest to poorest; a fit uses the first one it has more samples than features
# for. With one or two samples a light op is best called a constant, a heavy one proportional to its work.
_RICH = ((0, 1, 2, 3, 4), (0, 1, 2, 4), (0, 1))
_TIERS_HEAVY = (*_RICH, (0, 2), (0, 4), (1,), (2,), (4,), (0,))
_TIERS_LIGHT = (*_RICH, (0, 4), (0, 2), (0,))
# The quadratic weights term models a layer that no longer fits in the caches; fitted on smaller
# layers only, it would extrapolate any noise into absurd times for a big one.
QUADRATIC_MIN_MB = 16.0
# Layers with less weights and output than this show only an interpreter's fixed memory cost.
SMALL_LAYER_MB = 0.1


@dataclass(frozen=True)
class Sample:
    """One measured run: a whole layer, or one of its k shards (1/k of its work)."""

    op: str
    macs: float
    weight_bytes: float
    output_bytes: float
    seconds: float
    model: str = ""

    def features(self) -> np.ndarray:
        """[1, MMACs, weight MB, weight MB^2, output MB], the columns of an OpModel."""
        w = self.weight_bytes / MB
        return np.array([1.0, self.macs / 1e6, w, w * w, self.output_bytes / MB])


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact non-negative least squares for a few columns: the best unconstrained fit over every
    subset of columns whose solution is non-negative (at most 2^5 small solves)."""
    n = a.shape[1]
    best, best_res = np.zeros(n), float(np.sum(b * b))
    for size in range(1, n + 1):
        for cols in itertools.combinations(range(n), size):
            x, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if np.any(x < 0):
                continue
            res = float(np.sum((a[:, cols] @ x - b) ** 2))
            if res < best_res - 1e-15 * max(best_res, 1e-300):
                best, best_res = np.zeros(n), res
                best[list(cols)] = x
    return best


def relative_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising the squared relative errors of ``x @ c`` against ``y``."""
    w = 1.0 / y
    return nnls(x * w[:, None], np.ones_like(y))


def median_rel_error(pred: np.ndarray, y: np.ndarray) -> float:
    """Median of |pred - y| / y over the samples with y > 0."""
    ok = y > 0
    return float(np.median(np.abs(pred[ok] - y[ok]) / y[ok])) if np.any(ok) else 0.0


def samples_of(timings: Iterable[ModelTimings]) -> list[Sample]:
    """Every layer and every measured shard as a sample, keyed by the layer's op type.

    The op type is the layer's first op (not weights preparation): its main op when it has one,
    else its first op, as the planner names a layer's kind.
    """
    out = []
    for mt in timings:
        for t in mt.layers.values():
            op = t.ops[0] if t.ops else "*"
            out.append(Sample(op, t.macs, t.weight_bytes, t.output_bytes, t.time_s, mt.model))
            out += [Sample(op, t.macs / k, t.weight_bytes / k, t.output_bytes / k, s, mt.model)
                    for k, s in sorted(t.shards.items())]
    return [s for s in out if s.seconds > 0]


def fit_op(op: str, samples: Sequence[Sample]) -> OpModel:
    """The OpModel of ``op`` from its samples, with as many features as the samples support."""
    x = np.array([s.features() for s in samples])
    y = np.array([s.seconds for s in samples])
    # A feature that is zero in every sample (no weights in a pooling layer) says nothing.
    usable = {0} | {i for i in range(1, x.shape[1]) if np.any(x[:, i] > 0)}
    if np.max(x[:, 2]) < QUADRATIC_MIN_MB:
        usable.discard(3)
    tiers = _TIERS_HEAVY if op in HEAVY_OPS else _TIERS_LIGHT
    tier = next(t for t in tiers if set(t) <= usable and (len(samples) > len(t) or len(t) == 1))
    coef = np.zeros(len(FEATURES))
    coef[list(tier)] = relative_fit(x[:, tier], y)
    error = median_rel_error(x @ coef, y)
    models = sorted({s.model for s in samples if s.model})
    used = ", ".join(FEATURES[i] for i in tier)
    source = (f"fitted (non-negative, relative least squares) on {len(samples)} layer and shard timings"
              f"{' of ' + ', '.join(models) if models else ''}; features: {used}")
    fitted = {name: float(c) for name, c in zip(FEATURES, coef)}
    return OpModel(op, **fitted, rel_error=round(error, 4), samples=len(samples), source=source)


def fit_ops(samples: Sequence[Sample]) -> dict[str, OpModel]:
    """One OpModel per op type, plus the catch-all ``"*"`` over every light layer."""
    by_op: dict[str, list[Sample]] = {}
    for s in samples:
        by_op.setdefault(s.op, []).append(s)
    result = {op: fit_op(op, group) for op, group in sorted(by_op.items())}
    light = [s for s in samples if s.op not in HEAVY_OPS] or list(samples)
    if light:
        result["*"] = fit_op("*", light)
    return result


def fit_memory(layers: Sequence[LayerTiming], process_mb: float) -> MemoryModel:
    """Memory of an agent: ``base_mb + weights_factor*W + activations_factor*A`` (A = the layer's output).

    Every layer was loaded alone, so its RSS growth also holds one interpreter's fixed cost: the
    median growth of the layers with almost no weights and output. That constant is added to the
    process's own RSS to make ``base_mb`` (the planner adds the base to at least one task). The
    factors are then fitted with absolute errors, so that the big layers, the ones that decide
    whether a plan fits in memory, come out right; each is at least 1 (a task holds its weights
    and its output at least once).
    """
    rows = [(t.weight_bytes / MB, t.output_bytes / MB, t.memory_mb) for t in layers if t.memory_mb > 0]
    if not rows:
        return MemoryModel(round(process_mb, 1), source=(
            "base: RSS of the profiler with the runtime loaded and no model; factors of 1 assumed (no layer's "
            "memory was measured)"))
    a = np.array([r[:2] for r in rows])
    y = np.array([r[2] for r in rows])
    small = y[a.sum(axis=1) < SMALL_LAYER_MB]
    fixed = float(np.median(small)) if small.size else 0.0
    # Factors >= 1: write them 1 + d with d >= 0 and fit d on what the single copies leave.
    wf, af = (1.0 + float(d) for d in nnls(a, y - fixed - a.sum(axis=1)))
    error = median_rel_error(fixed + a @ np.array([wf, af]), y)
    return MemoryModel(round(process_mb + fixed, 1), round(wf, 4), round(af, 4), round(error, 4),
                       f"base: RSS of the profiler with the runtime loaded and no model ({process_mb:.1f} MB) + one "
                       f"interpreter's fixed cost ({fixed:.1f} MB, the median over {small.size} layers under "
                       f"{SMALL_LAYER_MB:g} MB); factors fitted (non-negative least squares, at least 1) on the RSS "
                       f"growth of loading and running each of {len(rows)} layers alone; activations = the layer's "
                       "output")


def fit_load(layers: Sequence[LayerTiming], extra: Sequence[tuple[float, float]] = ()) -> LoadModel:
    """Load time ``base_s + s_per_mb*W`` from layers (and whole blocks as (weight bytes, seconds))."""
    pts = [(t.weight_bytes, t.load_s) for t in layers if t.load_s > 0] + [p for p in extra if p[1] > 0]
    if not pts:
        return LoadModel(0.0, 0.0, source="no load measured")
    x = np.array([[1.0, w / MB] for w, _ in pts])
    y = np.array([s for _, s in pts])
    base, per_mb = relative_fit(x, y) if len(pts) > 1 else (float(y[0]), 0.0)
    error = median_rel_error(x @ np.array([base, per_mb]), y)
    return LoadModel(float(base), float(per_mb), round(error, 4),
                     f"fitted (non-negative, relative least squares) on {len(pts)} loads of layers and blocks "
                     "from bytes in memory (median of several loads each)")


def block_layers(timings: ModelTimings, block: str, first: str, last: str) -> list[LayerTiming]:
    """The measured layers ``first..last`` of ``block``, in model order."""
    names = [n for n, t in timings.layers.items() if t.block == block]
    if first not in names or last not in names:
        return []
    return [timings.layers[n] for n in names[names.index(first): names.index(last) + 1]]


def fit_task_overhead(timings: Iterable[ModelTimings]) -> tuple[float, int]:
    """Median over measured tasks of (task time - its layers' times), at least 0; and the count."""
    diffs = []
    for mt in timings:
        for task in mt.tasks:
            layers = block_layers(mt, task.block, task.first, task.last)
            if layers:
                diffs.append(task.time_s - sum(t.time_s for t in layers))
    return (max(0.0, statistics.median(diffs)) if diffs else 0.0), len(diffs)


@dataclass(frozen=True)
class Fit:
    """Every behaviour model fitted from a profile's measurements."""

    ops: dict[str, OpModel]
    memory: MemoryModel
    load: LoadModel
    task_overhead_s: float
    tasks: int


def fit_models(models: Mapping[str, ModelTimings], base_mb: float) -> Fit:
    """Fit op, memory and load models and the task overhead on every model's timings."""
    timings = list(models.values())
    layers = [t for mt in timings for t in mt.layers.values()]
    blocks = [(sum(t.weight_bytes for t in block_layers(mt, task.block, task.first, task.last)), task.load_s)
              for mt in timings for task in mt.tasks]
    overhead, count = fit_task_overhead(timings)
    return Fit(fit_ops(samples_of(timings)), fit_memory(layers, base_mb), fit_load(layers, blocks), overhead, count)


def fit_profile(profile: Profile, base_mb: float | None = None) -> Profile:
    """``profile`` with its behaviour models refitted on all of its models' timings."""
    fit = fit_models(profile.models, profile.memory.base_mb if base_mb is None else base_mb)
    return replace(profile, ops=fit.ops, memory=fit.memory, load=fit.load, task_overhead_s=fit.task_overhead_s)


__all__ = ["FEATURES", "HEAVY_OPS", "Fit", "Sample", "block_layers", "fit_load", "fit_memory", "fit_models",
           "fit_op", "fit_ops", "fit_profile", "fit_task_overhead", "median_rel_error", "nnls", "relative_fit",
           "samples_of"]
