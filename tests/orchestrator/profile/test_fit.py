"""Behaviour models: timings generated from a known model are fitted back to it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from orchestrator.profile import LayerTiming, ModelTimings, OpModel, TaskTiming
from orchestrator.profile._fit import (
    fit_load,
    fit_memory,
    fit_models,
    fit_op,
    fit_ops,
    fit_profile,
    fit_task_overhead,
    nnls,
    samples_of,
)
from orchestrator.profile._model import MB

from .test_io import sample_profile

TRUE_CONV = OpModel("CONV_2D", intercept_s=2e-5, s_per_mmac=4e-4, s_per_mb=1e-4, s_per_mb2=3e-6, s_per_out_mb=2e-3)


def _layers(model: OpModel, n: int, seed: int, noise: float = 0.0, shards: bool = True) -> dict[str, LayerTiming]:
    """n conv-like layers with independent MACs, weights (up to 200 MB) and outputs, timed by ``model``."""
    rng = np.random.default_rng(seed)
    result = {}
    for i in range(n):
        macs = int(rng.uniform(0.1, 300) * 1e6)
        weights = int(np.exp(rng.uniform(np.log(0.05), np.log(200))) * MB)
        out = int(rng.uniform(0.01, 5) * MB)

        times = {k: model.predict(macs / k, weights / k, out / k) * (1 + noise * rng.standard_normal())
                 for k in (1, 2, 3, 4)}
        ks = {k: t for k, t in times.items() if k > 1 and shards}
        result[f"l{i}"] = LayerTiming("net", f"l{i}", (model.op,), macs, weights, out, times[1], shards=ks)
    return result


def test_nnls_agrees_with_scipy_on_random_problems() -> None:
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.standard_normal((12, 5))
        b = rng.standard_normal(12)
        ours, (theirs, _) = nnls(a, b), scipy_optimize.nnls(a, b)
        assert np.all(ours >= 0)
        assert np.linalg.norm(a @ ours - b) == pytest.approx(np.linalg.norm(a @ theirs - b), rel=1e-9, abs=1e-12)


def test_exact_timings_give_back_the_model() -> None:
    layers = _layers(TRUE_CONV, 12, seed=1)
    fitted = fit_op("CONV_2D", samples_of([ModelTimings("m", layers)]))
    assert fitted.samples == 48
    assert fitted.rel_error < 1e-6
    for name in ("intercept_s", "s_per_mmac", "s_per_mb", "s_per_mb2", "s_per_out_mb"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUE_CONV, name), rel=1e-4), name


def test_noisy_timings_predict_within_a_few_percent() -> None:
    layers = _layers(TRUE_CONV, 30, seed=2, noise=0.02)
    fitted = fit_ops(samples_of([ModelTimings("m", layers)]))["CONV_2D"]
    assert 0.005 < fitted.rel_error < 0.03
    for t in _layers(TRUE_CONV, 20, seed=3, shards=False).values():   # layers it never saw
        truth = TRUE_CONV.predict(t.macs, t.weight_bytes, t.output_bytes)
        assert fitted.predict(t.macs, t.weight_bytes, t.output_bytes) == pytest.approx(truth, rel=0.05)


def test_small_layers_get_no_quadratic_term() -> None:
    # Below the caches' size nothing is quadratic: the fit must not invent a term that explodes on a big layer.
    small = {k: v for k, v in _layers(TRUE_CONV, 40, seed=4).items() if v.weight_bytes < 10 * MB}
    assert len(small) >= 6
    linear = replace(TRUE_CONV, s_per_mb2=0.0)
    layers = {k: replace(v, time_s=linear.predict(v.macs, v.weight_bytes, v.output_bytes) * 1.01, shards={})
              for k, v in small.items()}
    assert fit_op("CONV_2D", samples_of([ModelTimings("m", layers)])).s_per_mb2 == 0.0


def test_few_samples_fall_back_to_fewer_features() -> None:
    one = {"fc": LayerTiming("net", "fc", ("FULLY_CONNECTED",), 2_000_000, 8 * 10**6, 4000, 1e-3)}
    model = fit_op("FULLY_CONNECTED", samples_of([ModelTimings("m", one)]))
    assert model.samples == 1 and model.s_per_mmac == pytest.approx(5e-4) and model.intercept_s == 0.0
    assert model.predict(2_000_000, 8 * 10**6, 4000) == pytest.approx(1e-3)
    two = {f"s{i}": LayerTiming("net", f"s{i}", ("SOFTMAX",), 10 * (i + 1), 0, 40, 4e-6 * (i + 1)) for i in range(2)}
    model = fit_op("SOFTMAX", samples_of([ModelTimings("m", two)]))
    # A constant: the one of least squared relative error against 4 and 8 us.
    assert model.samples == 2 and model.intercept_s == pytest.approx(4.8e-6)
    assert model.s_per_mmac == model.s_per_mb == model.s_per_out_mb == 0.0


def test_catch_all_is_fitted_on_light_layers_only() -> None:
    layers = _layers(TRUE_CONV, 6, seed=5)
    layers["pool"] = LayerTiming("net", "pool", ("MAX_POOL_2D",), 7056, 0, 3136, 7e-6)
    layers["flat"] = LayerTiming("net", "flat", ("RESHAPE",), 32, 8, 128, 5e-6)
    ops = fit_ops(samples_of([ModelTimings("m", layers)]))
    assert set(ops) == {"CONV_2D", "MAX_POOL_2D", "RESHAPE", "*"}
    assert ops["*"].samples == 2 and ops["CONV_2D"].samples == 24


def test_memory_factors_and_base() -> None:
    layers = {}
    for i, (w, o) in enumerate([(0.0, 0.01), (0.004, 0.003), (0.0, 0.05), (5.0, 0.2), (50.0, 1.0), (200.0, 0.1),
                                (2.0, 8.0)]):
        mem = 1.5 + 2.0 * w + 3.0 * o
        layers[f"l{i}"] = LayerTiming("net", f"l{i}", ("CONV_2D",), 1, int(w * MB), int(o * MB), 1e-3, memory_mb=mem)
    model = fit_memory(list(layers.values()), process_mb=70.0)
    assert model.base_mb == pytest.approx(71.5, abs=0.05)
    assert model.weights_factor == pytest.approx(2.0, rel=1e-3)
    assert model.activations_factor == pytest.approx(3.0, rel=1e-2)
    assert model.rel_error < 0.01
    # Factors below one (an allocator reusing pages) are pinned at one.
    low = [replace(t, memory_mb=1.5 + 0.5 * t.weight_bytes / MB) for t in layers.values()]
    assert fit_memory(low, 70.0).weights_factor == 1.0


def test_load_model_and_blocks() -> None:
    layers = [LayerTiming("net", f"l{i}", ("CONV_2D",), 1, int(w * MB), 1, 1e-3, load_s=2e-4 + 5e-4 * w)
              for i, w in enumerate((0.0, 0.1, 1.0, 10.0, 100.0))]
    model = fit_load(layers, [(300 * MB, 2e-4 + 5e-4 * 300)])
    assert model.base_s == pytest.approx(2e-4, rel=1e-6) and model.s_per_mb == pytest.approx(5e-4, rel=1e-6)
    assert model.rel_error < 1e-6


def test_task_overhead_is_the_median_excess_and_never_negative() -> None:
    layers = {n: LayerTiming(b, n, ("CONV_2D",), 1, 1, 1, t) for b, n, t in
              [("a", "a1", 1e-3), ("a", "a2", 2e-3), ("b", "b1", 1e-3), ("c", "c1", 5e-3), ("c", "c2", 5e-3)]}
    tasks = (TaskTiming("a", "a1", "a2", 3.5e-3), TaskTiming("b", "b1", "b1", 1.4e-3),
             TaskTiming("c", "c1", "c2", 9e-3))
    overhead, count = fit_task_overhead([ModelTimings("m", layers, tasks)])
    assert count == 3 and overhead == pytest.approx(4e-4)
    faster = tuple(replace(t, time_s=1e-4) for t in tasks)
    assert fit_task_overhead([ModelTimings("m", layers, faster)]) == (0.0, 3)


def test_refit_uses_every_model_of_the_profile() -> None:
    profile = sample_profile()
    other = ModelTimings("big", _layers(TRUE_CONV, 10, seed=6))
    refit = fit_profile(replace(profile, models={**profile.models, "big": other}), base_mb=70.0)
    assert refit.models["tiny"] == profile.models["tiny"] and refit.models["big"] == other
    fit = fit_models({"big": other}, 70.0)
    assert refit.ops["CONV_2D"].samples == fit.ops["CONV_2D"].samples + 4   # tiny's conv1 and its 3 shards
    assert "big" in refit.ops["CONV_2D"].source and "tiny" in refit.ops["CONV_2D"].source
