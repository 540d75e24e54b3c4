"""One lab for the whole session (4 devices on one shared 62 Mbit/s channel): set up once, removed
at the end, also when a test fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.lab import Lab, LabSpec, parse_link
from orchestrator.lab._net import require_root
from worker.errors import UserError

# Heartbeats every 0.5 s, lost after 2 s: the fault tests wait seconds, not tens of seconds.
BUILD = Path(__file__).resolve().parents[3] / "build" / "lab-tests"
SETTINGS = {"agent": {"heartbeat_s": 0.5}, "game": {"heartbeat_timeout_s": 2.0}}


def namespaces_unavailable() -> str:
    """Why this machine cannot run a lab ('' when it can)."""
    try:
        require_root()
    except UserError as exc:
        return str(exc)
    return ""


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A lab of 4 devices (pi0 has the camera), half a core and 1 GB each, 62 Mbit/s shared."""
    why = namespaces_unavailable()
    if why:
        pytest.skip(f"network namespaces unavailable here, the lab cannot run: {why}")
    # Not under pytest's tmp dirs: other sessions on this machine prune those while this one runs.
    root = BUILD
    the_lab = Lab("mclabt", root, settings=SETTINGS)
    the_lab.down()   # what an earlier, killed session left
    the_lab.up(LabSpec(devices=4, cameras=1, cpu=0.5, link=parse_link("62mbit"), medium="shared"))
    try:
        yield the_lab
    finally:
        errors = the_lab.down()
        assert not errors, errors
        assert not [n for n in os.listdir("/run/netns") if n.startswith("mclabt-")]
