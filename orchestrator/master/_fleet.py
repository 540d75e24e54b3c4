"""The devices the master can seat: who is there, who went silent, and what each already holds.

A device is alive from its advertisement (zeroconf) or its first heartbeat (static list) until it
says goodbye, misses heartbeats for ``game.heartbeat_timeout_s``, or its connection to the master
closes and its port refuses connections (a crashed agent: found at once, not after the timeout).
Every change calls ``on_change`` with the reason, which the master turns into a game.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from worker.cluster import ClusterConfig

from ._discovery import Device, DeviceBrowser, static_devices

log = logging.getLogger("mchair.master")
PROBE_TIMEOUT_S = 1.0
PROBES = 4                 # connection attempts after a device's connection closed
PROBE_SPACING_S = 0.1


@dataclass
class Member:
    """One device as the master sees it."""

    device: Device
    alive: bool
    last_heard: float
    held: set[str] = field(default_factory=set)   # artifacts it has loaded (sha256)
    joined: bool = True                           # False for a listed device never heard from yet


class Fleet:
    """The cluster's devices and their liveness."""

    def __init__(self, cluster: ClusterConfig, on_change: Callable[[str], None],
                 only: Collection[str] | None = None, clock: Callable[[], float] = time.monotonic,
                 members: dict[str, Member] | None = None) -> None:
        self.cluster, self._on_change, self._only, self._clock = cluster, on_change, only, clock
        self.timeout_s = cluster.game.heartbeat_timeout_s
        # The fleet keeps these up to date; given: the master's state holds them.
        self.members: dict[str, Member] = {} if members is None else members
        self._browser: DeviceBrowser | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def async_start(self) -> None:
        """Start watching: zeroconf (or the static list) for arrivals, heartbeats for departures."""
        if self.cluster.discovery == "static":
            for device in static_devices(self.cluster):
                if self._only is None or device.name in self._only:
                    # Alive once it is heard from: a listed device may be switched off.
                    self.members[device.name] = Member(device, False, self._clock(), joined=False)
        else:
            self._browser = DeviceBrowser(self.cluster, self.found, self.gone, self._only)
            await self._browser.async_start()
        self._watchdog = asyncio.get_running_loop().create_task(self._async_watch(), name="fleet-watchdog")

    async def async_stop(self) -> None:
        """Stop watching."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        if self._browser is not None:
            await self._browser.async_stop()

    def alive(self) -> list[Device]:
        """The devices alive now, in name order."""
        return [m.device for name, m in sorted(self.members.items()) if m.alive]

    def is_alive(self, name: str) -> bool:
        """True while ``name`` is alive."""
        member = self.members.get(name)
        return member is not None and member.alive

    def device(self, name: str) -> Device | None:
        """A known device by name (alive or not)."""
        member = self.members.get(name)
        return member.device if member else None

    def held(self, name: str) -> frozenset[str]:
        """The artifacts ``name`` has loaded."""
        member = self.members.get(name)
        return frozenset(member.held) if member else frozenset()

    def hold(self, name: str, artifacts: Collection[str]) -> None:
        """``name`` acknowledged a table whose seats need ``artifacts``: it has them now."""
        if name in self.members:
            self.members[name].held.update(artifacts)

    async def async_wait(self, count: int, timeout: float) -> list[Device]:
        """Wait until ``count`` devices are alive (at most ``timeout`` s); the alive ones."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.alive()) < count and (left := deadline - asyncio.get_running_loop().time()) > 0:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                break
        return self.alive()

    # ---- events

    def found(self, device: Device) -> None:
        """An advertisement: a new device, one that came back, or one whose address changed."""
        member = self.members.get(device.name)
        if member is not None and member.alive and member.device == device:
            return
        self.members[device.name] = Member(device, True, self._clock(), member.held if member else set())
        self._change(f"{device.name} joined" if member is None else f"{device.name} is back")

    def gone(self, name: str) -> None:
        """An advertisement withdrawn (the agent stopped)."""
        self.lose(name, "it withdrew its advertisement")

    def heard(self, name: str) -> None:
        """A message from ``name``: it is alive (again, if it had been lost)."""
        member = self.members.get(name)
        if member is None:
            return   # not advertised (yet): the master does not know where it listens
        member.last_heard = self._clock()
        if not member.alive:
            member.alive = True
            self._change(f"{name} {'is back' if member.joined else 'joined'}")
            member.joined = True

    def lose(self, name: str, why: str) -> None:
        """``name`` is gone (``why``): its seats must be re-played."""
        member = self.members.get(name)
        if member is None or not member.alive:
            return
        member.alive = False
        member.held.clear()    # when it comes back it may be a fresh process with nothing loaded
        self._change(f"{name} lost: {why}")

    async def async_probe(self, name: str) -> None:
        """``name``'s connection to the master closed: lost now if its port refuses connections.

        A process that dies closes its connections a moment before its listening socket: a probe
        that still connects is repeated a few times before the device counts as alive."""
        for _ in range(PROBES):
            member = self.members.get(name)
            if member is None or not member.alive:
                return
            peer = member.device.peer
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(peer.host, peer.port), PROBE_TIMEOUT_S)
            except (TimeoutError, OSError) as exc:
                self.lose(name, f"its connection closed and {peer.host}:{peer.port} refuses connections "
                                f"({type(exc).__name__})")
                return
            writer.close()
            await asyncio.sleep(PROBE_SPACING_S)
        log.info("fleet: %s closed its connection but still listens on %s:%d", name, peer.host, peer.port)

    def _change(self, reason: str) -> None:
        log.info("fleet: %s", reason)
        self._changed.set()
        self._on_change(reason)

    async def _async_watch(self) -> None:
        period = min(0.25, self.timeout_s / 4)
        while True:
            await asyncio.sleep(period)
            now = self._clock()
            for name, member in list(self.members.items()):
                if member.alive and now - member.last_heard > self.timeout_s:
                    self.lose(name, f"no heartbeat for {now - member.last_heard:.1f} s")


__all__ = ["Fleet", "Member"]
