"""Helpers of the ray backend tests: clusters of either backend, waiting, checking streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from orchestrator.master import LocalCluster, Master
from orchestrator.profile import Profile
from orchestrator.ray_backend import RayCluster, RaySession
from orchestrator.toolchain.zoo import build_model, find_spec

from ..master._live import MODEL, NO_DETECTOR, PROFILE, check_stream, running, until  # noqa: F401 - re-exported


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
