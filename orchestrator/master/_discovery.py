"""Finding the agents: the static list of cluster.yaml, or their zeroconf advertisements.

``DeviceBrowser`` keeps watching (the master learns of agents that join or leave while it runs);
``async_find_devices`` waits once for a number of them (the CLI's and the tests' start-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from worker.cluster import ClusterConfig
from worker.wire import Peer

SERVICE = "_mchair._tcp.local."
log = logging.getLogger("mchair.master")


@dataclass(frozen=True)
class Device:
    """An agent the master can seat: where it listens and what it says about itself."""

    peer: Peer
    camera: bool
    device_type: str = ""
    memory_mb: float = 0.0
    cores: int = 0
    source: str = ""        # the camera's spec (e.g. synthetic:3), to replay a synthetic camera's frames

    @property
    def name(self) -> str:
        """The device's name."""
        return self.peer.device


OnFound = Callable[[Device], None]
OnGone = Callable[[str], None]


def static_devices(cluster: ClusterConfig) -> list[Device]:
    """The devices cluster.yaml lists (``discovery: static``)."""
    return [Device(Peer(d.name, d.host, d.port), d.camera) for d in cluster.devices]


class DeviceBrowser:
    """Watches the zeroconf advertisements of the cluster's agents: ``on_found`` for every agent that
    appears (again), ``on_gone`` with its name when it says goodbye."""

    def __init__(self, cluster: ClusterConfig, on_found: OnFound, on_gone: OnGone | None = None,
                 only: Collection[str] | None = None) -> None:
        self.cluster, self._on_found, self._on_gone, self._only = cluster, on_found, on_gone, only
        self._names: dict[str, str] = {}          # service name -> device name
        self._pending: set[asyncio.Task[None]] = set()
        self._aiozc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None

    async def async_start(self) -> None:
        """Start browsing (returns at once; devices arrive through the callbacks)."""
        interfaces = list(self.cluster.interfaces) or None
        self._aiozc = AsyncZeroconf(interfaces=interfaces) if interfaces else AsyncZeroconf()
        self._browser = AsyncServiceBrowser(self._aiozc.zeroconf, SERVICE, handlers=[self._on_change])

    async def async_stop(self) -> None:
        """Stop browsing."""
        if self._browser is not None:
            await self._browser.async_cancel()
        for task in self._pending:
            task.cancel()
        if self._aiozc is not None:
            await self._aiozc.async_close()
        self._browser = self._aiozc = None

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            task = asyncio.ensure_future(self._async_resolve(name))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        elif state_change is ServiceStateChange.Removed and name in self._names and self._on_gone is not None:
            self._on_gone(self._names.pop(name))

    async def _async_resolve(self, name: str) -> None:
        assert self._aiozc is not None
        info = await self._aiozc.async_get_service_info(SERVICE, name, timeout=3000)
        if info is None:
            return
        props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        addresses = info.parsed_addresses()
        if not addresses or "device" not in props:
            log.warning("ignoring %s: no address or no device name in its TXT record", name)
            return
        if self._only is not None and props["device"] not in self._only:
            return
        if props.get("cluster", self.cluster.name) not in ("", self.cluster.name):
            log.debug("ignoring %s: it belongs to cluster %r", name, props["cluster"])
            return
        self._names[name] = props["device"]
        self._on_found(Device(Peer(props["device"], addresses[0], int(info.port or 0)), props.get("camera") == "1",
                              props.get("type", ""), float(props.get("memory_mb", 0) or 0),
                              int(props.get("cores", 0) or 0), props.get("source", "")))


async def async_find_devices(cluster: ClusterConfig, expected: int, timeout: float,
                             only: Collection[str] | None = None) -> list[Device]:
    """The cluster's devices: the static list, or the first ``expected`` agents advertised within
    ``timeout`` seconds (fewer if that is all there is), in name order; ``only`` these names if given."""
    if cluster.discovery == "static":
        return static_devices(cluster)
    found: dict[str, Device] = {}
    done = asyncio.Event()

    def on_found(device: Device) -> None:
        found[device.name] = device
        if len(found) >= expected:
            done.set()

    browser = DeviceBrowser(cluster, on_found, only=only)
    await browser.async_start()
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        log.info("found %d of %d agents in %.0f s", len(found), expected, timeout)
    finally:
        await browser.async_stop()
    return [found[name] for name in sorted(found)][: max(expected, 0)]


__all__ = ["SERVICE", "Device", "DeviceBrowser", "async_find_devices", "static_devices"]
