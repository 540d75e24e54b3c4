"""The ray backend runs the same plans as the agents: same results, tag by tag, as the agents backend
and the stream reference; an actor killed mid-stream re-plans the stream without it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import main as mchair
from orchestrator.cli.motion import async_send_motion
from orchestrator.cli.status import async_fetch_status
from orchestrator.master import Inference
from orchestrator.ray_backend import RayCluster, RaySession, actor_resources
from worker.agent import DROP_REASONS

from ._helpers import PROFILE, check_stream, cluster, running, until

RESULTS = 20


def layout(local_master: object) -> list[tuple[int, int]]:
    """(replicas, shards) per stage of the master's current table."""
    table = local_master.table  # type: ignore[attr-defined]
    return [(s.replicas, s.shards) for s in table.stages]


def by_frame(inferences: list[Inference]) -> dict[int, np.ndarray]:
    """Each result's output by the camera frame it was computed from."""
    return {i.frame: next(iter(i.outputs.values())) for i in inferences}


def test_ray_results_equal_agents_and_reference(tmp_path: Path, ray_session: RaySession) -> None:
    async def run(backend: str) -> tuple[dict[int, np.ndarray], list[tuple[int, int]], dict[str, object]]:
        async with cluster(backend, tmp_path / backend, 3, ray_session) as (local, master):
            camera = local.recorder
            master.motion(camera, True)
            await until(f"{backend}: {RESULTS} results", running(master, camera, RESULTS))
            shape = layout(master)
            counters = await local.async_counters() if isinstance(local, RayCluster) else {}
        check_stream(master, local, camera, RESULTS)
        return by_frame(master.streams[camera].inferences()), shape, counters

    agents, agents_layout, _ = asyncio.run(run("agents"))
    ray, ray_layout, counters = asyncio.run(run("ray"))
    assert ray_layout == agents_layout and len(agents_layout) == 2, "the same plan: camera | model x replicas"
    assert agents_layout[1][0] == 2, "the model stage has two replicas: batches cross devices"
    common = sorted(set(agents) & set(ray))
    assert len(common) >= RESULTS // 2, (sorted(agents)[:5], sorted(ray)[:5])
    for frame in common:   # same camera frame, same artifacts: the same bits
        np.testing.assert_array_equal(ray[frame], agents[frame], err_msg=f"frame {frame}")
    recorder, *others = counters.values()
    assert recorder.batches_sent >= RESULTS and not recorder.dropped  # type: ignore[attr-defined]
    assert sum(c.results_sent for c in others) >= RESULTS  # type: ignore[attr-defined]


def test_killed_actor_replans_without_it(tmp_path: Path, ray_session: RaySession) -> None:
    async def scenario() -> None:
        async with cluster("ray", tmp_path, 3, ray_session) as (local, master):
            camera = local.recorder
            await async_send_motion(master.cluster, camera, True)   # as `mchair motion` does
            await until("first results", running(master, camera, 8))
            status = await async_fetch_status(master.cluster)        # as `mchair status` does
            assert {d.device for d in status.devices if d.alive} == set(local.names)
            assert [s.camera for s in status.streams if s.active] == [camera]
            stream = master.streams[camera]
            before = stream.current
            assert before is not None and len(before.table.devices) == 3
            victim = before.table.devices[-1].device
            local.kill(victim)
            await until("a new epoch without the killed actor",
                        lambda: stream.current is not before and stream.current is not None)
            await until("results of the new epoch", running(master, camera, 8))
            after = stream.current
            assert after is not None and victim not in {p.device for p in after.table.devices}
            assert f"{victim} lost" in after.reassignment.reason, after.reassignment.reason
            assert "refuses connections" in after.reassignment.reason
            status = await async_fetch_status(master.cluster)
            assert {d.device for d in status.devices if not d.alive} == {victim}
        check_stream(master, local, camera, 16)
        assert len(master.streams[camera].runs) == 2

    asyncio.run(scenario())


def test_actor_resources_scale_down_to_fit() -> None:
    totals = {"CPU": 2.0, "memory": 8 * 2**30}
    small = actor_resources(PROFILE, 20, totals)
    assert small.num_cpus == 0.1 and small.memory == int(8 * 2**30 / 20)
    big = actor_resources(PROFILE, 2, {"CPU": 64.0, "memory": 2**40})
    assert big.num_cpus == PROFILE.device.cores and big.memory == int(PROFILE.device.usable_memory_mb * 2**20)
    assert actor_resources(PROFILE, 3, totals, cpus=1.5).num_cpus == 1
    assert "in-flight" in DROP_REASONS


def test_without_ray_the_backend_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cluster.yaml"
    config.write_text("secret_file: cluster.secret\n")
    monkeypatch.setitem(sys.modules, "ray", None)   # import ray fails as when it is not installed
    code = mchair(["master", "--backend", "ray", "--cluster", str(config), "--model", "alexnet-tiny",
                   "--devices", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install musical-chair[ray]" in err[0], err
