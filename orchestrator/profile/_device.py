"""Facts about the host being profiled: CPU, cores, RAM, runtime versions; power as given."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import socket
from pathlib import Path

import numpy as np
import psutil

from ._model import MB, DeviceFacts, Power

DEFAULT_IDLE_W = 2.0
DEFAULT_BUSY_W = 6.0
# Part of RAM kept free of tasks: page cache and the OS's own growth while the agent runs.
MEMORY_MARGIN = 0.05


def default_name() -> str:
    """The profile name a user expects on this host: its short hostname, lower case."""
    host = socket.gethostname().split(".")[0].lower()
    return re.sub(r"[^a-z0-9_-]+", "-", host).strip("-") or "host"


def today() -> str:
    """Today's date (ISO), for the ``source`` of measured sections."""
    return datetime.date.today().isoformat()


def rss_mb() -> float:
    """Resident memory of this process (MB)."""
    return psutil.Process().memory_info().rss / MB


def cpu_model() -> str:
    """The CPU (and board, on a Raspberry Pi) as the kernel names it."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware") and value.strip():
                cpu = value.strip()
                break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    try:  # Pis name the board here; /proc/cpuinfo on aarch64 names no CPU at all
        board = Path("/proc/device-tree/model").read_text().strip("\x00\n ")
    except OSError:
        board = ""
    return f"{board} ({cpu})" if board else cpu


def runtime_versions(executor: str, threads: int | None) -> str:
    """What ran the timings: the executor and its version, numpy, Python."""
    if executor == "litert":
        name = "LiteRT"
        for dist in ("ai-edge-litert", "tflite-runtime"):
            try:
                name = f"{dist} {importlib.metadata.version(dist)}"
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        executor = f"{name} ({threads} threads)" if threads else f"{name} (default threads)"
    else:
        executor = "numpy reference executor"
    return (f"{executor}, numpy {np.__version__}, "
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}")


def device_facts(name: str, base_mb: float, runtime: str) -> DeviceFacts:
    """Facts of this host; usable memory is what is available now plus this process's base."""
    vm = psutil.virtual_memory()
    total = vm.total / MB
    # The profiling process stands in for the agent: its base RSS is counted by memory.base_mb,
    # so it belongs to the usable part, not to what the OS takes.
    usable = min(total, max(0.0, vm.available / MB + base_mb - MEMORY_MARGIN * total))
    return DeviceFacts(
        name=name, cpu=cpu_model(), cores=os.cpu_count() or 1, memory_mb=round(total, 1),
        usable_memory_mb=round(usable, 1), runtime=runtime,
        source=(f"measured on {socket.gethostname()} on {today()} (psutil); usable memory = RAM available "
                f"when profiling started + the profiler's own {base_mb:.0f} MB base - {MEMORY_MARGIN:.0%} of RAM"))


def power(idle_w: float | None, busy_w: float | None, previous: Power | None = None) -> Power:
    """Power as given on the command line, else the previous profile's, else the assumed defaults."""
    if idle_w is None and busy_w is None and previous is not None:
        return previous
    if idle_w is None and busy_w is None:
        return Power(DEFAULT_IDLE_W, DEFAULT_BUSY_W, "assumed, pass --idle-w/--busy-w from a power meter")
    base = previous or Power(DEFAULT_IDLE_W, DEFAULT_BUSY_W)
    return Power(base.idle_w if idle_w is None else idle_w, base.busy_w if busy_w is None else busy_w,
                 f"given on the command line (--idle-w/--busy-w) on {today()}")


__all__ = ["DEFAULT_BUSY_W", "DEFAULT_IDLE_W", "cpu_model", "default_name", "device_facts", "power",
           "rss_mb", "runtime_versions", "today"]
