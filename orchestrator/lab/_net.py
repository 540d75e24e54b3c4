"""Network namespaces, the bridge and the veth links of a lab; entering a namespace from Python.

Everything lives inside namespaces the lab creates (the bridge in one of its own): the host's
interfaces, routes and qdiscs are never touched.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from worker.errors import UserError

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
SUBNET = "10.213.0"              # a /24 that exists only inside the lab's namespaces
BRIDGE = "br0"                   # inside the bridge namespace: its name cannot collide with the host's
IFNAME = "eth0"                  # every device's link, inside its own namespace


class LabCommandError(UserError):
    """A command the lab ran (ip, tc, nft) failed."""


def require_root() -> None:
    """UserError unless this process may create network namespaces (root, Linux, ``ip`` installed)."""
    if not sys.platform.startswith("linux"):
        raise UserError("mchair lab needs Linux network namespaces; this is " + sys.platform)
    if os.geteuid() != 0:
        raise UserError("mchair lab needs root (network namespaces, tc, cgroups): run it with sudo")
    if shutil.which("ip") is None or shutil.which("tc") is None:
        raise UserError("mchair lab needs `ip` and `tc`: apt-get install -y iproute2")
    if not os.path.exists("/proc/self/ns/net"):
        raise UserError("mchair lab needs network namespaces, which this kernel does not offer")


def run(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    """Run one command (ip, tc, nft); its stdout, or LabCommandError with its stderr."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabCommandError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def address(index: int) -> str:
    """The lab address of port ``index`` (0: the master, 1..: the devices)."""
    if not 0 <= index < 250:
        raise UserError(f"a lab holds at most 249 devices, asked for port {index}")
    return f"{SUBNET}.{index + 1}"


def namespaces(prefix: str) -> list[str]:
    """The network namespaces whose names start with ``prefix`` + '-'."""
    if not os.path.isdir(NETNS_DIR):
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix + "-"))


def add_bridge(netns: str) -> None:
    """The namespace holding the bridge every link is a port of (no address: it only switches)."""
    run("ip", "netns", "add", netns)
    run("ip", "-n", netns, "link", "set", "lo", "up")
    run("ip", "-n", netns, "link", "add", BRIDGE, "type", "bridge")
    # Multicast must be flooded to every port: zeroconf's queries and answers are multicast.
    run("ip", "-n", netns, "link", "set", BRIDGE, "type", "bridge", "mcast_snooping", "0")
    run("ip", "-n", netns, "link", "set", BRIDGE, "up")


def add_namespace(netns: str) -> None:
    """A namespace with its loopback up."""
    run("ip", "netns", "add", netns)
    run("ip", "-n", netns, "link", "set", "lo", "up")


def add_veth(bridge_ns: str, netns: str, port: str) -> None:
    """A veth pair: ``port`` in the bridge namespace, ``eth0`` in ``netns``."""
    run("ip", "-n", bridge_ns, "link", "add", "name", port, "type", "veth", "peer", "name", IFNAME, "netns", netns)


def attach(bridge_ns: str, netns: str, port: str, addr: str) -> None:
    """Make ``port`` a port of the bridge and give ``netns``'s ``eth0`` the address ``addr``/24."""
    run("ip", "-n", bridge_ns, "link", "set", port, "master", BRIDGE)
    run("ip", "-n", bridge_ns, "link", "set", port, "up")
    run("ip", "-n", netns, "addr", "add", f"{addr}/24", "dev", IFNAME)
    run("ip", "-n", netns, "link", "set", IFNAME, "up")
    # mDNS goes to 224.0.0.251 over eth0, not lo: a route for multicast makes that explicit.
    run("ip", "-n", netns, "route", "add", "224.0.0.0/4", "dev", IFNAME)


def set_port(bridge_ns: str, port: str, up: bool) -> None:
    """Take a port's link down (frames to and from it vanish: no RST, no FIN) or bring it back."""
    run("ip", "-n", bridge_ns, "link", "set", port, "up" if up else "down")


def delete_namespaces(names: Sequence[str]) -> list[str]:
    """Delete these namespaces (their links, bridge and qdiscs go with them); the errors, if any."""
    errors = []
    for name in names:
        if os.path.exists(os.path.join(NETNS_DIR, name)):
            done = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
            if done.returncode != 0:
                errors.append(f"netns {name}: {done.stderr.strip()}")
    return errors


def enter(netns: str) -> None:
    """Move the calling thread (and the threads and processes it starts later) into ``netns``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def run_in(netns: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``main()`` on an event loop of its own in a thread inside ``netns``: every
    socket it opens (the master's server, zeroconf) is in that namespace; this thread stays where it is."""
    outcome: dict[str, Any] = {}

    def thread() -> None:
        try:
            enter(netns)
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=thread, name=f"netns-{netns}", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


__all__ = ["BRIDGE", "IFNAME", "SUBNET", "LabCommandError", "add_bridge", "add_namespace", "add_veth", "address",
           "attach", "delete_namespaces", "enter", "namespaces", "require_root", "run", "run_in", "set_port"]
