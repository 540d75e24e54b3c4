"""``mchair fleet shutdown``: a signed Shutdown to every listed agent, one line each; exit 2 when none answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from worker.agent import Agent
from worker.cluster import load_cluster

from .conftest import Run
from .test_motion_cli import closed_port, write_cluster


def static_cluster(directory: Path, ports: dict[str, int]) -> Path:
    """cluster.yaml (its secret kept, if written already) listing agents ``name -> port`` on 127.0.0.1."""
    path = directory / "cluster.yaml"
    if not path.exists():
        write_cluster(directory, closed_port())
    config = yaml.safe_load(path.read_text())
    config.update(discovery="static", devices=[{"name": n, "host": "127.0.0.1", "port": p} for n, p in ports.items()])
    path.write_text(yaml.safe_dump(config))
    return path


def test_fleet_shutdown_stops_each_listed_agent_and_names_the_silent_ones(tmp_path: Path, mchair: Run) -> None:
    async def scenario() -> None:
        secret = load_cluster(write_cluster(tmp_path, 0)).secret()
        async with Agent("pi1", secret, cache_dir=tmp_path / "cache") as agent:
            static_cluster(tmp_path, {"pi1": agent.port, "pi2": closed_port()})
            result = await asyncio.to_thread(mchair, "fleet", "shutdown", "--cluster", "cluster.yaml")
            assert result.returncode == 0, result.stderr
            lines = sorted(result.stdout.splitlines())
            assert lines[0] == f"pi1 at 127.0.0.1:{agent.port}: shutdown sent", lines
            assert lines[1].startswith("pi2 at 127.0.0.1:") and "cannot connect" in lines[1], lines
            await asyncio.wait_for(agent.async_wait(), 5)
            assert agent.shutdown_reason == "mchair fleet shutdown"

    asyncio.run(scenario())


def test_fleet_shutdown_with_no_agent_answering_is_exit_2(tmp_path: Path, mchair: Run,
                                                          user_error: Run) -> None:
    static_cluster(tmp_path, {"pi2": closed_port()})
    result = mchair("fleet", "shutdown", "--cluster", "cluster.yaml")
    assert "pi2 at 127.0.0.1:" in result.stdout and "cannot connect" in result.stdout
    user_error(result, "none of 1 agents answered", "discovery: static")
