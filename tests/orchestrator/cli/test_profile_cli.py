"""`mchair profile ...` as a user runs it: a profile YAML the planner can read, one-line errors."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from orchestrator.profile import find_profile, load_profile, save_profile
from orchestrator.toolchain import open_model
from orchestrator.toolchain.analysis import layer_stats

ROOT = Path(__file__).resolve().parents[3]
QUICK = ("--repeat", "1", "--budget", "0")

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_profile_two_models_into_one_file(mchair: Run, tmp_path: Path) -> None:
    result = mchair("profile", "action-recognition-tiny", *QUICK, "--max-shards", "3", "--name", "testdev",
                    "--idle-w", "1.5")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "profiles" / "testdev.yaml"
    assert f"wrote {Path('profiles') / 'testdev.yaml'}" in result.stdout
    assert re.search(r"\[\d+/\d+\] spatial/conv1s", result.stderr)
    for header in ("layer", "op", "MACs", "time ms", "shards ms", "load ms", "memory MB", "median error"):
        assert header in result.stdout
    profile = load_profile(out)
    assert profile.name == profile.device.name == "testdev"
    assert profile.power.idle_w == 1.5 and profile.power.busy_w == 6.0
    assert "assumed" in profile.link.source
    timings = profile.models["action-recognition-tiny"]
    blocks = open_model("action-recognition-tiny").blocks
    for block in blocks:
        if block.graph is None:
            assert timings.steps[block.builtin] > 0 and profile.steps[block.builtin] > 0
            continue
        for stats in layer_stats(block.graph):
            lt = timings.layers[stats.name]
            assert lt.time_s > 0 and lt.load_s > 0
            assert sorted(lt.shards) == ([2, 3] if stats.shardable else [])
    assert {"CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "*"} <= set(profile.ops)
    assert all(m.samples > 0 and m.rel_error >= 0 and m.source for m in profile.ops.values())
    assert profile.memory.base_mb > 0 and profile.memory.weights_factor >= 1 and profile.load.s_per_mb >= 0
    assert 0 < profile.device.usable_memory_mb <= profile.device.memory_mb and profile.camera_s > 0

    # A second model into the same file: its timings are added, the first model's kept, all refitted.
    result = mchair("profile", "alexnet-tiny", *QUICK, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "kept the timings of action-recognition-tiny" in result.stdout
    both = load_profile(out)
    assert set(both.models) == {"action-recognition-tiny", "alexnet-tiny"}
    assert both.models["action-recognition-tiny"] == timings
    assert both.power == profile.power and both.name == "testdev"
    # alexnet's 5 convs, each whole and in 2, 3 and 4 shards (the default --max-shards)
    assert both.ops["CONV_2D"].samples == profile.ops["CONV_2D"].samples + 5 * 4


def test_profile_link_on_loopback_into_a_profile(mchair: Run, tmp_path: Path) -> None:
    target = save_profile(find_profile("rpi3"), tmp_path / "dev.yaml")
    result = mchair("profile", "link", "--rounds", "2", "--into", target)
    assert result.returncode == 0, result.stderr
    assert "link: t = a*bytes + b" in result.stdout and "8.4 MB" in result.stdout
    link = load_profile(target).link
    assert link.seconds_per_byte > 0 and link.latency_s > 0 and link.medium == "switched"
    assert "ping-pong" in link.source
    assert load_profile(target).ops == find_profile("rpi3").ops   # nothing else changed


def test_serve_for_another_machine(mchair: Run, env: dict[str, str], tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "profile", "link", "--serve", "--port", "0"],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        found = re.search(r"echo server on port (\d+); from another machine: mchair profile link \S+:(\d+)", line)
        assert found and found[1] == found[2], line
        result = mchair("profile", "link", f"127.0.0.1:{found[1]}", "--rounds", "1", "--medium", "shared")
        assert result.returncode == 0, result.stderr
        assert f"TCP ping-pong with 127.0.0.1:{found[1]}" in result.stdout and "medium shared" in result.stdout
    finally:
        server.terminate()
        server.wait(10)
        if server.stderr is not None:
            server.stderr.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_link_errors(user_error: Callable[..., str], mchair: Run) -> None:
    port = _free_port()
    user_error(mchair("profile", "link", f"127.0.0.1:{port}", "--rounds", "1"),
                      f"cannot reach 127.0.0.1:{port}", "Connection refused")
    user_error(mchair("profile", "link", "somehost:port"), "somehost:port", "expected HOST:PORT")
    user_error(mchair("profile", "link", "--into", "absent.yaml"), "absent.yaml", "cannot read")
    user_error(mchair("profile", "link", "--port", "9000"), "--port is for --serve")
    user_error(mchair("profile", "link", "--rounds", "0"), "--rounds 0")


def test_options_of_the_other_mode_are_refused(user_error: Callable[..., str], mchair: Run) -> None:
    user_error(mchair("profile", "link", "--repeat", "3"), "--repeat", "mchair profile MODEL")
    user_error(mchair("profile", "alexnet-tiny", "--medium", "shared"), "--medium", "mchair profile link")
    user_error(mchair("profile", "alexnet-tiny", "pi:7447"), "pi:7447", "one model")


def test_model_errors(user_error: Callable[..., str], mchair: Run, tmp_path: Path) -> None:
    user_error(mchair("profile", "no-such-model", *QUICK), "no-such-model", "not a built-in model")
    user_error(mchair("profile", "alexnet-tiny", "--repeat", "0"), "--repeat 0", "at least 1")
    (tmp_path / "broken.yaml").write_text("name: x\ndevice: {}\n")
    result = mchair("profile", "alexnet-tiny", *QUICK, "--out", "broken.yaml")
    user_error(result, "broken.yaml", "device.name", "missing")
    assert (tmp_path / "broken.yaml").read_text() == "name: x\ndevice: {}\n"   # not overwritten
    user_error(mchair("profile", "alexnet-tiny", *QUICK, "--link-from", "absent.yaml", "--out", "p.yaml"),
                      "absent.yaml", "cannot read")
