"""The ray backend's launcher: one Ray actor per device, then the same master as for agent processes.

``RayCluster`` is a ``LocalCluster`` whose agents are Ray actors (``RayDevice``) instead of
processes: each actor takes a device's seats. It creates the actors (named, in their own
namespace; a camera's actor needs the custom resource ``camera:<name>``, so it runs on the node
that has the camera), collects where their agents listen, writes a cluster.yaml with ``discovery:
static`` listing them, and starts the unchanged ``Master``, which plays the game as usual. A
device whose actor dies (``kill``, a crashed node) closes its connection to the master and its port
refuses connections: lost at once, the game is played again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.errors import UserError

from ..master import Device, LocalCluster, Master
from ..profile import Profile
from ..toolchain.model import Model
from ._device import DeviceOptions, RayDevice
from ._session import RaySession, import_ray
from ._transport import DEFAULT_MAX_IN_FLIGHT

log = logging.getLogger("mchair.ray")
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ActorResources:
    """What one device actor asks Ray for."""

    num_cpus: float
    memory: int          # bytes

    def options(self) -> dict[str, Any]:
        """As ``ActorClass.options`` takes them."""
        return {"num_cpus": self.num_cpus, "memory": self.memory}


def actor_resources(profile: Profile, devices: int, totals: Mapping[str, float],
                    cpus: float | None = None) -> ActorResources:
    """The profile's device (its cores, its usable memory) scaled down, never up, so that ``devices``
    actors fit in the cluster's ``totals`` (``ray.cluster_resources()``); ``cpus`` overrides the CPUs."""
    share = max(devices, 1)
    wanted_cpus = float(cpus) if cpus is not None else min(float(max(profile.device.cores, 1)),
                                                           totals.get("CPU", math.inf) / share)
    # Ray takes whole numbers above 1 and steps of 1e-4 below.
    num_cpus = math.floor(wanted_cpus) if wanted_cpus >= 1 else max(math.floor(wanted_cpus * 1e4) / 1e4, 1e-4)
    memory = min(profile.device.usable_memory_mb * 2**20, totals.get("memory", math.inf) / share)
    return ActorResources(num_cpus, int(memory))


def camera_resource(name: str) -> str:
    """The custom resource a node offers for the camera of device ``name``."""
    return f"camera:{name}"


class RayCluster(LocalCluster):
    """Device actors on a Ray cluster (``session``), named ``names`` (default ray0, ray1, ...); the first
    ``cameras`` have a synthetic camera unless ``camera_specs`` names their sources (as LocalCluster).

    ``cpus`` is the CPU request of every actor (None: the profile's cores, scaled to fit);
    ``max_in_flight`` bounds the unfinished object-store sends per edge.
    """

    def __init__(self, work_dir: Path, devices: int, session: RaySession, profile: Profile, *, seed: int = 0,
                 cameras: int = 1, camera_specs: Sequence[str] = (), names: Sequence[str] = (),
                 settings: Mapping[str, Any] | None = None, cpus: float | None = None,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, log_level: str = "WARNING") -> None:
        super().__init__(work_dir, devices, seed, log_level, cameras, camera_specs, settings)
        renamed = list(names) or [f"ray{i}" for i in range(devices)]
        if len(renamed) != devices or len(set(renamed)) != devices:
            raise UserError(f"expected {devices} unique device names, got {renamed}")
        self.cameras = dict(zip(renamed, self.cameras.values()))   # the first ones, as LocalCluster chose
        self.names = renamed
        self.session, self.profile, self.cpus, self.max_in_flight = session, profile, cpus, max_in_flight
        self.namespace = f"{session.namespace}-{self._run}"
        self.actors: dict[str, Any] = {}
        self.addresses: dict[str, tuple[str, int]] = {}
        self.killed: set[str] = set()
        self.resources: ActorResources | None = None

    async def async_start(self) -> None:
        """Create the device actors and start their agents (the master's address comes later)."""
        ray = import_ray()
        totals = self.session.totals()
        missing = [camera_resource(n) for n in self.cameras if camera_resource(n) not in totals]
        if missing:
            raise UserError(f"no Ray node offers {', '.join(missing)}: start the camera's node with "
                            f"ray start --resources '{{\"{missing[0]}\": 1}}'")
        self.resources = actor_resources(self.profile, self.count, totals, self.cpus)
        config = self.write_config(0)   # the secret and the shared settings
        secret = config.secret()
        remote = ray.remote(RayDevice)
        for name in self.names:
            options = DeviceOptions(name, secret, self.namespace, self.cameras.get(name),
                                    "127.0.0.1" if self.session.local else "", config.agent, config.motion,
                                    config.name, self.max_in_flight, self.log_level, config.security.data)
            extra = {"resources": {camera_resource(name): 1}} if name in self.cameras else {}
            self.actors[name] = remote.options(name=name, namespace=self.namespace, max_restarts=0,
                                               **self.resources.options(), **extra).remote(options)
        names = list(self.actors)
        try:
            started = await asyncio.wait_for(asyncio.gather(*(self.actors[n].start.remote() for n in names)),
                                             START_TIMEOUT_S)
        except TimeoutError:
            for actor in self.actors.values():
                ray.kill(actor, no_restart=True)
            self.killed.update(self.actors)
            raise UserError(f"the {self.count} device actors did not start within {START_TIMEOUT_S:g} s: "
                            f"expected {self.resources} each to fit in {totals}") from None
        self.addresses = {n: (str(host), int(port)) for n, (host, port) in zip(names, started)}
        self.settings["discovery"] = "static"
        self.settings["devices"] = [{"name": n, "host": h, "port": p, "camera": n in self.cameras}
                                    for n, (h, p) in self.addresses.items()]

    async def async_start_with_master(self, model: Model | str, profile: Profile,
                                      **options: Any) -> tuple[Master, list[Device]]:
        """The actors, then a master for ``model`` on their static cluster.yaml; a UserError if some
        device is not heard from within 30 s."""
        if not self.session.local:
            self.master_host = self.session.node_ip()
        await self.async_start()
        master = Master(self.write_config(0), model, profile, self.work_dir, only=self.names, **options)
        peer = await master.async_start()
        self.write_config(peer.port)   # `mchair motion` and `mchair status` need the port
        await asyncio.gather(*(a.set_master.remote(peer.host, peer.port) for a in self.actors.values()))
        devices = await master.async_wait_devices(self.count, 30.0)
        if len(devices) < self.count:
            await self.async_stop_with(master, "devices missing")
            raise UserError(f"{len(devices)} of {self.count} device actors sent a heartbeat within 30 s; "
                            f"their logs are under {self.session.temp_dir or 'the Ray session directory'}")
        return master, devices

    async def async_add(self, camera: str = "none") -> str:
        """Not on the ray backend: its devices are the actors made at start."""
        raise UserError("the ray backend takes its devices at start (static discovery): expected no device "
                        "added later")

    def kill(self, name: str) -> None:
        """Kill one device's actor (its process ends at once, as when a device loses power)."""
        import_ray().kill(self.actors[name], no_restart=True)
        self.killed.add(name)

    async def async_counters(self) -> dict[str, Any]:
        """Every live actor's agent counters (``AgentCounters``), by device."""
        names = [n for n in self.names if n not in self.killed]
        got = await asyncio.gather(*(self.actors[n].counters.remote() for n in names))
        return dict(zip(names, got))

    async def async_stop(self, timeout: float = 10.0) -> list[int]:
        """Wait for the agents to stop (after a Shutdown: ``async_stop_with``), then kill the actors;
        per device in name order 0 (stopped on Shutdown) or -9 (killed)."""
        ray = import_ray()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        codes: list[int] = []
        for name in self.names:
            actor, code = self.actors.get(name), -9
            while actor is not None and name not in self.killed and loop.time() < deadline:
                try:
                    if not await asyncio.wait_for(actor.alive.remote(), max(deadline - loop.time(), 0.1)):
                        code = 0
                        break
                except Exception:  # noqa: BLE001 - a dead actor, or a timeout: it is killed below
                    break
                await asyncio.sleep(0.05)
            codes.append(code)
            if actor is not None:
                ray.kill(actor, no_restart=True)
        self.killed.update(self.actors)
        return codes


__all__ = ["ActorResources", "RayCluster", "actor_resources", "camera_resource"]
