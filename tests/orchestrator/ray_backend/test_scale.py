"""Many cameras on one local Ray: 16 camera actors (and 4 without a camera) all seeing motion at once.

The game shares the devices among the 16 streams; every stream's results must equal its camera's
stream reference tag by tag. The throughput of each stream is printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from orchestrator.master import stream_figures
from orchestrator.ray_backend import RaySession

from ._helpers import check_stream, cluster, running, until

CAMERAS = 16
HELPERS = 4
FPS = 20.0           # per camera: over what one rpi3 does (16.3 IPS), so the plans for 2 devices use both
RESULTS = 12
MEASURE_S = 4.0


def test_sixteen_camera_streams(tmp_path: Path, ray_session: RaySession) -> None:
    async def scenario() -> dict[str, tuple[int, float]]:
        async with cluster("ray", tmp_path, CAMERAS + HELPERS, ray_session, cameras=CAMERAS,
                           master_options={"fps": FPS}) as (local, master):
            cameras = list(local.cameras)
            assert len(cameras) == CAMERAS
            for camera in cameras:
                master.motion(camera, True)
            await until("results of every stream", lambda: all(running(master, c, 1)() for c in cameras), 90.0)

            def results(camera: str) -> int:   # over every epoch (a re-seating mid-measure keeps them)
                return len(master.streams[camera].inferences())
            counts = {c: results(c) for c in cameras}
            start = time.monotonic()
            await asyncio.sleep(MEASURE_S)
            seconds = time.monotonic() - start
            ips = {c: (results(c) - counts[c]) / seconds for c in cameras}
            await until(f"{RESULTS} results of every stream", lambda: all(running(master, c, RESULTS)()
                                                                          for c in cameras))
            devices = {c: len(master.streams[c].current.table.devices) for c in cameras}  # type: ignore[union-attr]
        used = [p.device for c in cameras for p in master.streams[c].current.table.devices]  # type: ignore[union-attr]
        assert len(used) == len(set(used)), "every device serves one stream at most"
        assert sum(devices.values()) > CAMERAS, "the devices without a camera were shared out"
        for camera in cameras:
            check_stream(master, local, camera, RESULTS)
            assert stream_figures(master.streams[camera]).duplicates == 0
        return {c: (devices[c], ips[c]) for c in cameras}

    figures = asyncio.run(scenario())
    print(f"\n{CAMERAS} camera streams at {FPS:g} frames/s on {CAMERAS + HELPERS} device actors:")
    for camera, (devices, ips) in figures.items():
        print(f"  {camera}: {devices} device(s), {ips:.1f} IPS")
    total = sum(ips for _, ips in figures.values())
    print(f"  total {total:.1f} IPS, {total / CAMERAS:.2f} per stream")
    assert min(ips for _, ips in figures.values()) >= 0.25 * FPS, figures
