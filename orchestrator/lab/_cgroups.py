"""A device's share of this machine: a cgroup (v1) with a CPU quota and a memory limit."""

from __future__ import annotations

import os
from pathlib import Path

from worker.errors import UserError

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "cpuacct", "memory")   # cpuacct: what a device really got (a busy host gives less)
PERIOD_US = 100_000


def group_paths(lab: str, device: str) -> list[Path]:
    """The cgroup directories of ``device`` in ``lab`` (one per controller)."""
    return [ROOT / c / lab / device for c in CONTROLLERS]


def create(lab: str, device: str, cpu: float, memory_bytes: int) -> None:
    """The device's cgroups: ``cpu`` cores (a CFS quota) and ``memory_bytes`` of memory."""
    for controller in CONTROLLERS:
        if not (ROOT / controller).is_dir():
            raise UserError(f"mchair lab needs cgroup v1's {controller} controller at {ROOT / controller}")
    for path in group_paths(lab, device):
        path.mkdir(parents=True, exist_ok=True)
    set_cpu(lab, device, cpu)
    (ROOT / "memory" / lab / device / "memory.limit_in_bytes").write_text(str(memory_bytes))


def set_cpu(lab: str, device: str, cpu: float) -> None:
    """Give ``device`` ``cpu`` cores from now on (``lab fault slow`` lowers it)."""
    cpu_dir = ROOT / "cpu" / lab / device
    (cpu_dir / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (cpu_dir / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpu * PERIOD_US))))


def join(lab: str, device: str, pid: int) -> None:
    """Put process ``pid`` in the device's cgroups (a child calls it on itself before it execs)."""
    for path in group_paths(lab, device):
        (path / "cgroup.procs").write_text(str(pid))


def cpu_seconds(lab: str, device: str) -> float:
    """CPU time the device's processes have used so far (cpuacct), in seconds."""
    return int((ROOT / "cpuacct" / lab / device / "cpuacct.usage").read_text()) / 1e9


def members(lab: str) -> list[int]:
    """Every process in any cgroup of ``lab`` (what `lab down` must end)."""
    pids: set[int] = set()
    for controller in CONTROLLERS:
        for procs in (ROOT / controller / lab).glob("*/cgroup.procs"):
            pids.update(int(line) for line in procs.read_text().split())
    return sorted(pids)


def remove(lab: str) -> list[str]:
    """Delete the lab's cgroups (they must be empty); the errors, if any."""
    errors = []
    for controller in CONTROLLERS:
        top = ROOT / controller / lab
        if not top.is_dir():
            continue
        for path in [*sorted(p for p in top.iterdir() if p.is_dir()), top]:
            try:
                os.rmdir(path)
            except OSError as exc:
                errors.append(f"cgroup {path}: {exc.strerror}")
    return errors


__all__ = ["CONTROLLERS", "cpu_seconds", "create", "group_paths", "join", "members", "remove", "set_cpu"]
