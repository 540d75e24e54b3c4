"""The fleet: devices of a static cluster join when first heard, are lost when silent, come back."""

from __future__ import annotations

import asyncio

from orchestrator.master import Fleet
from worker.cluster import ClusterConfig, DeviceEntry
from worker.wire import Peer

CLUSTER = ClusterConfig(discovery="static", devices=(DeviceEntry("pi1", "127.0.0.1", 1, True),
                                                     DeviceEntry("pi2", "127.0.0.1", 2)))


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_static_devices_join_get_lost_and_come_back() -> None:
    async def scenario() -> list[str]:
        changes: list[str] = []
        clock = Clock()
        fleet = Fleet(CLUSTER, changes.append, clock=clock)
        await fleet.async_start()
        try:
            assert fleet.alive() == [], "listed devices count once they are heard from"
            fleet.heard("pi1")
            fleet.heard("pi2")
            fleet.heard("pi2")
            assert [d.name for d in fleet.alive()] == ["pi1", "pi2"]
            assert fleet.device("pi1").peer == Peer("pi1", "127.0.0.1", 1)  # type: ignore[union-attr]
            fleet.hold("pi2", ["ab" * 32])
            clock.now += 2.0
            fleet.heard("pi1")
            clock.now += 1.5       # pi2 silent for 3.5 s > the default 3 s timeout
            await asyncio.sleep(0.4)
            assert [d.name for d in fleet.alive()] == ["pi1"]
            assert fleet.held("pi2") == frozenset(), "a lost device may come back as a fresh process"
            fleet.heard("pi2")
            fleet.heard("stranger")   # not listed: the master does not know where it listens
            return changes
        finally:
            await fleet.async_stop()

    changes = asyncio.run(scenario())
    assert changes == ["pi1 joined", "pi2 joined", "pi2 lost: no heartbeat for 3.5 s", "pi2 is back"]


def test_a_crashed_device_is_lost_when_its_port_refuses() -> None:
    async def scenario() -> list[str]:
        changes: list[str] = []
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cluster = ClusterConfig(discovery="static", devices=(DeviceEntry("up", "127.0.0.1", port),
                                                             DeviceEntry("down", "127.0.0.1", 1)))
        fleet = Fleet(cluster, changes.append)
        await fleet.async_start()
        try:
            fleet.heard("up")
            fleet.heard("down")
            await fleet.async_probe("up")      # still listening: alive
            await fleet.async_probe("down")    # port 1 refuses: lost at once
            return changes
        finally:
            await fleet.async_stop()
            server.close()

    changes = asyncio.run(scenario())
    assert changes[:2] == ["up joined", "down joined"]
    assert len(changes) == 3 and changes[2].startswith("down lost: its connection closed and 127.0.0.1:1 refuses")
