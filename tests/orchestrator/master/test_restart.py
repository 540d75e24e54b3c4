"""Agents outlive masters (real agent processes): a master that stops leaves them running for the
next one, a killed master's successor gets results within seconds, `mchair fleet shutdown` ends them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orchestrator.cli.status import async_fetch_status
from orchestrator.master import LocalCluster, Master
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.agent import SHUTDOWN_EXIT
from worker.cluster import ClusterConfig, load_cluster
from worker.errors import UserError

from ._live import MODEL, NO_DETECTOR, PROFILE, RESULTS, check_stream, running, until
from .test_status import free_port, mchair

FIRST_RESULT_S = 5.0   # issue 16: a running stream delivers again within 5 s of the new master's start


def test_agents_outlive_a_stopped_master_serve_the_next_until_fleet_shutdown(tmp_path: Path) -> None:
    build_model(find_spec(MODEL))

    async def scenario() -> None:
        local = LocalCluster(tmp_path, 2, seed=3, settings=NO_DETECTOR)
        master, devices = await local.async_start_with_master(MODEL, PROFILE)
        try:
            await master.async_assign(devices, local.recorder)
            await until("the first master's results", running(master, local.recorder))
        finally:
            await master.async_stop("test: master stopping")   # no Shutdown unless asked
        await asyncio.sleep(1.0)
        assert {n: p.returncode for n, p in local.processes.items()} == dict.fromkeys(local.names), \
            "every agent still runs after its master stopped"
        # The next master (cluster.yaml's address) finds them and seats them: results again.
        second = Master(load_cluster(local.config_path), MODEL, PROFILE, local.work_dir, only=local.names)
        await second.async_start()
        try:
            second.motion(local.recorder, True, why="--record")
            await until("the second master's results", running(second, local.recorder))
            await asyncio.sleep(1.5)   # a heartbeat more: the recorder's frame numbers of the last tags
        finally:
            await second.async_stop("test: second master stopping")
        check_stream(second, local, local.recorder)
        assert min(r.epoch for r in second.reassignments) > max(r.epoch for r in master.reassignments)
        code, out, err = await mchair("fleet", "shutdown", "--cluster", str(local.config_path), "--wait", "2")
        assert code == 0, err
        assert sorted(line.split()[0] for line in out.splitlines() if line.endswith(": shutdown sent")) == local.names
        assert await local.async_stop() == [SHUTDOWN_EXIT] * 2, "each exited as asked, not restartable by systemd"
        code, out, err = await mchair("fleet", "shutdown", "--cluster", str(local.config_path), "--wait", "1")
        assert code == 2 and out == "" and err.count("\n") == 1 and "no agent found" in err, err

    asyncio.run(scenario())


async def _async_first_master(local: LocalCluster, cluster: ClusterConfig, log: Path) -> asyncio.subprocess.Process:
    """``mchair master`` streaming the recorder's camera, once its status shows results."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator.cli", "master", "--cluster", str(local.config_path), "--model", MODEL,
            "--devices", str(local.count), "--record", local.recorder, "--work-dir", str(local.work_dir / "master"),
            stdout=out, stderr=out)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        assert process.returncode is None, log.read_text()
        try:
            status = await async_fetch_status(cluster)
        except UserError:   # not listening yet
            status = None
        if status is not None and any(s.results >= RESULTS for s in status.streams):
            return process
        await asyncio.sleep(0.2)
    process.kill()
    raise AssertionError(f"the first master gave no results within 60 s: {log.read_text()[-2000:]}")


def test_a_killed_master_s_successor_gets_results_within_5_s(tmp_path: Path) -> None:
    build_model(find_spec(MODEL))

    async def scenario() -> None:
        local = LocalCluster(tmp_path, 3, seed=3, settings=NO_DETECTOR)
        cluster = local.write_config(free_port())
        await local.async_start()
        first = await _async_first_master(local, cluster, tmp_path / "master-1.log")
        first.kill()   # SIGKILL mid-stream: no goodbye, no Shutdown
        await first.wait()
        loop = asyncio.get_running_loop()
        master = Master(cluster, MODEL, PROFILE, local.work_dir / "master", only=local.names)
        await master.async_start()   # the same port: where the agents' tables and cluster.yaml point
        started = loop.time()
        try:
            master.motion(local.recorder, True, why="--record")
            stream = master.streams[local.recorder]
            await until("the new master's first result", lambda: any(r.results.inferences for r in stream.runs),
                        FIRST_RESULT_S + 5)
            first_result_s = loop.time() - started
            await until("results of the new master", running(master, local.recorder))
            await asyncio.sleep(1.5)   # a heartbeat more: the recorder's frame numbers of the last tags
            assert {n: p.returncode for n, p in local.processes.items()} == dict.fromkeys(local.names)
        finally:
            codes = await local.async_stop_with(master, "test over")
        print(f"first result {first_result_s:.2f} s after the new master started")
        assert first_result_s < FIRST_RESULT_S, first_result_s
        logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
        assert "stale-epoch" not in logs, "no agent refused the new master's Assign"
        check_stream(master, local, local.recorder)
        assert codes == [SHUTDOWN_EXIT] * 3

    asyncio.run(scenario())
