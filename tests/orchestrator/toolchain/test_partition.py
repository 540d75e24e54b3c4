"""Partitioning is exact: chained tasks and merged shards equal the whole model (LiteRT)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.toolchain.analysis import cut_tensors, op_macs, shard_units
from orchestrator.toolchain.check import check_partition
from orchestrator.toolchain.partition import balanced_cuts, partition, resolve_cuts, resolve_shards
from orchestrator.toolchain.source import SourceBlock, blocks_of_file, blocks_of_model
from orchestrator.toolchain.spec import parse_spec
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.errors import UserError

CHAIN_MODELS = ("alexnet-tiny", "vgg16-tiny", "action-recognition-tiny")


def _check(blocks: list[SourceBlock], out: Path, cuts: dict[str, set[int]] | None = None,
           shards: dict[str, dict[int, int]] | None = None) -> None:
    manifest = partition(blocks, "m", out, cuts or {}, shards or {}, progress=False)
    for result in check_partition(manifest, out, samples=2, backend="litert"):
        assert result.ok, result
        assert result.max_rel <= 1e-5


def _layers(blocks: list[SourceBlock]) -> list[tuple[str, int]]:
    return [(b.name, li) for b in blocks if b.graph is not None for li in range(len(b.graph.layers))]


@pytest.mark.parametrize("name", CHAIN_MODELS)
def test_every_single_cut_is_exact(name: str, tmp_path: Path) -> None:
    blocks = blocks_of_model(build_model(find_spec(name), progress=False))
    graphs = {b.name: b.graph for b in blocks if b.graph is not None}
    checked = 0
    for block, li in _layers(blocks):
        if li == len(graphs[block].layers) - 1:
            continue
        out = tmp_path / f"{block}-{li}"
        _check(blocks, out, cuts={block: {li}})
        tasks = [t for t in (out / "manifest.json").read_text().split('"name": "') if t.startswith(f"{block}.")]
        assert tasks, "a cut inside a block must give it several tasks"
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("name", CHAIN_MODELS)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_every_conv_and_fc_shard_count_is_exact(name: str, k: int, tmp_path: Path) -> None:
    blocks = blocks_of_model(build_model(find_spec(name), progress=False))
    checked = 0
    for b in blocks:
        if b.graph is None:
            continue
        for li in range(len(b.graph.layers)):
            if shard_units(b.graph, li) >= k:
                _check(blocks, tmp_path / f"{b.name}-{li}", shards={b.name: {li: k}})
                checked += 1
    assert checked >= 4


def test_shards_cover_units_in_order(tmp_path: Path) -> None:
    blocks = blocks_of_model(build_model(find_spec("alexnet-tiny"), progress=False))
    manifest = partition(blocks, "alexnet-tiny", tmp_path, {}, resolve_shards(blocks, {"fc1": 3, "conv2": 4}),
                         progress=False)
    sharded = {t.layers[0]: t for t in manifest.tasks if t.shards}
    assert set(sharded) == {"fc1", "conv2"}
    for task, units in ((sharded["fc1"], 64), (sharded["conv2"], 32)):
        ranges = [(s.lo, s.hi) for s in task.shards]
        assert ranges[0][0] == 0 and ranges[-1][1] == units
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert len({s.artifact.sha256 for s in task.shards}) == len(task.shards)
        assert all((tmp_path / s.artifact.file).exists() for s in task.shards)


@pytest.mark.parametrize("spec_name", ["tiny-resnet", "tiny-mobilenet-float32", "tiny-mobilenet-float16", "two-head"])
def test_random_multi_cuts_of_generated_dags(spec_name: str, dag_specs: dict[str, Any], tmp_path: Path) -> None:
    blocks = blocks_of_model(build_model(parse_spec(dag_specs[spec_name]), progress=False))
    graph = blocks[0].graph
    assert graph is not None
    rng = random.Random(spec_name)
    n = len(graph.layers)
    for trial in range(6):
        cuts = set(rng.sample(range(n - 1), rng.randint(1, min(4, n - 1))))
        shards = {}
        shardable = [li for li in range(n) if shard_units(graph, li) >= 2]
        if trial % 2 and shardable:
            shards = {rng.choice(shardable): 2}
        _check(blocks, tmp_path / str(trial), cuts={"net": cuts}, shards={"net": shards})


def test_residual_cut_carries_every_crossing_tensor(dag_specs: dict[str, Any], tmp_path: Path) -> None:
    blocks = blocks_of_model(build_model(parse_spec(dag_specs["tiny-resnet"]), progress=False))
    graph = blocks[0].graph
    assert graph is not None
    inside = [layer.name for layer in graph.layers].index("r1a")  # the skip from `stem` is live here
    assert len(cut_tensors(graph, inside)) == 2
    manifest = partition(blocks, "r", tmp_path, {"net": {inside}}, {}, progress=False)
    assert {r.name for r in manifest.tasks[1].inputs} == {"stem", "r1a"}
    assert check_partition(manifest, tmp_path, backend="litert")[0].ok


@pytest.mark.parametrize("name", ["face_detection_short_range", "palm_detection_lite", "hand_landmark_lite"])
def test_random_multi_cuts_of_real_models(name: str, third_party: Callable[[str], Path], tmp_path: Path) -> None:
    blocks = blocks_of_file(third_party(name))
    graph = blocks[0].graph
    assert graph is not None and len(graph.outputs) >= 2
    rng = random.Random(name)
    n = len(graph.layers)
    crossing = max(len(cut_tensors(graph, li)) for li in range(n - 1))
    assert crossing >= 2, "a real detector has residual connections crossing some cut"
    for trial in range(4):
        cuts = set(rng.sample(range(n - 1), rng.randint(1, 6)))
        _check(blocks, tmp_path / str(trial), cuts={blocks[0].name: cuts})


def test_stages_balance_macs() -> None:
    blocks = blocks_of_model(build_model(find_spec("vgg16-tiny"), progress=False))
    graph = blocks[0].graph
    assert graph is not None
    costs = [sum(op_macs(graph, o) for o in layer.ops) for layer in graph.layers]

    def worst_stage(cuts: set[int]) -> int:
        bounds = [0] + [c + 1 for c in sorted(cuts)] + [len(costs)]
        return max(sum(costs[a:b]) for a, b in zip(bounds, bounds[1:]))

    for k in (1, 2, 3, 5):
        cuts = balanced_cuts(graph, k)
        assert len(cuts) == k - 1
    # Against every possible placement of one and of two cuts.
    n = len(costs)
    assert worst_stage(balanced_cuts(graph, 2)) == min(worst_stage({a}) for a in range(n - 1))
    assert worst_stage(balanced_cuts(graph, 3)) == min(
        worst_stage({a, b}) for a in range(n - 1) for b in range(a + 1, n - 1))
    assert balanced_cuts(graph, 100) == set(range(len(graph.layers) - 1))


def test_bad_cuts_and_shards_name_the_problem() -> None:
    blocks = blocks_of_model(build_model(find_spec("alexnet-tiny"), progress=False))
    with pytest.raises(UserError, match="no layer of that name"):
        resolve_cuts(blocks, ["nope"])
    with pytest.raises(UserError, match="1..12"):
        resolve_cuts(blocks, ["13"])
    with pytest.raises(UserError, match="MAX_POOL_2D cannot be sharded"):
        resolve_shards(blocks, {"pool1": 2})
    with pytest.raises(UserError, match=r"expected 2\.\.10 shards"):
        resolve_shards(blocks, {"fc3": 11})


def test_cut_sizes_never_count_dequantized_weights(third_party: Callable[[str], Path]) -> None:
    graph = blocks_of_file(third_party("palm_detection_lite"))[0].graph
    assert graph is not None
    for li in range(len(graph.layers) - 1):
        for t in cut_tensors(graph, li):
            producer = graph.producer.get(t)
            assert producer is None or producer not in graph.constant_ops, (graph.layers[li].name, t)
