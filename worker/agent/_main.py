"""``python -m worker.agent`` (and ``mchair agent``): run one agent until SIGINT, SIGTERM or a Shutdown, or
print the systemd unit that runs it (``--print-systemd``). A master that stops or dies does not stop
it: it keeps its cache, models and camera and joins the next master. After a Shutdown it exits with
``SHUTDOWN_EXIT``, which its systemd unit does not restart."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from worker.errors import UserError

from ._systemd import SHUTDOWN_EXIT, UNIT_FILE, systemd_unit

# The agent, the camera and the cluster config are imported when the agent starts, not to print --help.
if TYPE_CHECKING:
    from worker.camera import CameraSource

    from ._agent import Agent

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent's options (shared by ``python -m worker.agent`` and ``mchair agent``)."""
    parser.add_argument("--name", required=True, help="this device's name (unique in the cluster)")
    parser.add_argument("--cluster", default="cluster.yaml", help="the cluster configuration (default cluster.yaml)")
    parser.add_argument("--port", type=int, help="TCP port to listen on (default: agent.port of the cluster; 0: any)")
    parser.add_argument("--host", help="address to listen on (default: the cluster's first interface, else all)")
    parser.add_argument("--camera", default="synthetic", metavar="SPEC",
                        help="this device's camera: none, or synthetic[:SEED[:SCRIPT]] (SCRIPT: steps like "
                             "still30,move60,cut1), file:PATH, device:N, rtsp://..., picamera, dir:PATH "
                             "(default synthetic, seeded with --seed)")
    parser.add_argument("--no-advertise", action="store_true", help="do not advertise with zeroconf")
    parser.add_argument("--seed", type=int, default=0, help="seed of --camera synthetic (default 0)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="INFO", type=str.upper,
                        help="logging level (default INFO)")
    parser.add_argument("--print-systemd", action="store_true",
                        help="print a systemd unit that runs this agent with these options (absolute paths, this "
                             "Python, this user) and exit without starting anything; install it with: ... "
                             f"--print-systemd | sudo tee {UNIT_FILE}; sudo systemctl daemon-reload; "
                             "sudo systemctl enable --now mchair-agent")


def open_camera_option(spec: str, seed: int) -> CameraSource | None:
    """The camera ``--camera`` names (None for ``none``; plain ``synthetic`` is seeded with ``seed``)."""
    if spec == "none":
        return None
    from worker.camera import open_camera

    # Seeded here so the source the agent advertises names the seed: the master replays that camera.
    return open_camera(f"synthetic:{seed}" if spec == "synthetic" else spec)


def _checked_name(args: argparse.Namespace) -> str:
    """``--name`` stripped; UserError for a bad name or ``--port``."""
    name = args.name.strip()
    if not name or any(c.isspace() for c in name) or ":" in name:
        raise UserError(f"--name {args.name!r}: expected a device name without spaces or ':'")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: expected 0..65535")
    return name


def build_agent(args: argparse.Namespace) -> Agent:
    """The agent the options describe; UserError (ConfigError) for a bad name, cluster file, secret or camera."""
    from worker.cluster import load_cluster
    from worker.wire import Peer

    from ._agent import Agent

    name = _checked_name(args)
    cluster = load_cluster(args.cluster)
    secret = cluster.secret()
    host = args.host or (cluster.interfaces[0] if cluster.interfaces else "0.0.0.0")
    camera = open_camera_option(args.camera, args.seed)   # last: nothing else can fail once it is open
    return Agent(name, secret, host=host, port=cluster.agent.port if args.port is None else args.port,
                 settings=cluster.agent, camera=camera, motion=cluster.motion,
                 master=Peer("master", cluster.master.host, cluster.master.port),
                 advertise=cluster.discovery == "zeroconf" and not args.no_advertise,
                 interfaces=cluster.interfaces, cluster=cluster.name, data=cluster.security.data)


def print_systemd(args: argparse.Namespace) -> int:
    """Print the systemd unit for these options (``--print-systemd``); UserError for a bad name or cluster file."""
    name = _checked_name(args)
    from worker.cluster import load_cluster

    # A unit pointing at a broken config would only fail at every restart: check it (and its secret) now.
    load_cluster(args.cluster).secret()
    # Options left at their defaults are left out: the unit runs the same agent, and reads shorter.
    print(systemd_unit(name, args.cluster, log_level=args.log_level,
                       camera=None if args.camera == "synthetic" else args.camera, port=args.port, host=args.host,
                       seed=args.seed or None, no_advertise=args.no_advertise), end="")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the agent the options describe until it is stopped; its exit status (0, or ``SHUTDOWN_EXIT``
    after a Shutdown); UserError for bad options or config."""
    if getattr(args, "print_systemd", False):
        return print_systemd(args)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    agent = build_agent(args)
    try:
        asyncio.run(_async_serve(agent))
    finally:
        close = getattr(agent.camera, "close", None)   # CameraSource has close(); a bare FrameSource may not
        if callable(close):
            close()
    return SHUTDOWN_EXIT if agent.shutdown_reason is not None else 0


async def _async_serve(agent: Agent) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Handlers first: a signal that comes while the agent starts must stop it too, not kill it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    await agent.async_start()
    waiting = [asyncio.ensure_future(agent.async_wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiting:
            task.cancel()
        await agent.async_stop()


def main(argv: Sequence[str] | None = None, prog: str = "python -m worker.agent") -> int:
    """Parse ``argv``, run the agent; a bad option, cluster file or secret: one line and exit status 2."""
    parser = argparse.ArgumentParser(prog=prog, description="musical-chair agent: runs this device's seats.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


__all__ = ["LOG_LEVELS", "add_arguments", "build_agent", "main", "open_camera_option", "print_systemd", "run"]
