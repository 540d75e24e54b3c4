"""The cost model on tiny hand-built problems, every figure computed by hand in the comments."""

from __future__ import annotations

import pytest

from orchestrator.planner._cost import EPS, CostModel, Metrics, Stage, better
from orchestrator.planner._problem import Problem, Unit, Value

from ._random_problems import MB, make_profile

# Link: 10 ms + 1 us/byte. Memory: 10 MB + weights + activations, 100 MB per device.
# Load: 0.5 s + 0.1 s/MB. Power: 1 W idle, 5 W busy. 5 ms per task run. Camera 10 ms, 10 fps.
PROFILE: dict[str, float] = {
    "seconds_per_byte": 1e-6, "latency_s": 0.01, "base_mb": 10.0, "weights_factor": 1.0,
    "activations_factor": 1.0, "load_base_s": 0.5, "load_s_per_mb": 0.1, "idle_w": 1.0, "busy_w": 5.0,
    "task_overhead_s": 0.005, "camera_s": 0.01, "usable_memory_mb": 100.0,
}


def _problem(units: list[Unit], values: list[Value], fps: float = 10.0, **profile: object) -> Problem:
    prof = make_profile(**{**PROFILE, **profile})  # type: ignore[arg-type]
    camera = Unit("camera", "recorder", "camera", (prof.camera_s,))
    return Problem("hand", prof, (camera, *units), tuple(values), fps, prof.device.usable_memory_mb * MB)


def _layer(name: str, times: tuple[float, ...], weights_mb: float = 0.0, out: int = 1000, kind: str = "CONV_2D",
           index: int = 0) -> Unit:
    return Unit(name, "net", kind, times, int(weights_mb * MB), out, 1.0, index)


def chain() -> CostModel:
    """camera -> a (0.3 s) -> b (0.2 s): a 10 kB frame, a 20 kB activation, a 100 B result."""
    units = [_layer("a", (0.3,), out=20_000), _layer("b", (0.2,), out=100, index=1)]
    values = [Value("frame", 0, (1,), 10_000), Value("a", 1, (2,), 20_000), Value("b", 2, (), 100, is_output=True)]
    return CostModel(_problem(units, values))


def test_chain_of_two_layers() -> None:
    cost = chain()
    m = cost.evaluate((Stage(0, 0), Stage(1, 1), Stage(2, 2)))
    # Runs: recorder 0.01 + 0.005, a 0.3 + 0.005, b 0.2 + 0.005.
    # Frame: ready 0.015, arrives 0.015 + 0.01 + 0.01 = 0.035; a ready 0.34; its output arrives
    # 0.34 + 0.01 + 0.02 = 0.37; b ready 0.575.
    assert m.t_forward_s == pytest.approx(0.575)
    assert m.transfer_s == pytest.approx(0.05)
    assert m.reload_s == 0.0
    # Period: a's 0.305 s beats the camera's 0.1 s and the medium's (10 + 20 kB) * 1 us = 0.03 s.
    assert m.period_s == pytest.approx(0.305)
    assert m.ips == pytest.approx(1 / 0.305)
    assert m.bottleneck == "a"
    assert m.network_s == pytest.approx(0.03)
    assert m.devices == 3
    # Energy: 3 devices idle for the period, plus 4 W more while busy: 3 * 0.305 + 4 * (0.015 + 0.305 + 0.205).
    assert m.energy_j == pytest.approx(0.915 + 2.1)
    # Memory: 10 MB base + the largest activation, 20 kB.
    assert m.max_memory_bytes == pytest.approx(10 * MB + 20_000)


def test_chain_on_one_device() -> None:
    cost = chain()
    m = cost.evaluate((Stage(0, 2),))
    # 0.01 + 0.3 + 0.2 + one task overhead, nothing sent.
    assert m.t_forward_s == pytest.approx(0.515)
    assert m.period_s == pytest.approx(0.515)
    assert m.transfer_s == 0.0 and m.network_s == 0.0
    assert m.bottleneck == "camera..b"
    assert m.energy_j == pytest.approx(1 * 0.515 + 4 * 0.515)


def test_camera_sets_the_period_at_a_low_frame_rate() -> None:
    units = [_layer("a", (0.3,), out=20_000), _layer("b", (0.2,), out=100, index=1)]
    values = [Value("frame", 0, (1,), 10_000), Value("a", 1, (2,), 20_000), Value("b", 2, (), 100, is_output=True)]
    m = CostModel(_problem(units, values, fps=2.0)).evaluate((Stage(0, 0), Stage(1, 1), Stage(2, 2)))
    assert m.period_s == 0.5 and m.bottleneck == "camera"
    assert m.ips == pytest.approx(2.0)


def test_replicas_divide_busy_time() -> None:
    cost = chain()
    seg = cost.segment(1, 2, 1)
    assert seg.valid and seg.replicable
    for r in (1, 2, 3, 4):
        assert cost.busy(seg, r, 1) == pytest.approx(0.305 / r)
    m = cost.evaluate((Stage(0, 0), Stage(1, 1, 3), Stage(2, 2)))
    # a x3: 0.1017 s each; b's 0.205 s sets the period. A frame takes as long as before.
    assert m.period_s == pytest.approx(0.205)
    assert m.bottleneck == "b"
    assert m.t_forward_s == pytest.approx(0.575)
    assert m.devices == 5
    # Busy energy is the same work; idle energy counts 5 devices.
    assert m.energy_j == pytest.approx(5 * 0.205 + 4 * 0.525)


def _split_problem(medium: str, frame: int = 200_000) -> CostModel:
    """camera -> a, split up to 3 ways (0.4, 0.25, 0.2 s per shard), its result is the output."""
    units = [_layer("a", (0.4, 0.25, 0.2), weights_mb=30.0, out=4000)]
    values = [Value("frame", 0, (1,), frame), Value("a", 1, (), 4000, is_output=True)]
    return CostModel(_problem(units, values, medium=medium))


def test_shards_broadcast_their_input_on_a_shared_medium() -> None:
    cost = _split_problem("shared")
    seg = cost.segment(1, 2, 3)
    assert seg.valid
    assert seg.run_s == pytest.approx(0.205)
    # Each shard keeps 1/3 of the weights and of the output: 10 MB + 10 MB + 4000/3 B.
    assert seg.memory_bytes == pytest.approx(20 * MB + 4000 / 3)
    assert cost.in_bytes(seg, 1, 3) == 600_000            # the 200 kB frame to each of 3 shards
    assert cost.in_bytes(seg, 2, 3) == 600_000            # 2 replicas take turns: still 3 copies a frame
    m = cost.evaluate((Stage(0, 0), Stage(1, 1, 1, 3)))
    # The medium carries 600 kB per frame: 0.6 s, more than any device's 0.205 s.
    assert m.network_s == pytest.approx(0.6)
    assert m.period_s == pytest.approx(0.6)
    assert m.bottleneck == "network"
    # The frame reaches the shards as one 600 kB transfer on the medium: 0.01 + 0.6 s.
    assert m.t_forward_s == pytest.approx(0.015 + 0.61 + 0.205)
    # Unsplit, the same frame costs the medium 0.2 s and a sets the period.
    m1 = cost.evaluate((Stage(0, 0), Stage(1, 1)))
    assert m1.network_s == pytest.approx(0.2)
    assert m1.period_s == pytest.approx(0.405) and m1.bottleneck == "a"


def test_shards_on_a_switched_network_share_the_bytes_per_nic() -> None:
    cost = _split_problem("switched")
    seg = cost.segment(1, 2, 3)
    # Each NIC receives the 200 kB frame: 0.2 s, below the shard's 0.205 s run.
    assert cost.busy(seg, 1, 3) == pytest.approx(0.205)
    m = cost.evaluate((Stage(0, 0), Stage(1, 1, 1, 3)))
    assert m.period_s == pytest.approx(0.205)
    assert m.t_forward_s == pytest.approx(0.015 + 0.21 + 0.205)
    assert m.network_s == pytest.approx(0.6 / 3)
    # A 1 MB frame: each shard's NIC needs 1 s per frame, whatever the shards.
    big = _split_problem("switched", frame=1_000_000)
    assert big.busy(big.segment(1, 2, 3), 1, 3) == pytest.approx(1.0)
    assert big.evaluate((Stage(0, 0), Stage(1, 1, 1, 3))).period_s == pytest.approx(1.0)


def _window_problem(window: int = 3) -> CostModel:
    """camera -> a -> b, b keeping the last ``window`` of a's 50 kB outputs (a window edge)."""
    units = [_layer("a", (0.1,), out=50_000), _layer("b", (0.6,), out=100, index=1)]
    values = [Value("frame", 0, (1,), 10_000), Value("a", 1, (2,), 50_000, window=window),
              Value("b", 2, (), 100, is_output=True)]
    return CostModel(_problem(units, values))


def test_windowed_input_into_replicas_sends_min_window_replicas_copies() -> None:
    cost = _window_problem(3)
    seg = cost.segment(2, 3, 1)
    assert seg.replicable
    for r, copies in ((1, 1), (2, 2), (3, 3), (4, 3), (6, 3)):
        assert cost.in_bytes(seg, r, 1) == 50_000 * copies
    # Shards multiply it: 2 shards x min(3, 2) replicas.
    assert cost.in_bytes(seg, 2, 2) == 50_000 * 4
    m = cost.evaluate((Stage(0, 0), Stage(1, 1), Stage(2, 2, 4)))
    # The medium: the 10 kB frame once, a's output 3 times: 160 kB = 0.16 s.
    assert m.network_s == pytest.approx(0.16)
    # b holds the window: 10 MB + 100 B of output + 3 x 50 kB.
    assert seg.memory_bytes == pytest.approx(10 * MB + 100 + 150_000)


def test_a_window_inside_a_stage_makes_it_unreplicable() -> None:
    cost = _window_problem(3)
    both = cost.segment(1, 3, 1)
    assert both.valid and not both.replicable
    assert cost.segment(1, 2, 1).replicable and cost.segment(2, 3, 1).replicable
    assert not cost.segment(0, 1, 1).replicable         # the recorder
    with pytest.raises(AssertionError, match="cannot be replicated"):
        cost.evaluate((Stage(0, 0), Stage(1, 2, 2)))
    # Without the window the two layers may be replicated together.
    assert _window_problem(1).segment(1, 3, 1).replicable


def _heavy_problem() -> CostModel:
    """camera -> a (50 MB) -> b (30 MB) -> c (40 MB), 1 MB activations, 100 MB per device."""
    units = [_layer("a", (0.1,), 50.0, out=1_000_000), _layer("b", (0.2,), 30.0, out=1_000_000, index=1),
             _layer("c", (0.3,), 40.0, out=1_000_000, index=2)]
    values = [Value("frame", 0, (1,), 1000), Value("a", 1, (2,), 1_000_000), Value("b", 2, (3,), 1_000_000),
              Value("c", 3, (), 1_000_000, is_output=True)]
    return CostModel(_problem(units, values, seconds_per_byte=1e-9))


def test_a_stage_that_does_not_fit_reloads_group_by_group() -> None:
    cost = _heavy_problem()
    fits = cost.segment(1, 3, 1)                     # a..b: 10 + 80 + 1 = 91 MB
    assert fits.valid and fits.reload_run_s == 0.0
    assert fits.memory_bytes == pytest.approx(91 * MB)
    seg = cost.segment(1, 4, 1)                      # a..c: 10 + 120 + 1 = 131 MB > 100 MB
    assert seg.valid
    # Groups: a+b (91 MB), then c (10 + 40 + 1 = 51 MB): 0.5 + 0.1 * 80 and 0.5 + 0.1 * 40 seconds of loading.
    assert seg.reload_run_s == pytest.approx(8.5 + 4.5)
    assert seg.memory_bytes == pytest.approx(91 * MB)
    assert seg.run_s == pytest.approx(0.6 + 0.005 + 13.0)
    assert seg.compute_s == pytest.approx(0.605 + 13.0)
    m = cost.evaluate((Stage(0, 0), Stage(1, 3)))
    assert m.reload_s == pytest.approx(13.0)
    assert m.period_s == pytest.approx(13.605)
    assert m.max_memory_bytes == pytest.approx(91 * MB)
    assert cost.evaluate((Stage(0, 0), Stage(1, 2), Stage(3, 3))).reload_s == 0.0


def test_a_unit_bigger_than_memory_is_invalid_unless_split() -> None:
    units = [_layer("big", (1.0, 0.6), 95.0, out=1000, kind="FULLY_CONNECTED")]
    values = [Value("frame", 0, (1,), 1000), Value("big", 1, (), 1000, is_output=True)]
    cost = CostModel(_problem(units, values))
    alone = cost.segment(1, 2, 1)                    # 10 + 95 + 0.001 MB
    assert not alone.valid
    assert "alone needs more than the memory" in alone.reason
    split = cost.segment(1, 2, 2)                    # 10 + 47.5 + 0.0005 MB
    assert split.valid and split.reload_run_s == 0.0
    assert split.memory_bytes == pytest.approx(57.5 * MB + 500)
    assert not cost.segment(1, 2, 3).valid           # it splits 2 ways at most
    assert not cost.segment(0, 2, 1).valid


def test_a_split_stage_repeats_only_weightless_units() -> None:
    units = [_layer("conv", (0.2,), 5.0, out=1000), _layer("pool", (0.01,), 0.0, out=500, kind="MAX_POOL_2D", index=1),
             _layer("fc", (0.4, 0.25), 20.0, out=100, kind="FULLY_CONNECTED", index=2)]
    values = [Value("frame", 0, (1,), 1000), Value("conv", 1, (2,), 1000), Value("pool", 2, (3,), 500),
              Value("fc", 3, (), 100, is_output=True)]
    cost = CostModel(_problem(units, values))
    pool_fc = cost.segment(2, 4, 2)
    assert pool_fc.valid
    # Each shard runs the pooling whole and half the fc: 0.01 + 0.25 + 0.005 s.
    assert pool_fc.run_s == pytest.approx(0.265)
    assert cost.in_bytes(pool_fc, 1, 2) == 2 * 1000
    heavy = cost.segment(1, 4, 2)
    assert not heavy.valid and "weightless" in heavy.reason
    assert cost.segment(1, 4, 1).valid               # unsplit, the same units are fine


def test_a_split_stage_passes_on_only_its_last_output() -> None:
    # pool's output is also read by d, after the split fc: the shards cannot hand it on.
    units = [_layer("pool", (0.01,), 0.0, out=500, kind="MAX_POOL_2D"),
             _layer("fc", (0.4, 0.25), 20.0, out=100, kind="FULLY_CONNECTED", index=1),
             _layer("d", (0.01,), 0.0, out=100, kind="CONCATENATION", index=2)]
    values = [Value("frame", 0, (1,), 1000), Value("pool", 1, (2, 3), 500), Value("fc", 2, (3,), 100),
              Value("d", 3, (), 100, is_output=True)]
    cost = CostModel(_problem(units, values))
    seg = cost.segment(1, 3, 2)
    assert not seg.valid and "last unit's output" in seg.reason
    assert cost.segment(2, 3, 2).valid
    assert cost.segment(1, 3, 1).valid


def test_the_recorder_runs_no_layers_unless_alone() -> None:
    step = Unit("flow", "flow", "step", (0.05,), 0, 2000, 1.0)
    units = [step, _layer("a", (0.1,), out=1000), _layer("b", (0.1,), out=100, index=1)]
    values = [Value("frame", 0, (1, 2), 1000, window=2), Value("flow", 1, (2,), 2000), Value("a", 2, (3,), 1000),
              Value("b", 3, (), 100, is_output=True)]
    cost = CostModel(_problem(units, values))
    assert cost.recorder_units == 2
    assert cost.segment(0, 1, 1).valid                # the camera alone
    assert cost.segment(0, 2, 1).valid                # camera and the built-in step
    seg = cost.segment(0, 3, 1)                       # camera, step and a, with b elsewhere
    assert not seg.valid and "recorder" in seg.reason
    assert cost.segment(0, 4, 1).valid                # everything on one device
    # The step may also run on the next device, with the layers.
    m = cost.evaluate((Stage(0, 0), Stage(1, 3)))
    assert m.devices == 2
    # The frame goes to a stage keeping a window of 2: replicated, it gets 2 copies.
    seg = cost.segment(1, 4, 1)
    assert seg.replicable
    assert cost.in_bytes(seg, 3, 1) == 2 * 1000


def _metrics(period: float, t_forward: float, devices: int) -> Metrics:
    return Metrics(1 / period, period, t_forward, 0.0, 0.0, 0.0, 0.0, 0.0, devices, "x")


def test_better_orders_by_period_then_latency_then_devices() -> None:
    a = _metrics(1.0, 5.0, 4)
    assert better(a, None)
    assert better(_metrics(0.9, 9.0, 9), a)                  # faster wins whatever else
    assert not better(_metrics(1.1, 1.0, 1), a)
    assert better(_metrics(1.0, 4.0, 9), a)                  # same period: lower t_forward
    assert not better(_metrics(1.0, 6.0, 1), a)
    assert better(_metrics(1.0, 5.0, 3), a)                  # same both: fewer devices
    assert not better(_metrics(1.0, 5.0, 5), a)
    assert not better(a, a)
    # Within EPS counts as equal.
    assert better(_metrics(1.0 * (1 + EPS / 2), 5.0, 3), a)
    assert better(_metrics(1.0, 5.0 * (1 + EPS / 10), 3), a)
    assert not better(_metrics(1.0 * (1 - EPS / 2), 5.0, 5), a)
