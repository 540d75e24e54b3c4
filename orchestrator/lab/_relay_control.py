"""Starting, re-tuning and finding the link relays (``_relay``) of a lab."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from worker.errors import UserError

from ._spec import LinkSpec

MODULE = "orchestrator.lab._relay"


def start(bridge_ns: str, netns: str, port: str, link: LinkSpec, control: Path, log: Path) -> int:
    """A relay carrying ``netns``'s link to the bridge with ``link``'s delay and jitter; its pid once ready."""
    control.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    control.write_text(f"{link.delay_ms} {link.jitter_ms}\n")
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE, bridge_ns, port, netns, str(link.delay_ms), str(link.jitter_ms),
             "--control", str(control)], stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True)
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        process.kill()
        raise UserError(f"the link relay of {netns} did not start: see {log}")
    process.stdout.close()
    return process.pid


def set_delay(pid: int, control: Path, delay_ms: float, jitter_ms: float) -> None:
    """Give a running relay a new delay (it re-reads ``control`` on SIGHUP)."""
    control.write_text(f"{delay_ms} {min(jitter_ms, delay_ms)}\n")
    os.kill(pid, signal.SIGHUP)


def find(lab: str) -> list[int]:
    """The pids of the relays of ``lab`` still running (found by their command line, after a crash)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if MODULE.encode() in argv and f"{lab}-br".encode() in argv:
            pids.append(int(entry.name))
    return pids


__all__ = ["MODULE", "find", "set_delay", "start"]
