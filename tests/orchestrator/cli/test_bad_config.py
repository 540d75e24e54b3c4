"""Every malformed cluster.yaml and busy port: one line naming the file, the key and what was expected, exit 2.

The table runs through the CLI's entry point in this process (``mchair master``, ``agent`` and
``status`` each read the file); a few cases run ``mchair`` as a subprocess, as a user does.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.toolchain.zoo import build_model, find_spec

SECRET = b"0123456789abcdef0123456789abcdef\n"

# (case, content of cluster.yaml, words the error line must hold besides the file name)
CASES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("binary", bytes(range(128, 256)) * 8, ("expected UTF-8",)),
    ("control-bytes", b"\x00\x01\x02name: x\n", ("not valid YAML",)),
    ("bad-yaml", b"agent: {port: [\n", ("not valid YAML",)),
    ("nested-too-deeply", b"[" * 50_000, ("not valid YAML",)),
    ("not-a-mapping", b"- a\n- b\n", ("top level", "a mapping")),
    ("master-port-70000", b"master: {port: 70000}\n", ("master.port", "<= 65535", "70000")),
    ("agent-port-99999", b"agent: {port: 99999}\n", ("agent.port", "<= 65535", "99999")),
    ("metrics-port-negative", b"metrics: {port: -1}\n", ("metrics.port", ">= 0")),
    ("device-port-70000", b"discovery: static\ndevices: [{name: a, host: h, port: 70000}]\n",
     ("devices[0].port", "<= 65535")),
    ("max-frame-inf", b"agent: {max_frame_mb: .inf}\n", ("agent.max_frame_mb", "positive number", "inf")),
    ("max-frame-nan", b"agent: {max_frame_mb: .nan}\n", ("agent.max_frame_mb", "nan")),
    ("max-frame-negative", b"agent: {max_frame_mb: -1}\n", ("agent.max_frame_mb", "positive number")),
    ("max-frame-huge", b"agent: {max_frame_mb: 1.0e+12}\n", ("agent.max_frame_mb", "<= 4095")),
    ("heartbeat-nan", b"agent: {heartbeat_s: .nan}\n", ("agent.heartbeat_s", "nan")),
    ("heartbeat-inf", b"agent: {heartbeat_s: .inf}\n", ("agent.heartbeat_s", "inf")),
    ("heartbeat-negative", b"agent: {heartbeat_s: -1}\n", ("agent.heartbeat_s", "positive number")),
    ("huge-buffer", b"agent: {buffer: 1000000000000}\n", ("agent.buffer", "<= 4096")),
    ("huge-threads", b"agent: {threads: 1000000}\n", ("agent.threads", "<= 256")),
    ("null-agent", b"agent:\n", ("agent", "a mapping", "None")),
    ("null-game", b"game:\n", ("game", "a mapping")),
    ("null-port", b"master: {port: }\n", ("master.port", "None")),
    ("unknown-key", b"colour: red\n", ("colour", "unknown key")),
    ("unknown-nested-key", b"agent: {speed: 3}\n", ("agent.speed", "unknown key")),
    ("timeout-within-heartbeat", b"agent: {heartbeat_s: 5}\ngame: {heartbeat_timeout_s: 2}\n",
     ("game.heartbeat_timeout_s", "more than agent.heartbeat_s (5)")),
]

COMMANDS: dict[str, list[str]] = {
    "master": ["master", "--model", "alexnet-tiny", "--wait", "0", "--seconds", "0"],
    "agent": ["agent", "--name", "pi1", "--camera", "none", "--no-advertise"],
    "status": ["status"],
    "fleet": ["fleet", "shutdown", "--wait", "0.1"],
}


@pytest.fixture(scope="module", autouse=True)
def _built_model() -> None:
    """The master's model built first: its build progress on stderr is not part of the one-line error."""
    build_model(find_spec(COMMANDS["master"][2]))


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    # `mchair master` configures logging to the stderr it runs with; the next test has another.
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:], logging.root.level = handlers, level


def _cluster(tmp_path: Path, content: bytes) -> Path:
    (tmp_path / "cluster.secret").write_bytes(SECRET)
    path = tmp_path / "cluster.yaml"
    path.write_bytes(content)
    return path


def _one_line(capsys: pytest.CaptureFixture[str], code: int, *names: str) -> str:
    """Exit 2, nothing but one ``mchair: error:`` line on stderr, naming every one of ``names``."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mchair: error: "), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("content", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_cluster_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str,
                                              content: bytes, words: tuple[str, ...]) -> None:
    path = _cluster(tmp_path, content)
    argv = COMMANDS[command]
    _one_line(capsys, main([*argv, "--cluster", str(path)]), str(path), *words)


def _held_port() -> socket.socket:
    """A socket of this process listening on a free port of 127.0.0.1."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


def test_a_busy_metrics_port_names_the_port_and_who_holds_it(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with _held_port() as held:
        port = held.getsockname()[1]
        path = _cluster(tmp_path, f"master: {{host: 127.0.0.1, port: 0}}\nmetrics: {{port: {port}}}\n"
                        "discovery: static\ndevices: [{name: pi1, host: 127.0.0.1, port: 1}]\n".encode())
        code = main(["master", "--cluster", str(path), *COMMANDS["master"][1:]])
    line = _one_line(capsys, code, f"metrics: cannot listen on 127.0.0.1:{port}", "in use", f"pid {os.getpid()}")
    assert "python" in line


def test_a_busy_master_port_is_one_line_from_mchair(tmp_path: Path, mchair: Callable[..., object],
                                                   user_error: Callable[..., str]) -> None:
    with _held_port() as held:
        port = held.getsockname()[1]
        _cluster(tmp_path, f"master: {{host: 127.0.0.1, port: {port}}}\n".encode())
        result = mchair("master", "--cluster", "cluster.yaml", "--model", "alexnet-tiny", "--wait", "0")
    user_error(result, f"master: cannot listen on 127.0.0.1:{port}", "in use", f"pid {os.getpid()}")


def test_a_binary_file_is_one_line_from_mchair(tmp_path: Path, mchair: Callable[..., object],
                                              user_error: Callable[..., str]) -> None:
    _cluster(tmp_path, os.urandom(4096) + b"\xff")
    user_error(mchair("status", "--cluster", "cluster.yaml"), "cluster.yaml", "expected UTF-8")


def test_a_busy_agent_port_names_who_holds_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _held_port() as held:
        port = held.getsockname()[1]
        path = _cluster(tmp_path, f"interfaces: [127.0.0.1]\nagent: {{port: {port}}}\n".encode())
        code = main(["agent", "--cluster", str(path), *COMMANDS["agent"][1:]])
    _one_line(capsys, code, f"agent pi1: cannot listen on 127.0.0.1:{port}", "in use", f"pid {os.getpid()}")
