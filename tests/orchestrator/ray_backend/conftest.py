"""One local Ray for the whole session: loopback agents, usage stats off, its files under build/, shut
down at the end with every process it started."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orchestrator.ray_backend import RaySession, camera_resource

ROOT = Path(__file__).resolve().parents[3]
CAMERAS = 24   # camera resources of the local node: camera:ray0 .. camera:ray23


def _ray_processes() -> list[psutil.Process]:
    """This process's children that belong to Ray (raylet, gcs_server, workers)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ray" in " ".join(child.cmdline()).lower():
                out.append(child)
        except psutil.Error:
            continue
    return out


@pytest.fixture(scope="session")
def ray_session() -> Iterator[RaySession]:
    """A local Ray with a camera resource for devices ray0..ray23; no Ray process outlives the session."""
    session = RaySession(build_dir=ROOT / "build",
                         resources={camera_resource(f"ray{i}"): 1.0 for i in range(CAMERAS)}).start()
    assert session.local and session.temp_dir is not None
    yield session
    session.stop()
    deadline = time.monotonic() + 15.0
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _ray_processes()
    for process in left:
        process.kill()
    assert not left, f"Ray processes outlived the session: {[p.pid for p in left]}"
