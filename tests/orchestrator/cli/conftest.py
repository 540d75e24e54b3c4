"""Running ``mchair`` as a user does: a subprocess with this checkout and the session's model cache."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.toolchain.zoo import build_model, find_spec

ROOT = Path(__file__).resolve().parents[3]

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def env(model_cache: Path) -> dict[str, str]:
    """Environment of the CLI runs: the session's model cache, this checkout first.

    The tiny models are built into the cache first, so an error is the only line on stderr (a
    cold build also prints a progress line before it).
    """
    result = dict(os.environ)
    result["MCHAIR_CACHE_DIR"] = str(model_cache)
    result["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for name in ("alexnet-tiny", "action-recognition-tiny"):
        build_model(find_spec(name), progress=False)
    return result


@pytest.fixture
def mchair(env: dict[str, str], tmp_path: Path) -> Run:
    """Run ``mchair ARGS`` in tmp_path; returns the finished process (text output)."""
    def run(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orchestrator.cli", *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
    return run


def _assert_user_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit 2, and stderr is exactly one line `mchair: error: ...` naming every one of ``names``."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mchair: error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture
def user_error() -> Callable[..., str]:
    """The check of a bad-input run: exit 2 and one line naming what was wrong (returns the line)."""
    return _assert_user_error
