"""``mchair agent --print-systemd``: a unit with absolute paths and only the options given, that
``systemd-analyze verify`` accepts; a missing cluster file is one line and exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from worker.agent._main import main
from worker.agent._systemd import SHUTDOWN_EXIT, systemd_quote, systemd_unit

from ._harness import SECRET, one_line

ROOT = Path(__file__).resolve().parents[3]


def _cluster(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cluster.secret").write_bytes(SECRET)
    path = directory / "cluster.yaml"
    path.write_text("name: test\nsecret_file: cluster.secret\nmaster: {host: 127.0.0.1, port: 9}\n")
    return path


def _print_systemd(capsys: pytest.CaptureFixture[str], *options: str) -> str:
    assert main([*options, "--print-systemd"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _settings(unit: str) -> dict[str, str]:
    """Every ``Key=value`` line of the unit (the last one of a key wins, as in systemd)."""
    return dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))


def test_the_unit_has_absolute_paths_and_the_options_given(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(tmp_path / "etc")
    monkeypatch.chdir(tmp_path)   # a relative --cluster must come out absolute
    unit = _print_systemd(capsys, "--name", "pi1", "--cluster", "etc/cluster.yaml", "--camera", "picamera",
                          "--port", "7401", "--host", "10.0.0.11", "--log-level", "debug")
    for section in ("[Unit]", "[Service]", "[Install]"):
        assert section in unit.splitlines()
    s = _settings(unit)
    assert s["ExecStart"] == (f"{sys.executable} -m worker.agent --name pi1 --cluster {cluster} --camera picamera "
                              "--port 7401 --host 10.0.0.11 --log-level DEBUG")
    assert os.path.isabs(s["ExecStart"].split()[0])
    assert s["WorkingDirectory"] == str(tmp_path / "etc")
    assert s["Description"] == "musical-chair agent pi1"
    assert s["After"] == s["Wants"] == "network-online.target"
    assert (s["Type"], s["Restart"], s["RestartSec"]) == ("simple", "always", "2")
    assert s["RestartPreventExitStatus"] == str(SHUTDOWN_EXIT), "a Shutdown is the one exit not restarted"
    assert s["Environment"] == "PYTHONUNBUFFERED=1" and s["WantedBy"] == "multi-user.target"
    assert s["User"]


def test_options_left_at_their_defaults_are_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = _cluster(tmp_path)
    exec_start = _settings(_print_systemd(capsys, "--name", "pi2", "--cluster", str(cluster)))["ExecStart"]
    assert exec_start == f"{sys.executable} -m worker.agent --name pi2 --cluster {cluster} --log-level INFO"
    exec_start = _settings(_print_systemd(capsys, "--name", "pi2", "--cluster", str(cluster), "--no-advertise",
                                          "--seed", "3", "--camera", "none"))["ExecStart"]
    assert exec_start.endswith("--camera none --seed 3 --no-advertise --log-level INFO")


def test_words_are_quoted_for_systemd(tmp_path: Path) -> None:
    assert systemd_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert systemd_quote("a b") == '"a b"'
    assert systemd_quote("50%") == "50%%"          # a specifier otherwise
    assert systemd_quote("$HOME") == "$$HOME"       # an environment variable otherwise
    assert systemd_quote('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert systemd_quote(";") == '";"'              # a lone ; separates commands
    assert systemd_quote("") == '""'
    assert systemd_quote("a\nb") == '"a\\x0ab"'     # a raw newline would end the line
    cluster = _cluster(tmp_path / "my cluster")
    unit = systemd_unit("pi1", cluster, camera="file:clips/door 1.mp4", python="/opt/venv/bin/python", user="pi")
    s = _settings(unit)
    assert s["ExecStart"] == (f'/opt/venv/bin/python -m worker.agent --name pi1 --cluster "{cluster}" '
                              f'--camera "file:{Path.cwd() / "clips/door 1.mp4"}" --log-level INFO')
    assert s["WorkingDirectory"] == str(tmp_path / "my cluster") and s["User"] == "pi"


def test_a_missing_cluster_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["--name", "pi1", "--cluster", str(missing), "--print-systemd"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line(err, "missing.yaml")
    assert main(["--name", "bad name", "--cluster", str(_cluster(tmp_path)), "--print-systemd"]) == 2
    one_line(capsys.readouterr().err, "--name")
    (tmp_path / "cluster.secret").unlink()   # the unit would fail at every restart: refused now
    assert main(["--name", "pi1", "--cluster", str(tmp_path / "cluster.yaml"), "--print-systemd"]) == 2
    one_line(capsys.readouterr().err, "secret_file")
    with pytest.raises(Exception, match="missing.yaml"):
        systemd_unit("pi1", missing)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "orchestrator.cli", "agent", "--name", "pi1", "--cluster",
                             str(tmp_path / "nope.yaml"), "--print-systemd"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and result.stdout == ""
    one_line(result.stderr, "nope.yaml")


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    # --man=no: no man page look-ups for Documentation= (there is none, and a container has no man).
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt install systemd)")
    # A unit that cannot be wrong first: if even that fails, verify cannot run here (no systemd to ask).
    control = tmp_path / "control" / "mchair-control.service"
    control.parent.mkdir()
    control.write_text("[Unit]\nDescription=control\n\n[Service]\nExecStart=/bin/true\n")
    result = _verify(control)
    if result.returncode != 0:
        pytest.skip(f"systemd-analyze verify does not work here: {(result.stderr or result.stdout).strip()[:300]}")
    cluster = _cluster(tmp_path / "with space")
    unit = tmp_path / "mchair-agent.service"
    unit.write_text(_print_systemd(capsys, "--name", "pi1", "--cluster", str(cluster), "--camera", "none",
                                   "--port", "7401"))
    result = _verify(unit)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    # Warnings (an unknown key, a bad value) do not fail verify: the unit must give none.
    assert "mchair-agent" not in output, output
