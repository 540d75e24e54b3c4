"""Discovery: the master finds the agents of its own cluster only (several clusters may share a LAN)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from orchestrator.master import async_find_devices
from worker.agent import Agent
from worker.cluster import ClusterConfig

SECRET = b"discovery-test-secret-0123456789"


@pytest.mark.timeout(40)
def test_agents_of_another_cluster_are_ignored(tmp_path: Path) -> None:
    mine, theirs = f"home-{os.getpid()}", f"other-{os.getpid()}"

    async def scenario() -> list[str]:
        agents = [Agent(name, SECRET, cache_dir=tmp_path, advertise=True, interfaces=["127.0.0.1"], cluster=cluster)
                  for name, cluster in ((mine, "home"), (theirs, "next-door"))]
        for agent in agents:
            await agent.async_start()
        try:
            config = ClusterConfig(name="home", interfaces=("127.0.0.1",))
            found = await async_find_devices(config, 2, 6.0, only={mine, theirs})
            return [d.name for d in found]
        finally:
            for agent in agents:
                await agent.async_stop()

    assert asyncio.run(scenario()) == [mine]
