"""A cluster on this machine: N real agent processes on 127.0.0.1, found with real zeroconf."""

from __future__ import annotations

import asyncio
import base64
import ctypes
import os
import secrets
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from worker.cluster import ClusterConfig, load_cluster
from worker.errors import UserError

from ..profile import Profile
from ..toolchain.model import Model
from ._discovery import Device, async_find_devices
from ._master import Master

PR_SET_PDEATHSIG = 1   # prctl(2)


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started it dies (Linux), so a killed benchmark or
    test leaves no agent behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalCluster:
    """Agent processes on loopback, each with its own log; the first ``cameras`` have a synthetic
    camera (seeds ``seed``, ``seed + 1``, ... unless ``camera_specs`` names their sources).

    ``settings`` adds sections to the cluster.yaml it writes (e.g. ``{"motion": {"enabled": False}}``).
    """

    def __init__(self, work_dir: Path, devices: int, seed: int = 0, log_level: str = "WARNING", cameras: int = 1,
                 camera_specs: Sequence[str] = (), settings: Mapping[str, Any] | None = None) -> None:
        self.work_dir, self.seed, self.log_level = work_dir, seed, log_level
        self._run = secrets.token_hex(2)   # several local clusters may run at once (tests): names must differ
        self.names = [f"pi{i}-{self._run}" for i in range(devices)]
        self.cameras = {self.names[i]: (camera_specs[i] if i < len(camera_specs) else f"synthetic:{seed + i}")
                        for i in range(min(max(cameras, len(camera_specs)), devices))}
        self.settings = dict(settings or {})
        self.master_host = "127.0.0.1"   # where the master listens (a launcher of remote agents may change it)
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.config_path = work_dir / "cluster.yaml"
        self._secret_written = False

    @property
    def count(self) -> int:
        """Agents of this run (those added later included)."""
        return len(self.names)

    @property
    def recorder(self) -> str:
        """The first device with a camera."""
        return self.names[0]

    def write_config(self, master_port: int) -> ClusterConfig:
        """A cluster.yaml for this run (zeroconf on 127.0.0.1, any free ports) and, the first time,
        a fresh secret."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        secret = self.work_dir / "cluster.secret"
        if not self._secret_written:
            secret.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
            secret.chmod(0o600)
            self._secret_written = True
        # The agents share this machine's disk with the master: what it partitioned is linked, not copied.
        agent = {"port": 0, "cache_dir": str(self.work_dir / "artifacts"),
                 "link_dir": str(self.work_dir / "partitions"), **self.settings.get("agent", {})}
        self.config_path.write_text(yaml.safe_dump({
            "name": "local", "secret_file": secret.name, "master": {"host": self.master_host, "port": master_port},
            "discovery": "zeroconf", "interfaces": ["127.0.0.1"], **self.settings, "agent": agent}))
        return load_cluster(self.config_path)

    async def async_start(self) -> None:
        """Start the agent processes (they advertise themselves)."""
        for name in self.names:
            await self._async_spawn(name)

    async def _async_spawn(self, name: str) -> None:
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = (logs / f"{name}.log").open("ab")
        self.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "worker.agent", "--name", name, "--cluster", str(self.config_path),
            "--host", "127.0.0.1", "--port", "0", "--camera", self.cameras.get(name, "none"),
            "--log-level", self.log_level, stdout=log, stderr=log, preexec_fn=_die_with_parent)
        log.close()

    async def async_add(self, camera: str = "none") -> str:
        """Start one more agent (``camera``: its source or none); its name."""
        name = f"pi{len(self.names)}-{self._run}"
        self.names.append(name)
        if camera != "none":
            self.cameras[name] = camera
        await self._async_spawn(name)
        return name

    def kill(self, name: str) -> None:
        """SIGKILL one agent: no goodbye, no flush, as when a device loses power."""
        self.processes[name].kill()

    async def async_devices(self, config: ClusterConfig, timeout: float = 30.0) -> list[Device]:
        """The agents of this run, as zeroconf finds them."""
        return await async_find_devices(config, self.count, timeout, only=set(self.names))

    async def async_stop(self, timeout: float = 10.0) -> list[int]:
        """Wait for the agents to exit (after a Shutdown: ``async_stop_with``), then end the stragglers;
        exit codes in name order (a killed agent's is -9)."""
        codes = []
        for name in self.names:
            process = self.processes[name]
            try:
                codes.append(await asyncio.wait_for(process.wait(), timeout))
            except TimeoutError:
                process.kill()
                codes.append(await process.wait())
        return codes

    async def async_start_with_master(self, model: Model | str, profile: Profile,
                                      **options: Any) -> tuple[Master, list[Device]]:
        """A master for ``model`` (``options`` as Master takes them) on this run's cluster.yaml, then
        the agents, found with zeroconf; a UserError with their logs if some do not come up."""
        master = Master(self.write_config(0), model, profile, self.work_dir, only=self.names, **options)
        # The agents (and `mchair motion`, `mchair status`) need the port it got.
        self.write_config((await master.async_start()).port)
        await self.async_start()
        devices = await master.async_wait_devices(self.count, 30.0)
        if len(devices) < self.count:
            await self.async_stop_with(master, "agents missing")
            raise UserError(f"{len(devices)} of {self.count} agents advertised themselves within 30 s; "
                            f"their logs end with:\n{self.log_tail()}")
        return master, devices

    async def async_stop_with(self, master: Master, reason: str) -> list[int]:
        """Stop the master, asking it to send the agents Shutdown (they outlive a master otherwise),
        then the agents; their exit codes."""
        await master.async_stop(reason, shutdown_agents=True)
        return await self.async_stop()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of every agent's log (for an error message)."""
        out = []
        for name in self.names:
            path = self.work_dir / "logs" / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out += [f"{name}: {line}" for line in tail]
        return "\n".join(out)


__all__ = ["LocalCluster"]
