"""`mchair plan` and `mchair bench planner` as a user runs them, and plans the partitioner can cut."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from orchestrator.master import partition_plan
from orchestrator.planner import plan_model
from orchestrator.profile import LinkModel, Profile, find_profile, save_profile
from orchestrator.toolchain import check_partition, open_model

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_plan_table_has_a_row_per_n(mchair: Run) -> None:
    result = mchair("plan", "action-recognition-tiny", "--profile", "rpi3", "--devices", "5")
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines() if line[:2].strip().isdigit()]
    assert rows[:5] == ["1", "2", "3", "4", "5"]
    assert "[rec]" in result.stdout and "stages for n = 5" in result.stdout


def test_plan_json_is_what_the_runtime_needs(mchair: Run) -> None:
    result = mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "4", "--json", "--algorithm", "paper")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["algorithm"] == "paper" and len(data["plans"]) == 4
    for n, plan in enumerate(data["plans"], 1):
        assert plan["metrics"]["devices"] <= n
        assert sum(s["devices"] for s in plan["stages"]) == plan["metrics"]["devices"]
        assert plan["stages"][0]["recorder"] and plan["stages"][0]["units"][0] == "camera"
        assert all(t["block"] == "classifier" for s in plan["stages"][1:] for t in s["tasks"])


def test_plan_shows_the_ips_bound_and_the_gap(mchair: Run) -> None:
    table = mchair("plan", "action-recognition-tiny", "--profile", "rpi3", "--devices", "40")
    assert table.returncode == 0, table.stderr
    assert "IPS bound" in table.stdout and " gap " in table.stdout
    plans = json.loads(mchair("plan", "action-recognition-tiny", "--profile", "rpi3", "--devices", "40",
                              "--json").stdout)["plans"]
    for plan in plans:
        assert plan["bound_ips"] >= plan["metrics"]["ips"] * (1 - 1e-9)
        assert 0.0 <= plan["gap"] < 1.0
    paper = json.loads(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "2", "--json",
                              "--algorithm", "paper").stdout)["plans"]
    assert all(p["bound_ips"] is None and p["gap"] == 1.0 for p in paper)     # Algorithm 1 proves nothing


def test_plan_png_draws_the_plan_and_the_ips_curve(mchair: Run, tmp_path: Path) -> None:
    result = mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "3", "--png", "plan.png")
    assert result.returncode == 0, result.stderr
    for name in ("plan.png", "plan-ips.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_with_a_profile_file(mchair: Run, tmp_path: Path, fc_bound_profile: Profile) -> None:
    save_profile(fc_bound_profile, tmp_path / "fcbound.yaml")
    result = mchair("plan", "action-recognition-tiny", "--profile", "fcbound.yaml", "--devices", "8", "--json")
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)["plans"]
    assert any(plan["shards"] for plan in plans), "fast convs and slow fc layers: some plan splits a dense layer"


def test_plans_cut_into_artifacts_that_chain_exactly(tmp_path: Path, fc_bound_profile: Profile) -> None:
    """A plan's cuts and shards, given to the partitioner, give tasks equal to the whole model."""
    model = open_model("action-recognition-tiny")
    plans = plan_model(model, fc_bound_profile, 8)
    split = [p for p in plans.plans if p is not None and p.partition_args()[1]]
    assert split, "expected plans with split layers"
    for plan in split[-2:]:
        out = tmp_path / f"n{plan.n}"
        manifest = partition_plan(plan, model, out)
        stage_layers = [u for d in plan.details for u in d.units if u not in ("camera", "optical_flow")]
        assert [name for t in manifest.tasks for name in t.layers] == stage_layers
        assert all(r.ok for r in check_partition(manifest, out, samples=2))


def test_plan_bad_input_is_one_line(mchair: Run, user_error: Callable[..., str], tmp_path: Path) -> None:
    user_error(mchair("plan", "alexnet-tiny", "--profile", "nosuch", "--devices", "3"), "nosuch", "shipped: rpi3")
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "0"), "--devices 0")
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "2", "--memory", "-5"), "--memory")
    user_error(mchair("plan", "nosuch-model", "--profile", "rpi3", "--devices", "2"), "nosuch-model")
    (tmp_path / "broken.yaml").write_text("name: broken\ndevice: {name: x}\n")
    user_error(mchair("plan", "alexnet-tiny", "--profile", "broken.yaml", "--devices", "2"), "broken.yaml",
               "device.cpu")


def test_plan_says_which_layer_a_profile_lacks(mchair: Run, user_error: Callable[..., str],
                                               tmp_path: Path) -> None:
    rpi3 = find_profile("rpi3")
    ops = {k: v for k, v in rpi3.ops.items() if k not in ("CONV_2D", "*")}
    save_profile(dataclasses.replace(rpi3, name="noconv", ops=ops), tmp_path / "noconv.yaml")
    line = user_error(mchair("plan", "alexnet-tiny", "--profile", "noconv.yaml", "--devices", "2"),
                      "noconv", "conv1", "CONV_2D", "mchair profile alexnet-tiny")
    assert "no timing" in line


def test_plan_says_when_the_model_is_bigger_than_every_device(mchair: Run, user_error: Callable[..., str]) -> None:
    # The rpi3 agent itself takes 100 MB: 10 KB more hold no conv2, even split 8 ways.
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "3", "--memory", "100.01"),
               "layer conv2 needs more than the 100 MB a device has even split 8 ways")
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "3", "--memory", "99"),
               "99 MB do not even hold the agent (100 MB")


def test_plan_says_when_no_plan_meets_the_latency_bound(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "3", "--latency-bound", "0.001"),
               "latency bound of 0.001 s")
    result = mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "3", "--latency-bound", "10")
    assert result.returncode == 0, result.stderr


def test_bench_planner_prints_times_and_ratios(mchair: Run) -> None:
    result = mchair("bench", "planner", "--devices", "6", "--models", "alexnet-tiny,action-recognition-tiny",
                    "--repeat", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "optimal, slowest model:" in out and "target < 1 s per model" in out and "worst gap" in out
    assert "lowest ratio:" in out
    ratio = float(out.rsplit("lowest ratio:", 1)[1].split()[0])
    assert ratio >= 1.0 - 1e-9
    assert "[2/2] action-recognition-tiny" in result.stderr


def test_plan_with_codecs_on_a_slow_link_shows_each_stage_codec_and_the_error(mchair: Run, tmp_path: Path) -> None:
    slow = dataclasses.replace(find_profile("rpi3"), name="rpi3-slow", codecs=find_profile("xeon-2core").codecs,
                               link=LinkModel(8 / 2e6, 0.002, "shared", 2.0, "test: 2 Mbps"))
    path = save_profile(slow, tmp_path / "slow.yaml")
    result = mchair("plan", "alexnet-tiny", "--profile", path, "--devices", "3", "--codecs", "raw,uint8",
                    "--error-budget", "0.05")
    assert result.returncode == 0, result.stderr
    assert "in codec" in result.stdout and " uint8 " in result.stdout
    assert "predicted output error" in result.stdout
    as_json = mchair("plan", "alexnet-tiny", "--profile", path, "--devices", "3", "--codecs", "raw,uint8",
                     "--error-budget", "0.05", "--json")
    plans = json.loads(as_json.stdout)["plans"]
    assert all(p["error"] <= 0.05 for p in plans)
    assert any(s["codec"] == "uint8" for p in plans for s in p["stages"])


def test_plan_with_a_bad_codec_or_budget(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "2", "--codecs", "gzip"),
               "codecs.choose")
    user_error(mchair("plan", "alexnet-tiny", "--profile", "rpi3", "--devices", "2", "--error-budget", "-1"),
               "codecs.error_budget")
