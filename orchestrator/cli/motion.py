"""``mchair motion CAMERA [--stop]``: tell the master a camera saw motion (or stopped seeing it), by hand."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from worker.cluster import ClusterConfig, load_cluster
from worker.wire import Motion

from ._master_link import async_connect_master
from .status import async_fetch_status


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``motion``."""
    p.description = ("Sends the Motion event a camera agent's detector sends, signed with the "
                     "cluster secret: for tests, and for motion that comes from elsewhere (a PIR "
                     "sensor, a door contact). The master starts (or stops) CAMERA's stream.")
    p.add_argument("camera", metavar="CAMERA", help="the camera's device name")
    p.add_argument("--stop", action="store_true", help="motion stopped: release the stream's devices")
    p.add_argument("--cluster", type=Path, default=Path("cluster.yaml"), metavar="cluster.yaml",
                   help="the cluster config: where the master listens, and the secret (default cluster.yaml)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    cluster = load_cluster(args.cluster)
    asyncio.run(async_send_motion(cluster, args.camera, not args.stop))
    # Messages are one-way: a signed Status back proves the master took ours (same secret).
    status = asyncio.run(async_fetch_status(cluster))
    cameras = {d.device for d in status.devices if d.camera}
    note = "" if args.camera in cameras else \
        f"; note: the master knows no camera {args.camera!r} (cameras: {', '.join(sorted(cameras)) or 'none'})"
    print(f"motion {'stopped' if args.stop else 'started'} on {args.camera}: taken by the master at "
          f"{cluster.master.host}:{cluster.master.port}{note}")
    return 0


async def async_send_motion(cluster: ClusterConfig, camera: str, moving: bool, score: float = 1.0) -> None:
    """Send one Motion event for ``camera`` to the cluster's master; UserError when it cannot be reached."""
    conn = await async_connect_master(cluster)
    try:
        await conn.async_send(Motion(device="mchair-motion", camera=camera, moving=moving, score=score,
                                     time_ns=time.time_ns()))
    finally:
        await conn.async_close()
