"""Agents on 127.0.0.1 against a fake master: the stream's results, tag by tag, are the stream reference's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from worker.agent import artifacts_of

from ._harness import Partitioned, async_play, camera_frames, check_results, run_async

SEED = 5
FRAMES = 24


@pytest.mark.parametrize("n, devices", [(1, 1), (3, 3), (6, 6), (7, 7), (7, 3)],
                         ids=["1-device", "3-devices", "6-devices-replicated", "7-devices-sharded",
                              "7-seats-on-3-devices"])
def test_results_equal_the_stream_reference(partitioned: Callable[[int], Partitioned], tmp_path: Path,
                                            n: int, devices: int) -> None:
    part = partitioned(n)
    names = [f"pi{i}" for i in range(devices)]
    played = run_async(async_play(part, names, tmp_path, frames=FRAMES, seed=SEED), timeout=60)
    layout = " | ".join(f"{s.name} x{s.replicas} /{s.shards}" for s in played.table.stages)
    if n == 7:
        assert any(s.shards > 1 for s in played.table.stages), layout
    if n == 6:
        assert played.table.stages[-1].replicas == 3, layout
        sinks = [name for name, c in played.counters.items() if c.results_sent]
        assert len(sinks) == 3, "each replica of the last stage sends the results of its own tags"

    # The recorder kept every frame SyntheticCamera(SEED) gave once it recorded, in order: the reference's
    # input. (The camera ran before, for the motion detector: tag 0 is not frame 0.)
    assert len(played.kept) == FRAMES
    numbers = [played.numbers[tag] for tag in range(FRAMES)]
    assert numbers == list(range(numbers[0], numbers[0] + FRAMES)), numbers
    camera = camera_frames(SEED, numbers[-1] + 1)
    for got, number in zip(played.kept, numbers):
        np.testing.assert_array_equal(got, camera[number])
    check_results(played)
    # The windows eat the first tags only (flow 2, temporal 4, pyramid 7: from tag 1 + 3 + 6).
    last = len(played.table.stages) - 1
    assert sorted(played.want) == list(range(played.table.first_complete_tag(last), FRAMES)) == list(range(10, FRAMES))

    # Nothing was refused, dropped or lost; every artifact came from the master once per device.
    for name, c in played.counters.items():
        assert not c.rejected and not c.dropped, (name, c)
        assert c.compute_errors == 0 and c.overflow_drops == 0 and c.frame_drops == 0, (name, c)
        assert not c.send_failures, (name, c)
    assert sum(c.results_sent for c in played.counters.values()) == len(played.want)
    needed = {sha for s in played.table.stages for sha in (*s.shard_sha256, *(t.sha256 for t in s.tasks)) if sha}
    assert set(played.requests) == needed
    by_device = {p.device: {sha for seat in played.table.seats_of(p.device)
                            for sha in artifacts_of(played.table, seat)} for p in played.table.devices}
    assert len(played.requests) == sum(len(v) for v in by_device.values())
    if devices == 1:
        assert sum(c.batches_sent for c in played.counters.values()) == 0
    else:
        assert sum(c.batches_sent for c in played.counters.values()) > 0
    if devices < len(played.table.seats):
        assert sum(c.local_feeds for c in played.counters.values()) > 0, "seats on one device feed each other"
    # Heartbeats reached the master, with this epoch.
    assert {h.device for h in played.heartbeats} >= {names[0]}
    assert all(h.epoch == 1 for h in played.heartbeats)
    print(f"\n{layout}: {len(played.want)} results for {FRAMES} frames in {played.seconds:.2f} s")

