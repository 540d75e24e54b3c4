"""``mchair fleet shutdown``: stop the cluster's agents (they outlive masters otherwise)."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path

from worker.cluster import ClusterConfig, load_cluster
from worker.errors import UserError
from worker.wire import Connection, HandshakeError, Shutdown

from ..master import Device, async_find_devices

TIMEOUT_S = 5.0
ALL = 10**6   # "every agent that advertises itself within --wait"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``fleet``."""
    p.description = "Commands for the cluster's agents as a whole (they outlive masters)."
    sub = p.add_subparsers(dest="fleet_command", required=True, metavar="SUBCOMMAND")
    down = sub.add_parser("shutdown", help="send a signed Shutdown to every agent the cluster file or zeroconf "
                                           "names: they exit and their systemd unit does not restart them",
                          description="Finds the agents (cluster.yaml's list, or zeroconf for --wait seconds) "
                                      "and sends each a Shutdown signed with the cluster's secret. One line per "
                                      "agent; exit status 2 when none answered.")
    down.add_argument("--cluster", type=Path, default=Path("cluster.yaml"), metavar="cluster.yaml",
                      help="the agents' cluster config and secret (default cluster.yaml)")
    down.add_argument("--wait", type=float, default=3.0, metavar="S",
                      help="how long to look for advertised agents (zeroconf; default 3)")
    down.add_argument("--reason", default="mchair fleet shutdown", help="the reason the agents log")
    down.set_defaults(run=_run_shutdown)


@dataclass(frozen=True)
class Sent:
    """What became of one agent's Shutdown: ``error`` is empty when it was sent."""

    device: Device
    error: str = ""


def _run_shutdown(args: argparse.Namespace) -> int:
    if not args.wait > 0:
        raise UserError(f"--wait {args.wait}: expected a positive number of seconds")
    cluster = load_cluster(args.cluster)
    sent = asyncio.run(async_shutdown(cluster, args.wait, args.reason))
    for s in sent:
        where = f"{s.device.name} at {s.device.peer.host}:{s.device.peer.port}"
        print(f"{where}: {s.error}" if s.error else f"{where}: shutdown sent")
    if not any(not s.error for s in sent):
        found = f"none of {len(sent)} agents answered" if sent else "no agent found"
        raise UserError(f"{found} (discovery: {cluster.discovery}, from {cluster.file or args.cluster})")
    return 0


async def async_shutdown(cluster: ClusterConfig, wait_s: float, reason: str) -> list[Sent]:
    """Send every agent of ``cluster`` (its list, or those advertised within ``wait_s``) a Shutdown."""
    devices = await async_find_devices(cluster, ALL, wait_s)
    return list(await asyncio.gather(*(_async_send(cluster, d, reason) for d in devices)))


async def _async_send(cluster: ClusterConfig, device: Device, reason: str) -> Sent:
    """One agent's Shutdown, over a connection that proves the cluster's secret."""
    try:
        conn = await Connection.async_open(device.peer.host, device.peer.port, secret=cluster.secret(),
                                           data=cluster.security.data, max_bytes=cluster.agent.max_frame_bytes,
                                           timeout=TIMEOUT_S)
    except HandshakeError as exc:
        return Sent(device, f"refused: {exc}")
    except (OSError, TimeoutError) as exc:
        return Sent(device, f"cannot connect: {getattr(exc, 'strerror', None) or type(exc).__name__}")
    try:
        await conn.async_send(Shutdown(reason=reason))
    except (OSError, ConnectionError) as exc:
        return Sent(device, f"cannot send: {type(exc).__name__}")
    finally:
        await conn.async_close()
    return Sent(device)


__all__ = ["Sent", "add_arguments", "async_shutdown"]
