"""End to end: agent processes on 127.0.0.1 found with zeroconf, a master that plans, partitions, binds
and assigns over TCP, results compared with the single-process stream reference tag by tag."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from orchestrator.master import LocalCluster, Master, verify
from orchestrator.profile import OpModel, Profile, find_profile
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.agent import SHUTDOWN_EXIT
from worker.wire import TaskTable

RESULTS = 20          # results to wait for
TIMEOUT_S = 90.0


def crafted(conv: OpModel, fc: OpModel) -> Profile:
    """rpi3 with other conv and fc behaviour: steers the planner to the layouts a test needs."""
    rpi3 = find_profile("rpi3")
    return dataclasses.replace(rpi3, name="crafted", ops={**rpi3.ops, "CONV_2D": conv, "FULLY_CONNECTED": fc})


FAST_CONV = OpModel("CONV_2D", 0.0005, 0.0001, source="test")
PROFILES = {
    "rpi3": find_profile("rpi3"),
    "pipeline": find_profile("rpi3"),
    # fc layers slow and worse than linear in their weights: split them.
    "fc-split": crafted(FAST_CONV, OpModel("FULLY_CONNECTED", 0.0, s_per_mb=0.05, s_per_mb2=100.0, source="test")),
    # fc layers slow and linear: replicate the fusion block.
    "replicas": crafted(FAST_CONV, OpModel("FULLY_CONNECTED", 0.0, s_per_mb=0.5, source="test")),
    # conv layers worse than linear in their weights: split the biggest one.
    "conv-split": crafted(OpModel("CONV_2D", 0.0, s_per_mmac=0.001, s_per_mb2=1000.0, source="test"),
                          OpModel("FULLY_CONNECTED", 0.0, s_per_mb=0.001, source="test")),
}


async def run_cluster(model: str, profile: Profile, devices: int, work: Path) -> tuple[TaskTable, Master, list[int]]:
    local = LocalCluster(work, devices, seed=3)
    master, found = await local.async_start_with_master(model, profile)
    try:
        assert len(found) == devices
        table = await master.async_assign(found, local.recorder)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while len(master.results.inferences) < RESULTS and loop.time() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)   # a heartbeat more: the recorder's frame numbers of the last tags
    finally:
        codes = await local.async_stop_with(master, "test over")
    return table, master, codes


@pytest.mark.parametrize(("devices", "model", "profile", "expect"), [
    (1, "action-recognition-tiny", "rpi3", "one device: every window inside the recorder"),
    (3, "action-recognition-tiny", "pipeline", "a pipeline: windows across devices"),
    (6, "action-recognition-tiny", "replicas", "a replicated stage with windowed inputs"),
    (6, "action-recognition-tiny", "fc-split", "an fc layer split in shards, glue repeated on each"),
    (6, "alexnet-tiny", "conv-split", "a conv layer split in shards, a replicated stage before it"),
])
def test_local_cluster_equals_the_reference(devices: int, model: str, profile: str, expect: str,
                                            tmp_path: Path) -> None:
    build_model(find_spec(model))
    table, master, codes = asyncio.run(run_cluster(model, PROFILES[profile], devices, tmp_path))
    stages = table.stages
    if devices == 1:
        assert len(stages) == 1
    elif profile == "pipeline":
        assert len(stages) == 3 and all(s.replicas == s.shards == 1 for s in stages)
    elif profile == "replicas":
        assert any(s.replicas > 1 and any(i.window > 1 for i in s.inputs) for s in stages), expect
    elif profile == "fc-split":
        assert any(s.shards > 1 and s.tasks[-1].name.startswith("fusion") for s in stages), expect
    else:
        assert any(s.shards > 1 for s in stages) and any(s.replicas > 1 for s in stages), expect
    results = master.results
    assert len(results.inferences) >= RESULTS, f"{len(results.inferences)} results"
    tags = [i.tag for i in results.inferences]
    assert tags == list(range(tags[0], tags[0] + len(tags))), "results in tag order, none missing"
    assert results.duplicates == 0 and master.rejects.count() == 0 and master.state.result_drops.count() == 0
    verdict = verify(find_spec(model), 3, master.frames, results.inferences)
    assert verdict.ok and verdict.checked >= RESULTS - 2, verdict
    assert codes == [SHUTDOWN_EXIT] * devices, "every agent stopped cleanly on Shutdown"
