"""``mchair status`` and the metrics endpoint against a running local cluster (real agents)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from orchestrator.cli.status import async_fetch_status, plain_view
from orchestrator.master import LocalCluster, Stream
from orchestrator.master._discovery import Device
from orchestrator.master._fleet import Member
from orchestrator.master._state import ClusterState
from orchestrator.master._status import cluster_status
from orchestrator.profile import find_profile
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.cluster import AgentSettings, ClusterConfig, CodecSettings
from worker.wire import Heartbeat, LinkBytes, LinkStatus, Peer, StageTime

from ._live import MODEL, NO_DETECTOR
from .test_chairs import start_stream

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_get(port: int, path: str) -> tuple[str, str]:
    """(status line, body) of a GET on 127.0.0.1."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    raw = (await reader.read()).decode()
    writer.close()
    head, _, body = raw.partition("\r\n\r\n")
    return head.splitlines()[0], body


async def mchair(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "orchestrator.cli", *args, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


def test_status_and_metrics_of_a_running_cluster(tmp_path: Path) -> None:
    build_model(find_spec(MODEL))
    port = free_port()

    async def scenario() -> None:
        local = LocalCluster(tmp_path, 3, seed=3, settings={**NO_DETECTOR, "metrics": {"port": port}})
        master, _ = await local.async_start_with_master(MODEL, find_profile("rpi3"))
        try:
            camera = local.recorder
            stream = await start_stream(master, camera)
            await asyncio.sleep(2.5)   # a heartbeat with stage times from every seat
            code, out, err = await mchair("status", "--json", "--cluster", str(local.config_path))
            assert code == 0, err
            status = json.loads(out)
            devices = {d["device"]: d for d in status["devices"]}
            assert set(devices) == set(local.names)
            seated = {p.device for p in stream.current.table.devices}  # type: ignore[union-attr]
            for name, d in devices.items():
                assert d["alive"] and 0 <= d["last_heartbeat_s"] < 3
                assert bool(d["seats"]) == (name in seated) and d["stream"] == (camera if name in seated else "")
            assert any(t["expected_ms"] > 0 and t["ms"] > 0 for d in devices.values() for t in d["stage_ms"])
            [s] = status["streams"]
            assert s["camera"] == camera and s["active"] and s["results"] > 0 and s["duplicates"] == 0
            assert set(s["devices"]) == seated

            text = plain_view(await async_fetch_status(master.cluster))
            assert all(name in text for name in local.names) and "conv1..softmax" in text

            line, body = await http_get(port, "/metrics")
            assert line.endswith("200 OK")
            families = {f.name: f for f in text_string_to_metric_families(body)}
            up = {s.labels["device"]: s.value for s in families["mchair_device_up"].samples}
            assert up == dict.fromkeys(local.names, 1.0)
            results = [s.value for s in families["mchair_stream_results"].samples if s.name.endswith("_total")]
            assert results and results[0] > 0
            assert (await http_get(port, "/nothing"))[0].endswith("404 Not Found")
        finally:
            await local.async_stop_with(master, "test over")

    asyncio.run(scenario())


def test_status_without_a_master_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cluster.secret").write_text("a" * 32)
    config = tmp_path / "cluster.yaml"
    config.write_text(f"secret_file: cluster.secret\nmaster: {{host: 127.0.0.1, port: {free_port()}}}\n")
    code, out, err = asyncio.run(mchair("status", "--cluster", str(config)))
    assert code == 2 and err.count("\n") == 1 and "cannot connect" in err, err


def test_status_is_a_function_of_the_state() -> None:
    state = ClusterState()
    for i, name in enumerate(("pi0", "pi1")):
        state.members[name] = Member(Device(Peer(name, "127.0.0.1", 7100 + i), name == "pi0"), True, time.monotonic())
    state.members["pi1"].alive = False
    state.heartbeats["pi0"] = Heartbeat(device="pi0", epoch=4, time_ns=0, queue_fill=0.25, ips=9.0, drops=2,
                                        stage_ms=(StageTime(stage="conv1..softmax", ms=12.0),),
                                        links=(LinkBytes(peer="pi1", codec="fp16", bytes=500, raw_bytes=1000),))
    state.scales, state.epoch = {"pi0": 1.5}, 4
    state.streams["pi0"] = Stream("pi0")
    state.output_errors["pi0"] = 0.01
    config = ClusterConfig(agent=AgentSettings(heartbeat_s=0.5), codecs=CodecSettings(error_budget=0.02))
    status = cluster_status(state, config, "alexnet-tiny", "rpi3")
    assert (status.model, status.profile, status.epoch, status.reassignments) == ("alexnet-tiny", "rpi3", 4, 0)
    pi0, pi1 = status.devices
    assert pi0.alive and pi0.camera and pi0.epoch == 4 and pi0.queue_fill == 0.25 and pi0.drops == 2
    assert pi0.slowdown == 1.5 and 0 <= pi0.last_heartbeat_s < 60
    # No epoch 4 is known: the plan's time is unknown (0).
    assert pi0.stage_ms == (StageTime(stage="conv1..softmax", ms=12.0, expected_ms=0.0),)
    assert pi0.links == (LinkStatus(peer="pi1", codec="fp16", bytes_per_s=1000.0, raw_bytes_per_s=2000.0),)
    assert not pi1.alive and pi1.slowdown == 1.0 and pi1.last_heartbeat_s == -1.0 and pi1.stage_ms == ()
    [stream] = status.streams
    assert stream.camera == "pi0" and not stream.active and stream.epoch == 0 and stream.devices == ()
    assert stream.output_error == 0.01 and stream.error_budget == 0.02 and stream.results == 0
