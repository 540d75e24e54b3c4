"""Finding the agents: the static list of cluster.yaml, or their zeroconf advertisements."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from worker.cluster import ClusterConfig
from worker.table import Peer

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


async def async_find_devices(cluster: ClusterConfig, expected: int, timeout: float,
                             only: Collection[str] | None = None) -> list[Device]:
    """The cluster's devices: the static list, or the first ``expected`` agents advertised within
    ``timeout`` seconds (fewer if that is all there is), in name order; ``only`` these names if given."""
    if cluster.discovery == "static":
        return [Device(Peer(d.name, d.host, d.port), d.camera) for d in cluster.devices]
    found: dict[str, Device] = {}
    done = asyncio.Event()
    interfaces = list(cluster.interfaces) or None
    aiozc = AsyncZeroconf(interfaces=interfaces) if interfaces else AsyncZeroconf()
    pending: set[asyncio.Task[None]] = set()

    async def resolve(name: str) -> None:
        info = await aiozc.async_get_service_info(SERVICE, name, timeout=3000)
        if info is None:
            return
        props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        addresses = info.parsed_addresses()
        if not addresses or "device" not in props:
            log.warning("ignoring %s: no address or no device name in its TXT record", name)
            return
        if only is not None and props["device"] not in only:
            return
        found[props["device"]] = Device(Peer(props["device"], addresses[0], int(info.port or 0)),
                                        props.get("camera") == "1", props.get("type", ""),
                                        float(props.get("memory_mb", 0) or 0), int(props.get("cores", 0) or 0))
        if len(found) >= expected:
            done.set()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            task = asyncio.ensure_future(resolve(name))
            pending.add(task)
            task.add_done_callback(pending.discard)

    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE, handlers=[on_change])
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except asyncio.TimeoutError:
        log.info("found %d of %d agents in %.0f s", len(found), expected, timeout)
    finally:
        await browser.async_cancel()
        for task in pending:
            task.cancel()
        await aiozc.async_close()
    return [found[name] for name in sorted(found)][: max(expected, 0)]


__all__ = ["SERVICE", "Device", "async_find_devices"]
