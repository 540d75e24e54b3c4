"""Results across epochs: tag order inside an epoch, capture order across them, closing, lost and late."""

from __future__ import annotations

import numpy as np

from orchestrator.master import Results
from orchestrator.master._streams import EpochRun, Reassignment, Stream
from orchestrator.planner import Plan
from worker.wire import Peer, Result, StageSpec, TaskTable, Tensor


def result(epoch: int, tag: int, frame: int, shard: int = -1) -> Result:
    return Result(epoch=epoch, stream="cam", tag=tag, shard=shard, frame=frame, captured_ns=1,
                  tensors=(Tensor.from_array("out", np.full(2, tag, np.float32)),),
                  compute_ms=1.0, transfer_ms=1.0, queue_ms=0.0)


def run(epoch: int) -> EpochRun:
    """An epoch of a one-stage table (no windows: every tag can give a result)."""
    stage = StageSpec(0, "all", 1, 1, True, (), (), (), (), ("out",))
    table = TaskTable(epoch, "m", "cam", 30.0, (1, 2), Peer("master", "", 0), (Peer("cam", "", 0),), (stage,),
                      (), 8, 6)
    plan = Plan(1, "optimal", (), (), None)  # type: ignore[arg-type]  # the plan is not read here
    return EpochRun(plan, table, Results(epoch), Reassignment(epoch, "cam", "test", "", "all", (), ("cam",), 0))


def test_results_wait_for_a_missing_tag_then_skip_it() -> None:
    r = Results(1, max_held=3)
    assert [i.tag for i in r.add(result(1, 0, 0))] == [0]
    for tag in (2, 3, 4):
        assert r.add(result(1, tag, tag)) == []   # tag 1 is missing
    assert [i.tag for i in r.add(result(1, 5, 5))] == [2, 3, 4, 5], "over max_held: tag 1 is given up"
    assert r.add(result(1, 1, 1)) == [] and r.duplicates == 1, "too late for its place: never out of order"


def test_close_releases_what_is_held_and_counts_later_results_as_late() -> None:
    r = Results(1)
    r.add(result(1, 0, 0))
    r.add(result(1, 2, 2))
    assert [i.tag for i in r.close()] == [2]
    assert r.add(result(1, 3, 3)) == [] and r.late == 1
    assert [i.tag for i in r.inferences] == [0, 2]


def test_shards_are_joined_before_release() -> None:
    r = Results(1, shards=2)
    assert r.add(result(1, 0, 0, shard=1)) == []
    [joined] = r.add(result(1, 0, 0, shard=0))
    assert joined.outputs["out"].shape == (4,) and joined.epoch == 1 and joined.stream == "cam"


def test_a_stream_passes_results_on_in_capture_order_across_epochs() -> None:
    stream = Stream("cam", active=True)
    first, second = run(1), run(2)
    stream.start(first)
    delivered = [i.frame for i in stream.add(1, first.results.add(result(1, 0, 10)))]
    first.results.add(result(1, 2, 12))                    # held: tag 1 has not come
    stream.start(second)
    delivered += [i.frame for i in stream.add(1, first.results.add(result(1, 3, 13)))]   # old epoch still open
    # The new epoch's first result closes the old one: what it held comes first.
    delivered += [i.frame for i in stream.add(2, second.results.add(result(2, 0, 20)))]
    assert delivered == [10, 12, 13, 20]
    assert stream.add(1, first.results.add(result(1, 1, 11))) == [] and first.results.late == 1
    assert second.reassignment.first_result_ns is not None
    second.add_frames(0, (20, 21, 22))
    first.add_frames(0, (10, 11, 12, 13, 14))
    assert first.lost == 2 and second.lost == 2, "tags 1 and 4, and 1 and 2, never gave a result"
    assert stream.lost() == 4 and stream.duplicates() == 0
    assert [i.frame for i in stream.inferences()] == [10, 12, 13, 20]


def test_release_closes_every_epoch() -> None:
    stream = Stream("cam", active=True)
    only = run(1)
    stream.start(only)
    only.results.add(result(1, 0, 0))
    only.results.add(result(1, 2, 2))
    assert [i.tag for i in stream.release()] == [2] and stream.current is None
