"""Random small planning problems, built straight from the dataclasses (no model files), and a
brute-force search over the whole plan space that shares no code with the planners' searches.

``random_problem(seed)`` is deterministic: the same seed gives the same Problem.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from orchestrator.planner._cost import EPS, CostModel, Metrics, Stage, better
from orchestrator.planner._problem import Problem, Unit, Value
from orchestrator.profile import (
    DeviceFacts,
    LinkModel,
    LoadModel,
    MemoryModel,
    Power,
    Profile,
)

MB = 1e6
SHARDABLE = ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")
WEIGHTLESS = ("MAX_POOL_2D", "RESHAPE", "CONCATENATION", "SOFTMAX")


def make_profile(*, medium: str = "shared", seconds_per_byte: float = 1e-8, latency_s: float = 0.002,
                 base_mb: float = 10.0, weights_factor: float = 1.0, activations_factor: float = 1.0,
                 load_base_s: float = 0.5, load_s_per_mb: float = 0.1, idle_w: float = 1.0, busy_w: float = 5.0,
                 task_overhead_s: float = 0.0, camera_s: float = 0.01, usable_memory_mb: float = 100.0) -> Profile:
    """A device profile with just what the cost model reads."""
    return Profile(
        name="random",
        device=DeviceFacts("random", "test cpu", 4, usable_memory_mb + 100.0, usable_memory_mb, "none"),
        power=Power(idle_w, busy_w),
        link=LinkModel(seconds_per_byte, latency_s, medium),
        memory=MemoryModel(base_mb, weights_factor, activations_factor),
        load=LoadModel(load_base_s, load_s_per_mb),
        ops={},
        task_overhead_s=task_overhead_s,
        camera_s=camera_s,
    )


def _shard_times(rng: random.Random, t1: float) -> tuple[float, ...]:
    """Times of one of k shards for k = 1..2 or 1..3: sometimes better than 1/k, sometimes worse."""
    times = [t1]
    for k in range(2, rng.choice((2, 3)) + 1):
        mode = rng.random()
        if mode < 0.3:
            factor = rng.uniform(0.5, 0.95)      # superlinear (memory bound layer)
        elif mode < 0.7:
            factor = rng.uniform(1.05, 1.8)      # worse than 1/k (per-shard overhead)
        elif mode < 0.85:
            factor = 1.0
        else:
            factor = rng.uniform(1.8, k * 1.2)   # sometimes slower than not splitting at all
        times.append(t1 / k * factor)
    return tuple(times)


def random_problem(seed: int) -> Problem:
    """A random small problem: a camera, maybe built-in steps, then 3-6 layers, with values between them."""
    rng = random.Random(seed)
    # Memory: a device holds base + weights_factor*W + activations_factor*A bytes.
    memory_mb = rng.choice((60.0, 100.0, 200.0))
    base_mb = rng.uniform(5.0, 20.0)
    weights_factor = rng.choice((1.0, 1.5, 2.0))
    activations_factor = rng.choice((1.0, 2.0))
    medium = rng.choice(("shared", "switched"))
    seconds_per_byte = rng.choice((1e-9, 1e-8, 1e-7, 1e-6))
    profile = make_profile(
        medium=medium, seconds_per_byte=seconds_per_byte, latency_s=rng.choice((0.0, 0.001, 0.005)),
        base_mb=base_mb, weights_factor=weights_factor, activations_factor=activations_factor,
        load_base_s=rng.uniform(0.05, 1.0), load_s_per_mb=rng.uniform(0.001, 0.05),
        idle_w=rng.uniform(0.5, 2.0), busy_w=rng.uniform(3.0, 7.0),
        task_overhead_s=rng.choice((0.0, 0.001, 0.01)), camera_s=rng.uniform(0.001, 0.05),
        usable_memory_mb=memory_mb)
    free_mb = (memory_mb - base_mb) / weights_factor    # weights that fit beside nothing else

    units: list[Unit] = [Unit("camera", "recorder", "camera", (profile.camera_s,))]
    frame_bytes = rng.choice((10_000, 100_000, 1_000_000))
    after_camera = rng.randint(3, 6)
    n_steps = min(rng.choice((0, 0, 1, 1, 2)), after_camera - 2)
    for s in range(n_steps):
        units.append(Unit(f"step{s}", f"step{s}", "step", (rng.uniform(0.001, 0.2),), 0,
                          rng.choice((10_000, 200_000)), 1.0))
    n_layers = after_camera - n_steps
    strided_from = rng.randint(1, n_layers) if rng.random() < 0.15 else n_layers + 1
    for li in range(n_layers):
        rate = 0.5 if li >= strided_from else 1.0
        if rng.random() < 0.6:
            kind = rng.choice(SHARDABLE)
            t1 = rng.uniform(0.01, 2.0)
            times = _shard_times(rng, t1) if rng.random() < 0.8 else (t1,)
            size = rng.random()
            if size < 0.12:
                weights = rng.uniform(1.05, 2.5) * free_mb * MB       # fits split only, if at all
            elif size < 0.5:
                weights = rng.uniform(0.35, 0.95) * free_mb * MB      # fits alone, groups reload
            else:
                weights = rng.uniform(0.0, 0.2) * free_mb * MB
        else:
            kind = rng.choice(WEIGHTLESS)
            times = (rng.uniform(0.001, 0.1),)
            weights = 0.0
        out = rng.choice((1_000, 10_000, 100_000, 1_000_000, 5_000_000))
        units.append(Unit(f"u{li}", "net", kind, times, int(weights), out, rate, li))
    m = len(units)

    # The chain: unit i writes one value read by unit i + 1; the camera's frame feeds the steps
    # (window 2, like the optical flow) and maybe the first layer too.
    consumers: list[set[int]] = [set() for _ in range(m)]
    windows = [1] * m
    for i in range(m - 1):
        consumers[i].add(i + 1)
    if n_steps:
        windows[0] = 2 if rng.random() < 0.7 else 1
        if rng.random() < 0.5:
            consumers[0].add(1 + n_steps)
    for i in range(1, m - 1):
        r = rng.random()
        if r < 0.2 and i + 2 < m:
            consumers[i].add(i + 2)                   # a skip connection
        elif r < 0.4 and i > n_steps:
            windows[i] = rng.randint(2, 5)            # a window edge between blocks
    values = []
    for i in range(m):
        nbytes = frame_bytes if i == 0 else units[i].output_bytes
        is_output = i == m - 1
        if 0 < i < m - 1 and not consumers[i] - {i + 1} and rng.random() < 0.05:
            is_output = True                          # an intermediate result of the model
        values.append(Value(units[i].name if i else "frame", i, tuple(sorted(consumers[i])), nbytes,
                            windows[i], units[i].rate, is_output))
    fps = rng.choice((30.0, 30.0, 30.0, 10.0, 2.0, 0.5))
    return Problem(f"random{seed}", profile, tuple(units), tuple(values), fps, memory_mb * MB)


def all_plans(cost: CostModel, n_max: int) -> Iterator[tuple[Stage, ...]]:
    """Every plan of the plan space on at most ``n_max`` devices.

    Every segmentation of the units, every shards k of each stage's last unit, every replicas
    r; a stage must be valid, replicated only when replicable; the recorder's stage (unit 0)
    has one replica and one shard.
    """
    m = cost.m
    units = cost.p.units
    for mask in range(1 << (m - 1)):
        cuts = [c for c in range(1, m) if mask >> (c - 1) & 1]
        bounds = list(zip([0, *cuts], [*cuts, m]))
        if len(bounds) > n_max:
            continue
        choices: list[list[Stage]] = []
        for index, (j, i) in enumerate(bounds):
            options = []
            for k in range(1, units[i - 1].max_shards + 1):
                seg = cost.segment(j, i, k)
                if not seg.valid:
                    continue
                for r in range(1, n_max + 1):
                    if index == 0 and (k > 1 or r > 1):
                        continue
                    if r > 1 and not seg.replicable:
                        continue
                    if r * k > n_max:
                        continue
                    options.append(Stage(j, i - 1, r, k))
            if not options:
                break
            choices.append(options)
        else:
            for stages in itertools.product(*choices):
                if sum(s.devices for s in stages) <= n_max:
                    yield stages


def evaluate_all(cost: CostModel, n_max: int) -> list[tuple[Metrics, tuple[Stage, ...]]]:
    """Every plan on at most ``n_max`` devices with its figures."""
    return [(cost.evaluate(stages), stages) for stages in all_plans(cost, n_max)]


def best_by_n(evaluated: list[tuple[Metrics, tuple[Stage, ...]]], n_max: int, latency_bound: float | None = None
              ) -> list[tuple[Metrics, tuple[Stage, ...]] | None]:
    """For each n = 1..n_max, the best of ``evaluated`` on at most n devices by ``better`` (None: no plan),
    among the plans whose t_forward meets ``latency_bound`` when one is given."""
    if latency_bound is not None:
        evaluated = [(m, s) for m, s in evaluated if m.t_forward_s <= latency_bound]
    result: list[tuple[Metrics, tuple[Stage, ...]] | None] = []
    for n in range(1, n_max + 1):
        best: tuple[Metrics, tuple[Stage, ...]] | None = None
        for metrics, stages in evaluated:
            if metrics.devices <= n and (best is None or better(metrics, best[0])):
                best = (metrics, stages)
        result.append(best)
    return result


def brute_force(cost: CostModel, n_max: int, latency_bound: float | None = None
                ) -> list[tuple[Metrics, tuple[Stage, ...]] | None]:
    """For each n = 1..n_max, the best plan's figures and stages over the whole plan space (None: no plan)."""
    return best_by_n(evaluate_all(cost, n_max), n_max, latency_bound)


def latency_bound_between(evaluated: list[tuple[Metrics, tuple[Stage, ...]]], rng: random.Random) -> float | None:
    """A latency bound halfway between two distinct t_forward of the plans (no plan sits on it)."""
    times = sorted({m.t_forward_s for m, _ in evaluated})
    distinct: list[float] = []
    for t in times:
        if not distinct or t > distinct[-1] * (1 + 1e3 * EPS):
            distinct.append(t)
    if len(distinct) < 2:
        return None
    i = rng.randrange(len(distinct) - 1)
    return (distinct[i] + distinct[i + 1]) / 2


__all__ = ["MB", "all_plans", "best_by_n", "brute_force", "evaluate_all", "latency_bound_between", "make_profile",
           "random_problem"]
