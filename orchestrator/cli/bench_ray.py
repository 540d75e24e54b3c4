"""``mchair bench ray``: the ray backend against the agents backend on this machine.

Two measurements: the IPS of the same model and plan (same devices, profile and camera rate) run by
agent processes and by device actors on a local Ray; and one hop of a TensorBatch between two Ray
actors through the object store against our TCP hop (``bench hop``'s echo server), as the p50 of
round trips, for a few tensor sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worker.errors import UserError
from worker.wire import Tensor, TensorBatch

from ..master import LocalCluster, Report, async_run
from ..profile import Profile, find_profile
from ..ray_backend import (
    RayCluster,
    RaySession,
    camera_resource,
    import_ray,
    pack_batch,
    unpack_batch,
)
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table, human_bytes
from .bench_wire import HOP_COLUMNS, measure_hops, parse_size

DEFAULT_SIZES = ("1KB", "64KB", "1MB", "4MB")
WARM_UP = 3


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench ray``."""
    p = bsub.add_parser("ray", help="IPS of the ray backend against the agents on the same plan; object-store "
                        "hop against our TCP hop")
    p.add_argument("--model", default="alexnet-tiny", help="built-in model (default alexnet-tiny)")
    p.add_argument("--devices", type=int, default=3, metavar="N", help="devices of each backend (default 3)")
    p.add_argument("--profile", default="rpi3", metavar="P", help="profile the plan is made with (default rpi3)")
    p.add_argument("--fps", type=float, default=400.0, metavar="F",
                   help="camera rate, above what the devices do so the pipeline is the limit (default 400)")
    p.add_argument("--seconds", type=float, default=8.0, metavar="S", help="length of each run (default 8)")
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="SIZE",
                   help=f"tensor sizes of the hop, decimal units (default {' '.join(DEFAULT_SIZES)})")
    p.add_argument("--count", type=int, default=50, metavar="N", help="round trips per size and way (default 50)")
    p.add_argument("--work-dir", type=Path, default=Path("build/bench-ray"), metavar="DIR")
    p.set_defaults(run=_bench)


class HopActor:
    """One end of the object-store hop (``ray.remote`` is applied when the benchmark runs)."""

    def echo(self, batch: TensorBatch) -> TensorBatch:
        """Receive a batch as a device actor does (``unpack_batch``) and send it back (``pack_batch``)."""
        return pack_batch(unpack_batch(batch))

    async def round_trips(self, peer: Any, size: int, count: int) -> list[float]:
        """Seconds of ``count`` round trips of a ``size``-byte TensorBatch to ``peer`` and back."""
        values = np.random.default_rng(0).random(size // 4, dtype=np.float32)
        batch = TensorBatch(epoch=1, stream="cam0", tag=0, source="bench", tensors=(Tensor.from_array("x", values),))
        times = []
        for n in range(count + WARM_UP):
            start = time.perf_counter()
            back = unpack_batch(await peer.echo.remote(pack_batch(batch)))
            if back.tensors[0].nbytes != size:
                raise RuntimeError("the echo came back different")
            if n >= WARM_UP:
                times.append(time.perf_counter() - start)
        return times


def _bench(args: argparse.Namespace) -> int:
    sizes = [parse_size(s) for s in args.sizes]
    if args.devices < 1 or args.count < 1 or args.seconds <= 0:
        raise UserError("--devices, --count and --seconds: expected positive numbers")
    import_ray()
    profile = find_profile(args.profile)
    build_model(find_spec(args.model))
    print(f"[1/4] {args.model} on {args.devices} agent processes, camera at {args.fps:g} frames/s, "
          f"{args.seconds:g} s ...", file=sys.stderr, flush=True)
    agents = asyncio.run(_run_agents(args, profile))
    session = RaySession(build_dir=Path("build"), resources={camera_resource("ray0"): 1.0}).start()
    try:
        print(f"[2/4] the same on {args.devices} device actors (local Ray) ...", file=sys.stderr, flush=True)
        ray = asyncio.run(_run_ray(args, profile, session))
        print("[3/4] object-store hop between two actors ...", file=sys.stderr, flush=True)
        store = _store_hops(sizes, args.count)
    finally:
        session.stop()
    print("[4/4] TCP hop (bench hop's echo server) ...", file=sys.stderr, flush=True)
    p50 = HOP_COLUMNS.index("avro p50 ms")
    tcp = {str(row[0]): float(str(row[p50])) for row in measure_hops(sizes, args.count)}
    layout = " | ".join(s.name + (f" x{s.replicas}" if s.replicas > 1 else "") for s in agents.table.stages)
    same = [(s.replicas, s.shards) for s in agents.table.stages] == [(s.replicas, s.shards) for s in ray.table.stages]
    print(f"{args.model}, {args.devices} devices, plan {layout}{'' if same else ' (the ray run got another plan)'}, "
          f"camera at {args.fps:g} frames/s, {args.seconds:g} s each\n")
    rows = [(name, round(r.ips, 2), f"{r.t_forward_ms[0]:.0f} / {r.t_forward_ms[1]:.0f}", r.drops,
             f"{r.ips / agents.ips:.2f}" if agents.ips else "-") for name, r in (("agents", agents), ("ray", ray))]
    print(format_table(("backend", "IPS", "t_forward p50 / p95 ms", "drops", "IPS / agents"), rows))
    hop_rows = []
    for size in sizes:
        key, store_ms = human_bytes(size), 1000 * float(np.percentile(store[size], 50))
        hop_rows.append((key, round(store_ms, 3), round(tcp[key], 3), round(store_ms / 2, 3), round(tcp[key] / 2, 3),
                         round(store_ms / tcp[key], 2)))
    print(f"\nround trips of a TensorBatch, p50 of {args.count} per size\n")
    print(format_table(("size", "object store RTT ms", "TCP RTT ms", "object store hop ms", "TCP hop ms",
                        "store / TCP"), hop_rows))
    print("\nobject store = actor to actor through Ray (.remote() with the batch's arrays, the answer awaited);"
          "\nTCP = our framed Avro TensorBatch through bench hop's echo server; a hop is half a round trip")
    return 0


async def _run_agents(args: argparse.Namespace, profile: Profile) -> Report:
    local = LocalCluster(args.work_dir / "agents", args.devices)
    return await _run(local, args, profile)


async def _run_ray(args: argparse.Namespace, profile: Profile, session: RaySession) -> Report:
    local = RayCluster(args.work_dir / "ray", args.devices, session, profile)
    return await _run(local, args, profile)


async def _run(local: LocalCluster, args: argparse.Namespace, profile: Profile) -> Report:
    master, devices = await local.async_start_with_master(args.model, profile, fps=args.fps)
    try:
        return await async_run(master, devices, local.recorder, args.seconds)
    finally:
        await local.async_stop_with(master, "benchmark over")


def _store_hops(sizes: Sequence[int], count: int) -> dict[int, list[float]]:
    """Round-trip seconds per size between two HopActors."""
    ray = import_ray()
    remote = ray.remote(HopActor).options(num_cpus=0)
    pinger, echo = remote.remote(), remote.remote()
    try:
        return {size: ray.get(pinger.round_trips.remote(echo, size, count)) for size in sizes}
    finally:
        for actor in (pinger, echo):
            ray.kill(actor)


__all__ = ["HopActor", "add_benchmarks"]
