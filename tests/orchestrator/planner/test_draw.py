"""Plan diagrams and charts: hand-built plans of every shape give valid PNGs of a stable size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from matplotlib.image import imread

from orchestrator.planner._cost import Metrics, Stage
from orchestrator.planner._draw import draw_ips, draw_plan, draw_plans, summary
from orchestrator.planner._draw_charts import ips_series
from orchestrator.planner._plan import Plan, PlanSet, StagePlan

StageSpec = tuple[str, tuple[str, ...], tuple[tuple[str, str, str], ...], int, int]


def _plan(n: int, specs: list[StageSpec], algorithm: str = "dp", bottleneck: str = "") -> Plan:
    """A plan from (name, units, tasks, replicas, shards) per stage, with made-up figures."""
    stages, details, first = [], [], 0
    for k, (name, units, tasks, replicas, shards) in enumerate(specs):
        stages.append(Stage(first, first + len(units) - 1, replicas, shards))
        first += len(units)
        details.append(StagePlan(name, units, tasks, replicas, shards, k == 0, busy_s=0.01 * (k + 1),
                                 run_s=0.02 * (k + 1), memory_bytes=50e6 + 1e6 * k,
                                 reload_s=0.5 if k == 1 else 0.0, in_bytes=1234.0 * (k + 1)))
    devices = sum(s.devices for s in stages)
    metrics = Metrics(ips=2.5 * devices, period_s=0.4 / devices, t_forward_s=0.8, reload_s=0.0, transfer_s=0.1,
                      network_s=0.05, max_memory_bytes=150e6, energy_j=1.7, devices=devices,
                      bottleneck=bottleneck or details[-1].name)
    return Plan(n, algorithm, tuple(stages), tuple(details), metrics)


def _layers(block: str, names: list[str], replicas: int = 1, shards: int = 1) -> StageSpec:
    """A stage of consecutive layers of one block."""
    name = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return (name, tuple(names), ((block, names[0], names[-1]),), replicas, shards)


SPATIAL = ["conv1s", "pool1s", "conv2s", "pool2s", "conv3s", "flatten_s", "fc1s"]
TEMPORAL = [n.replace("s", "t") for n in SPATIAL]
RECORDER: StageSpec = ("camera..optical_flow", ("camera", "optical_flow"),
                       (("recorder", "", ""), ("optical_flow", "", "")), 1, 1)


def one_stage() -> Plan:
    """The whole model on one device, the recorder."""
    units = ("camera", "optical_flow", *SPATIAL, *TEMPORAL, "pyramid", "dense1", "dense2", "dense3", "softmax")
    tasks = (("recorder", "", ""), ("optical_flow", "", ""), ("spatial", "conv1s", "fc1s"),
             ("temporal", "conv1t", "fc1t"), ("fusion", "pyramid", "softmax"))
    return _plan(1, [("camera..softmax", units, tasks, 1, 1)], bottleneck="camera..softmax")


def action_10() -> Plan:
    """The paper's Fig. 18c: recorder, spatial x2, temporal x2, dense1 /2, dense2 /2, dense3..softmax."""
    return _plan(10, [RECORDER, _layers("spatial", SPATIAL, replicas=2), _layers("temporal", TEMPORAL, replicas=2),
                      _layers("fusion", ["pyramid", "dense1"], shards=2), _layers("fusion", ["dense2"], shards=2),
                      _layers("fusion", ["dense3", "softmax"])], bottleneck="conv1s..fc1s")


def wide_64() -> Plan:
    """64 devices: a 40-replica stage, a 3 x 4 stage and long block names."""
    return _plan(64, [RECORDER, _layers("spatial_stream_with_a_very_long_block_name", SPATIAL, replicas=40),
                      _layers("temporal", TEMPORAL, replicas=3, shards=4),
                      _layers("fusion", ["pyramid", "dense1"], shards=8), _layers("fusion", ["dense2"], shards=2),
                      _layers("fusion", ["dense3", "softmax"])], bottleneck="network")


def chain_30() -> Plan:
    """30 stages of one layer each over several blocks."""
    specs: list[StageSpec] = [("camera", ("camera",), (("recorder", "", ""),), 1, 1)]
    specs += [_layers(f"block{k // 6}", [f"conv{k}"]) for k in range(1, 30)]
    return _plan(30, specs)


PLANS = {"one": one_stage, "action10": action_10, "wide64": wide_64, "chain30": chain_30}


def _png(path: Path, min_px: int = 200) -> tuple[int, int]:
    """Check ``path`` is a PNG of at least ``min_px`` each way; its height and width in pixels."""
    assert path.exists()
    assert path.read_bytes()[:4] == b"\x89PNG"
    image = imread(path)
    assert image.shape[0] >= min_px and image.shape[1] >= min_px
    return image.shape[0], image.shape[1]


@pytest.mark.parametrize("name", sorted(PLANS))
def test_draw_plan_is_a_stable_png(tmp_path: Path, name: str) -> None:
    plan = PLANS[name]()
    first = draw_plan(plan, tmp_path / "nested" / f"{name}.png", title=f"test {name}")
    assert first == tmp_path / "nested" / f"{name}.png"
    size = _png(first)
    assert _png(draw_plan(plan, str(tmp_path / f"{name}-again.png"), title=f"test {name}")) == size


def test_big_plans_stay_bounded(tmp_path: Path) -> None:
    """Tall columns are elided and long chains wrap: neither grows the image without bound."""
    wide = _png(draw_plan(wide_64(), tmp_path / "wide.png"))
    chain = _png(draw_plan(chain_30(), tmp_path / "chain.png"))
    assert wide[0] < 1400 and wide[1] < 2000
    assert chain[1] < 2000 and chain[0] > chain[1] / 3    # wrapped onto several rows


def test_draw_plans_stacks(tmp_path: Path) -> None:
    plans = [one_stage(), action_10(), wide_64()]
    height, _ = _png(draw_plans(plans, tmp_path / "stack.png", title="Action recognition"))
    single = max(_png(draw_plan(p, tmp_path / f"{k}.png"))[0] for k, p in enumerate(plans))
    assert height > single


def _planset(algorithm: str, plans: list[Plan | None]) -> PlanSet:
    return PlanSet("action-recognition", "rpi4", algorithm, len(plans), None, 3e9, tuple(plans),
                   tuple("no plan" if p is None else "" for p in plans))


def test_draw_ips_skips_missing_plans(tmp_path: Path) -> None:
    one, ten = one_stage(), action_10()
    plans: list[Plan | None] = [None, replace(one, n=2), None, replace(ten, n=4), replace(ten, n=5)]
    with_gaps = _planset("dp", plans)
    ns, ips, t_forward = ips_series(with_gaps)
    assert ns == [2, 4, 5]
    assert ips == [one.metrics.ips, ten.metrics.ips, ten.metrics.ips] and len(t_forward) == 3
    empty = _planset("greedy", [None, None])
    assert ips_series(empty) == ([], [], [])
    _png(draw_ips([with_gaps, empty], tmp_path / "charts" / "ips.png", title="IPS"))
    _png(draw_ips([empty], tmp_path / "empty.png"))


def test_summary_names_the_figures() -> None:
    text = summary(action_10())
    assert "10 devices" in text and "IPS" in text and "t_forward" in text and "J/inference" in text
