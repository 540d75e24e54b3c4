"""Zeroconf advertisement: ``<device>._mchair._tcp.local.`` with the TXT record the master reads."""

from __future__ import annotations

import logging
import os
import platform
import socket
from collections.abc import Mapping, Sequence

import psutil
from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from worker import __version__

log = logging.getLogger("mchair.agent")

SERVICE = "_mchair._tcp.local."
MAX_SOURCE_BYTES = 240   # "source=" and the spec must fit one 255-byte TXT string


def device_properties(device: str, port: int, camera: bool, device_type: str = "",
                      source: str = "", cluster: str = "") -> dict[str, str]:
    """The TXT record: device, type, memory_mb, cores, camera (0/1), version, port, source (the camera's
    spec, e.g. ``synthetic:3:still30,move60``, so the master can replay a synthetic camera; '' without),
    cluster (its name in cluster.yaml: masters of other clusters on the LAN leave the agent alone)."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        # A TXT string holds 255 bytes: a cut spec would replay the wrong frames, none is better.
        log.warning("camera spec of %d bytes is too long to advertise: source left empty", len(source.encode()))
        source = ""
    return {"device": device, "type": device_type or platform.machine() or "unknown",
            "memory_mb": str(int(psutil.virtual_memory().total / 2**20)), "cores": str(os.cpu_count() or 1),
            "camera": "1" if camera else "0", "version": __version__, "port": str(port), "source": source,
            "cluster": cluster}


def reachable_address(host: str) -> str:
    """The IPv4 address to advertise for a listening ``host`` (a wildcard: the one the default route uses)."""
    if host not in ("", "0.0.0.0"):
        return socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class Advertiser:
    """Registers the agent's service on start, withdraws it on stop (registration takes ~1.6 s)."""

    def __init__(self, device: str, host: str, port: int, properties: Mapping[str, str],
                 interfaces: Sequence[str] = ()) -> None:
        self.device, self.address, self.port = device, reachable_address(host), port
        self.interfaces = list(interfaces)
        self.info = ServiceInfo(SERVICE, f"{device}.{SERVICE}", addresses=[socket.inet_aton(self.address)],
                                port=port, properties=dict(properties), server=f"{device}.local.")
        self._zc: AsyncZeroconf | None = None

    async def async_start(self) -> None:
        """Announce the service (returns once the announcements went out)."""
        self._zc = AsyncZeroconf(interfaces=self.interfaces) if self.interfaces else AsyncZeroconf()
        try:
            # The first await queues the probes; the returned awaitable completes once announced.
            await (await self._zc.async_register_service(self.info, allow_name_change=False))
        except BaseException:
            await self._zc.async_close()
            self._zc = None
            raise
        log.info("advertised %s at %s:%d", self.info.name, self.address, self.port)

    async def async_stop(self) -> None:
        """Withdraw the service and close zeroconf (idempotent)."""
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            await (await zc.async_unregister_service(self.info))
        except Exception as exc:  # noqa: BLE001 - stopping anyway; the record expires with its TTL
            log.warning("could not withdraw %s: %s", self.info.name, exc)
        await zc.async_close()


__all__ = ["SERVICE", "Advertiser", "device_properties", "reachable_address"]
