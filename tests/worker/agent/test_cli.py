"""``python -m worker.agent`` / ``mchair agent``: bad options and config give one line and exit 2; a
running agent stops on a Shutdown from the master and on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from worker.agent import add_arguments, build_agent, main
from worker.agent._systemd import SHUTDOWN_EXIT
from worker.camera import ScriptedCamera
from worker.wire import Connection, Shutdown

from ._harness import SECRET, one_line, run_async

ROOT = Path(__file__).resolve().parents[3]


def _cluster(tmp_path: Path, secret: bytes = SECRET) -> Path:
    (tmp_path / "cluster.secret").write_bytes(secret)
    path = tmp_path / "cluster.yaml"
    path.write_text("name: test\nsecret_file: cluster.secret\nmaster: {host: 127.0.0.1, port: 9}\n"
                    f"agent: {{cache_dir: {tmp_path / 'cache'}, heartbeat_s: 0.2}}\n")
    return path


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--name", "pi1", "--cluster", str(tmp_path / "missing.yaml")]) == 2
    one_line(capsys.readouterr().err, "missing.yaml")
    cluster = _cluster(tmp_path, secret=b"short")
    assert main(["--name", "pi1", "--cluster", str(cluster)]) == 2
    one_line(capsys.readouterr().err, "secret_file", "at least 16")
    cluster = _cluster(tmp_path)
    assert main(["--name", "bad name", "--cluster", str(cluster)]) == 2
    one_line(capsys.readouterr().err, "--name")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--name", "pi1", "--cluster", str(cluster), "--host", "127.0.0.1", "--port", str(port),
                     "--no-advertise"]) == 2
    one_line(capsys.readouterr().err, f"127.0.0.1:{port}")


def test_bad_camera_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = _cluster(tmp_path)
    for spec in ("synthetic:3:walk5", "webcam", "synthetic:x"):
        assert main(["--name", "pi1", "--cluster", str(cluster), "--no-advertise", "--camera", spec]) == 2
        one_line(capsys.readouterr().err, repr(spec), "expected")


def test_camera_specs_and_motion_settings_reach_the_agent(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    with cluster.open("a") as f:
        f.write("motion: {fps: 5, enabled: false}\n")
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def camera(*options: str) -> object:
        agent = build_agent(parser.parse_args(["--name", "pi1", "--cluster", str(cluster), *options]))
        assert agent.motion.fps == 5.0 and agent.motion.enabled is False
        return agent.camera

    default, seeded = camera(), camera("--camera", "synthetic", "--seed", "4")
    scripted = camera("--camera", "synthetic:3:still30,move60", "--seed", "9")
    assert isinstance(default, ScriptedCamera) and default.name == "synthetic:0"
    assert isinstance(seeded, ScriptedCamera) and seeded.name == "synthetic:4"
    assert isinstance(scripted, ScriptedCamera) and scripted.name == "synthetic:3:still30,move60"
    assert camera("--camera", "none") is None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _start(tmp_path: Path, *command: str) -> tuple[subprocess.Popen[str], int]:
    """Start an agent process; returns it and its port (read from its log)."""
    proc = subprocess.Popen([sys.executable, *command, "--name", "pi1", "--cluster", str(_cluster(tmp_path)),
                             "--port", "0", "--host", "127.0.0.1", "--no-advertise", "--camera", "none"],
                            cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "listening on 127.0.0.1:" in line:
            return proc, int(line.rsplit(":", 1)[1])
    raise AssertionError(f"the agent did not start (exit {proc.wait()})")


def test_a_running_agent_stops_on_shutdown_and_on_sigterm(tmp_path: Path) -> None:
    proc, port = _start(tmp_path, "-m", "worker.agent")

    async def shutdown() -> None:
        conn = await Connection.async_open("127.0.0.1", port, secret=SECRET)
        await conn.async_send(Shutdown(reason="test over"))
        await conn.async_close()

    run_async(shutdown(), timeout=10)
    assert proc.wait(timeout=10) == SHUTDOWN_EXIT, "the exit status its systemd unit does not restart"
    assert "shutdown asked" in (proc.stderr.read() if proc.stderr else "")

    proc, _ = _start(tmp_path, "-m", "orchestrator.cli", "agent")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_mchair_agent_reports_a_bad_cluster_file(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "orchestrator.cli", "agent", "--name", "pi1", "--cluster",
                             str(tmp_path / "nope.yaml")], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    one_line(result.stderr, "nope.yaml")


def test_a_flood_of_connections_leaves_a_real_agent_serving(tmp_path: Path) -> None:
    # 300 idle connections against an agent allowed 256 open files: the per-host cap closes what is
    # over 64 at once, so the agent never runs out of files; one line says so, no traceback.
    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    proc = subprocess.Popen([sys.executable, "-m", "worker.agent", "--name", "pi1", "--cluster",
                             str(_cluster(tmp_path)), "--port", "0", "--host", "127.0.0.1", "--no-advertise",
                             "--camera", "none"], cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True,
                            preexec_fn=few_files)
    assert proc.stderr is not None
    port = next(int(line.rsplit(":", 1)[1]) for line in proc.stderr if "listening on 127.0.0.1:" in line)

    async def flood_then_shutdown() -> None:
        flood = [await asyncio.open_connection("127.0.0.1", port) for _ in range(300)]
        closed = await asyncio.gather(*(asyncio.wait_for(r.read(), 1) for r, _ in flood[64:]))
        assert closed == [b""] * (300 - 64), "the connections over the cap are closed at once"
        for _, writer in flood:
            writer.close()
        await asyncio.sleep(0.2)
        conn = await Connection.async_open("127.0.0.1", port, secret=SECRET)
        await conn.async_send(Shutdown(reason="flood over"))
        await conn.async_close()

    run_async(flood_then_shutdown(), timeout=20)
    assert proc.wait(timeout=10) == SHUTDOWN_EXIT
    log = proc.stderr.read()
    assert sum("too-many" in line for line in log.splitlines()) == 1, log
    assert "Traceback" not in log and "shutdown asked" in log, log
