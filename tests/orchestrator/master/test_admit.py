"""The master refuses results that do not belong: unknown epochs, tags out of the window, wrong shapes."""

from __future__ import annotations

import dataclasses

import numpy as np

from orchestrator.master import Results
from orchestrator.master._admit import OutputSpec
from orchestrator.master._state import ClusterState
from orchestrator.master._streams import EpochRun, Reassignment, Stream
from orchestrator.planner import Plan
from worker.wire import Peer, Result, StageSpec, TaskTable, Tensor

SPECS = {"out": OutputSpec("float32", (1, 4))}


def result(tag: int, epoch: int = 1, value: np.ndarray | None = None, shard: int = -1, name: str = "out") -> Result:
    array = np.full((1, 4), tag, np.float32) if value is None else value
    return Result(epoch=epoch, stream="cam", tag=tag, shard=shard, frame=tag, captured_ns=1,
                  tensors=(Tensor.from_array(name, array),), compute_ms=1.0, transfer_ms=1.0, queue_ms=0.0)


def state(shards: int = 1, max_held: int = 16) -> ClusterState:
    """One stream ``cam`` in epoch 1, a one-stage table whose every tag gives a result."""
    stage = StageSpec(0, "all", 1, shards, True, (), (), (), (), ("out",))
    table = TaskTable(1, "m", "cam", 30.0, (1, 2), Peer("master", "", 0), (Peer("cam", "", 0),), (stage,),
                      (), 8, 6)
    plan = Plan(1, "optimal", (), (), None)  # type: ignore[arg-type]  # the plan is not read here
    run = EpochRun(plan, table, Results(1, shards, max_held=max_held),
                   Reassignment(1, "cam", "test", "", "all", (), ("cam",), 0))
    cluster = ClusterState(output_specs=dict(SPECS))
    cluster.streams["cam"] = Stream("cam", active=True)
    cluster.streams["cam"].start(run)
    return cluster


def released(cluster: ClusterState, *results: Result, peer: str = "pi1") -> list[int]:
    return [i.tag for r in results for i in cluster.add_result(r, peer)]


def test_results_of_no_live_epoch_are_refused_and_counted() -> None:
    cluster = state()
    assert released(cluster, result(0, epoch=7), dataclasses.replace(result(0), stream="nobody")) == []
    assert cluster.result_drops.count("unknown-epoch", "pi1") == 2
    assert cluster.refused == {"cam": 1}   # the unknown stream's result is counted, not shown per stream
    assert released(cluster, result(0)) == [0]


def test_results_of_an_earlier_master_are_refused_as_such() -> None:
    cluster = state()
    cluster.first_epoch = 5   # this master started counting at 5 (its stream's epoch 1 is a test shortcut)
    assert released(cluster, result(0, epoch=4), result(1, epoch=9)) == []
    assert cluster.result_drops.count("earlier-master") == 1 and cluster.result_drops.count("unknown-epoch") == 1
    assert released(cluster, result(0)) == [0]


def test_a_flood_of_far_future_tags_is_refused_and_the_stream_goes_on() -> None:
    cluster = state(max_held=16)
    results = cluster.streams["cam"].runs[0].results
    assert released(cluster, result(0), result(1)) == [0, 1]
    assert released(cluster, *(result(10**6 + t) for t in range(1000))) == []
    assert cluster.result_drops.count("far-tag") == 1000 and results.held == 0, "never kept"
    assert released(cluster, *(result(t) for t in range(2, 40))) == list(range(2, 40)), "the stream goes on"
    assert results.duplicates == 0


def test_the_window_follows_the_recorder_and_old_tags_are_refused() -> None:
    cluster = state(max_held=16)
    run = cluster.streams["cam"].runs[0]
    assert released(cluster, result(16)) == [] and cluster.result_drops.count("far-tag") == 1
    run.add_frames(0, tuple(range(20)))   # the recorder got to tag 19: tag 16 can come
    assert released(cluster, result(16)) == [16]
    assert released(cluster, *(result(t) for t in range(17, 40))) == list(range(17, 40))
    assert released(cluster, result(3)) == [] and cluster.result_drops.count("old-tag") == 1
    assert released(cluster, result(39)) == [] and run.results.duplicates == 1, "a recent tag again: a duplicate"


def test_results_of_the_wrong_shape_dtype_or_name_are_refused() -> None:
    cluster = state()
    bad = [result(0, value=np.zeros((1, 5), np.float32)), result(0, value=np.zeros((4,), np.float32)),
           result(0, value=np.zeros((1, 4), np.int32)), result(0, name="other")]
    assert released(cluster, *bad) == []
    assert cluster.result_drops.count("bad-shape") == 4 and cluster.streams["cam"].runs[0].results.held == 0
    assert released(cluster, result(0)) == [0]


def test_shards_are_checked_and_pieces_that_never_complete_are_forgotten() -> None:
    cluster = state(shards=2, max_held=16)
    results = cluster.streams["cam"].runs[0].results
    assert released(cluster, result(0, shard=2, value=np.zeros((1, 2), np.float32))) == []
    assert cluster.result_drops.count("bad-shard") == 1
    assert released(cluster, result(0, shard=0, value=np.zeros((1, 5), np.float32))) == []
    assert cluster.result_drops.count("bad-shape") == 1
    half = np.zeros((1, 2), np.float32)
    for tag in range(40):   # shard 1 of every tag is lost: shard 0's pieces must not pile up
        cluster.add_result(result(tag, shard=0, value=half))
        cluster.streams["cam"].runs[0].add_frames(tag, (tag,))
    assert results.held <= 16
    assert released(cluster, result(39, shard=1, value=half)) == [39]
    assert results.held == 0, "pieces of tags behind the released one are dropped"


def test_shards_that_cannot_be_joined_lose_their_tag_only() -> None:
    cluster = state(shards=2)
    cluster.output_specs.clear()   # shapes not checked: the join itself fails
    assert released(cluster, result(0, shard=0, value=np.zeros((1, 2), np.float32))) == []
    assert released(cluster, result(0, shard=1, value=np.zeros((3, 2), np.float32))) == []
    assert cluster.result_drops.count("bad-shape") == 1
    half = np.zeros((1, 2), np.float32)
    assert released(cluster, result(1, shard=0, value=half), result(1, shard=1, value=half)) == [1]
