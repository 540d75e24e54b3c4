"""The agent processes of a lab: the real ``python -m worker.agent``, each started inside its
device's namespace and cgroups; signals for faults; ending them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from . import _cgroups as cgroups
from . import _net as net
from ._state import DeviceState

AGENT_PORT = 7401        # every device listens on it: each has an address of its own


def spawn_agent(lab: str, device: DeviceState, config: Path, log: Path, log_level: str = "INFO") -> int:
    """Start ``device``'s agent in its cgroups and namespace (in a session of its own, so it outlives
    ``lab up``); its pid."""
    def child() -> None:
        # In the child, before exec: the agent and everything it starts are confined from the start.
        cgroups.join(lab, device.name, os.getpid())
        net.enter(device.netns)

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.agent", "--name", device.name, "--cluster", str(config),
             "--host", device.address, "--port", str(AGENT_PORT), "--camera", device.camera,
             "--log-level", log_level],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, preexec_fn=child, start_new_session=True)
    _children[process.pid] = process
    return process.pid


_children: dict[int, subprocess.Popen[bytes]] = {}   # agents this process started: reaped when they end


def state_of(pid: int) -> str:
    """``running``, ``stopped`` (SIGSTOP) or ``gone`` for an agent's pid."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return "gone"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "gone"
    if b"worker.agent" not in cmdline:   # the pid was reused by something else
        return "gone"
    code = stat.rsplit(")", 1)[1].split()[0]
    return {"Z": "gone", "X": "gone", "T": "stopped", "t": "stopped"}.get(code, "running")


def send(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to an agent (nothing if it is gone)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def end(pids: Iterable[int], grace_s: float = 5.0) -> None:
    """SIGTERM (after SIGCONT: a stopped process cannot handle it), then SIGKILL what is left after
    ``grace_s``; waits until they are gone."""
    pids = [p for p in pids if p > 0]
    for pid in pids:
        send(pid, signal.SIGCONT)
        send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _exists(pid):
            send(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while any(_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _exists(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


__all__ = ["AGENT_PORT", "end", "send", "spawn_agent", "state_of"]
