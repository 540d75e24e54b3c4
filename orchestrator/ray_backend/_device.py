"""A device as a Ray actor: the real agent (``worker.agent.Agent``) inside the actor's event loop.

The actor takes a device's seats: the control plane (Assign, artifacts, Ack, heartbeats, Release,
Motion, Results, Status) is the agent's own, over TCP to the master; only the TensorBatches to
other devices go through Ray (``RayTransport``), and those for this device come in by ``deliver``.
When the actor (or its node) dies, its TCP connection to the master closes and its port refuses
connections: the master finds the device lost at once and plays the game, as for a crashed agent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from worker.agent import Agent, AgentCounters
from worker.camera import open_camera
from worker.cluster import AgentSettings
from worker.motion import MotionSettings
from worker.wire import AEAD, Peer, TensorBatch

from ._transport import DEFAULT_MAX_IN_FLIGHT, RayTransport, unpack_batch

log = logging.getLogger("mchair.ray")


@dataclass(frozen=True)
class DeviceOptions:
    """What a device actor needs to start its agent (the cluster's shared settings included)."""

    name: str
    secret: bytes
    namespace: str
    camera: str | None = None           # a camera spec (worker.camera.open_camera), None: no camera
    host: str = ""                      # where the agent listens; "": the node's address
    settings: AgentSettings = field(default_factory=AgentSettings)
    motion: MotionSettings = field(default_factory=MotionSettings)
    cluster: str = "home"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    log_level: str = "WARNING"
    data: str = AEAD                    # cluster.yaml's security.data


class RayDevice:
    """The actor class (``ray.remote`` is applied by the launcher, so importing this needs no Ray)."""

    def __init__(self, options: DeviceOptions) -> None:
        self.options = options
        self.agent: Agent | None = None
        self.transport: RayTransport | None = None
        self._life: asyncio.Task[None] | None = None

    async def start(self) -> tuple[str, int]:
        """Start the agent (listening, heartbeats, camera); returns where it listens (host, port)."""
        o = self.options
        logging.basicConfig(level=o.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        from ._session import import_ray
        host = o.host or str(import_ray().util.get_node_ip_address())
        self.transport = RayTransport(o.name, o.namespace, o.max_in_flight)
        camera = open_camera(o.camera) if o.camera else None
        self.agent = Agent(o.name, o.secret, host=host, port=0, settings=o.settings, camera=camera,
                           motion=o.motion, cluster=o.cluster, data_transport=self.transport, data=o.data)
        await self.agent.async_start()
        self._life = asyncio.get_running_loop().create_task(self._async_live(), name=f"{o.name}-life")
        return host, self.agent.port

    def set_master(self, host: str, port: int) -> None:
        """Where heartbeats and motion go while the device holds no seat."""
        assert self.agent is not None, "start first"
        self.agent.master = Peer("master", host, port)

    async def deliver(self, source: str, batch: TensorBatch) -> None:
        """A TensorBatch from device ``source`` through the object store: the agent's receive path."""
        if self.agent is not None:
            await self.agent.async_receive(unpack_batch(batch), f"ray:{source}")

    def counters(self) -> AgentCounters:
        """The agent's counters (drops included)."""
        assert self.agent is not None, "start first"
        return self.agent.counters()

    def alive(self) -> bool:
        """True until the agent stopped (a Shutdown from the master, or ``stop``)."""
        return self._life is not None and not self._life.done()

    async def stop(self) -> None:
        """Stop the agent (idempotent)."""
        if self.agent is not None:
            await self.agent.async_stop()

    async def _async_live(self) -> None:
        assert self.agent is not None
        await self.agent.async_wait()   # a Shutdown from the master
        await self.agent.async_stop()
        close = getattr(self.agent.camera, "close", None)
        if callable(close):
            close()


__all__ = ["DeviceOptions", "RayDevice"]
