"""Helpers of the ray backend tests: clusters of either backend, waiting, checking streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from orchestrator.master import LocalCluster, Master, verify_runs
from orchestrator.profile import Profile, find_profile
from orchestrator.ray_backend import RayCluster, RaySession
from orchestrator.toolchain.zoo import build_model, find_spec

from ..master._waiting import until  # noqa: F401 - the tests take it from here

MODEL = "alexnet-tiny"          # no windows: a result depends on its frame alone
PROFILE = find_profile("rpi3")  # camera | model x replicas on several devices
NO_DETECTOR = {"motion": {"enabled": False}}


def running(master: Master, camera: str, results: int) -> Callable[[], bool]:
    """True once ``camera``'s current epoch has ``results`` results."""
    def check() -> bool:
        stream = master.streams.get(camera)
        return stream is not None and stream.current is not None and \
            len(stream.current.results.inferences) >= results
    return check


@asynccontextmanager
async def cluster(backend: str, work: Path, devices: int, session: RaySession | None = None, model: str = MODEL,
                  profile: Profile = PROFILE, master_options: dict[str, Any] | None = None,
                  **options: Any) -> AsyncIterator[tuple[LocalCluster, Master]]:
    """A cluster of ``backend`` (agents: processes; ray: actors of ``session``) and its master; stops both."""
    build_model(find_spec(model))
    local: LocalCluster
    if backend == "ray":
        assert session is not None
        local = RayCluster(work, devices, session, profile, seed=3, settings=NO_DETECTOR, **options)
    else:
        local = LocalCluster(work, devices, seed=3, settings=NO_DETECTOR, **options)
    master, _ = await local.async_start_with_master(model, profile, **(master_options or {}))
    try:
        yield local, master
        await asyncio.sleep(1.5)   # a heartbeat more: the recorders' frame numbers of the last tags
    finally:
        await local.async_stop_with(master, "test over")


def check_stream(master: Master, local: LocalCluster, camera: str, results: int, model: str = MODEL) -> None:
    """The stream's results equal the reference epoch by epoch, in capture order, none twice, losses counted."""
    stream = master.streams[camera]
    frames = [i.frame for i in stream.inferences()]
    assert frames == sorted(set(frames)), "results in capture order, none twice"
    assert stream.duplicates() == 0 and master.rejects.count() == 0
    for run in stream.runs:
        first = run.table.first_complete_tag(run.table.sink.index)
        missing = set(range(first, run.recorded)) - {i.tag for i in run.results.inferences}
        assert run.lost == len(missing), (run.epoch, run.lost, sorted(missing))
    verdict = verify_runs(find_spec(model), local.cameras[camera], stream.runs)
    assert verdict.ok and verdict.checked >= results, verdict
