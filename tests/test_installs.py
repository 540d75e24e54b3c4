"""The agent-only base install: its requirements, its import closure, and a master command run without the extra.

Each check runs in a fresh interpreter with the master's packages made unimportable by a meta path hook, as on
a Pi that ran `pip install musical-chair` with no extras.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import MASTER_MODULES
from orchestrator.toolchain.zoo import build_model, cache_dir, find_spec

ROOT = Path(__file__).resolve().parents[1]
# What only the master (or a tool) imports; flatbuffers stays importable: LiteRT itself needs it.
BLOCKED = sorted((MASTER_MODULES - {"flatbuffers"}) | {"orchestrator", "ray"})
HOOK = f"""
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


# The numpy reference executor and its .tflite reader (worker.graph) need `tflite`: only without LiteRT.
NUMPY_EXECUTOR = ("worker.executor._numpy", "worker.graph")


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HOOK + code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _requirement_names(text: str) -> set[str]:
    return {re.split(r"[<>=!~; \[]", line.strip(), maxsplit=1)[0].lower()
            for line in text.splitlines() if line.strip()}


def test_the_base_install_requires_none_of_the_master_packages() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    base = _requirement_names(cfg["options"]["install_requires"])
    master = _requirement_names(cfg["options.extras_require"]["master"])
    assert {"numpy", "fastavro", "zstandard", "zeroconf", "psutil", "pyyaml", "ai-edge-litert"} <= base
    assert not base & {"scipy", "matplotlib", "rich", "prometheus-client"}
    assert {"scipy", "matplotlib", "rich", "prometheus-client", "flatbuffers", "tflite"} <= master


def test_the_agent_runs_a_model_without_the_master_packages() -> None:
    block = next(b for b in build_model(find_spec("alexnet-tiny"), progress=False).blocks.values() if b.file)
    path = build_model(find_spec("alexnet-tiny"), progress=False).path(block.name)
    code = f"""
import pkgutil, importlib, numpy as np
import worker
for m in pkgutil.walk_packages(worker.__path__, "worker."):
    if not m.name.endswith("__main__") and not m.name.startswith({NUMPY_EXECUTOR!r}):
        importlib.import_module(m.name)
from worker.executor import load_model
runner = load_model({str(path)!r})
feeds = {{s.name: np.zeros(s.shape, s.dtype) for s in runner.inputs}}
print(type(runner).__name__, sorted(runner.run(feeds)))
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "LiteRTRunner"
    assert block.outputs[0] in done.stdout
    assert np.prod(block.output_shapes[0]) > 0


def test_agent_help_starts_fast_without_the_master_packages() -> None:
    started = time.perf_counter()
    done = _run("import runpy; runpy.run_module('worker.agent', run_name='__main__', alter_sys=True)", "--help")
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert "--name" in done.stdout and "--print-systemd" in done.stdout
    assert elapsed < 3.0   # ~0.15 s idle; generous for a loaded CI machine, the budget is 0.5 s on a Pi


def test_a_master_command_without_the_master_extra_names_the_extra() -> None:
    code = "from orchestrator.cli import main; raise SystemExit(main())"
    hook_without_orchestrator = HOOK.replace("'orchestrator', ", "")
    done = subprocess.run([sys.executable, "-c", hook_without_orchestrator + code, "plan", "alexnet-tiny",
                           "--profile", "rpi3", "--devices", "2"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "musical-chair[master]" in lines[0]
    missing = re.search(r"\((\w+) is not installed\)", lines[0])
    assert missing is not None and missing.group(1) in BLOCKED, lines[0]
    help_done = subprocess.run([sys.executable, "-c", hook_without_orchestrator + code, "--help"],
                               capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert help_done.returncode == 0 and "plan" in help_done.stdout


def test_without_a_configured_cache_built_models_stay_in_the_checkouts_build_dir(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCHAIR_CACHE_DIR", raising=False)
    assert cache_dir() == ROOT / "build" / "cache"
    monkeypatch.setenv("MCHAIR_CACHE_DIR", "/somewhere/else")
    assert cache_dir() == Path("/somewhere/else")
