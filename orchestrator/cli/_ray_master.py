"""``mchair master --backend ray``: the device actors on Ray (local or ``--ray-address``), then the master.

The devices are cluster.yaml's ``devices`` (their names and camera flags; host and port are the
actors' own) or ``--devices N`` named ray0, ray1, ...; ``--camera NAME=SPEC`` gives a device a
camera (default: the listed cameras, else ray0, each ``synthetic:<index>``). The cluster.yaml's
``agent``, ``motion``, ``game`` and ``metrics`` sections apply; the master writes the cluster.yaml
of the run (static discovery, a fresh secret) under the work directory, for ``mchair motion`` and
``mchair status``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from worker.cluster import parse_codec_settings
from worker.errors import UserError

from ..master import Device, Master
from ..profile import Profile
from ..ray_backend import RayCluster, RaySession, camera_resource, import_ray
from ._codec_args import codec_section, codec_settings

SECTIONS = ("name", "agent", "motion", "game", "metrics")
Play = Callable[[Master, list[Device]], Awaitable[None]]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ray backend's options of ``mchair master``."""
    p.add_argument("--backend", choices=("agents", "ray"), default="agents",
                   help="agents: agent processes found by discovery (default); ray: one Ray actor per device "
                        "(pip install musical-chair[ray])")
    p.add_argument("--ray-address", metavar="ADDR", help="ray backend: join this Ray cluster (default: start a "
                   "local Ray on this machine)")
    p.add_argument("--camera", action="append", default=[], metavar="NAME=SPEC",
                   help="ray backend: device NAME has the camera SPEC (synthetic:SEED, device:N, rtsp://...); "
                        "its actor runs on the node offering the resource camera:NAME (repeatable)")
    p.add_argument("--ray-cpus", type=float, metavar="C",
                   help="ray backend: CPUs each device actor asks for (default: the profile's cores, scaled "
                        "down to fit the cluster)")
    p.add_argument("--max-in-flight", type=int, default=8, metavar="N",
                   help="ray backend: unfinished object-store sends per edge before a batch is dropped (default 8)")


def device_layout(args: argparse.Namespace, raw: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(device names, camera specs of the first ones): the cameras come first, as RayCluster takes them."""
    listed = [(str(d.get("name")), bool(d.get("camera", False))) for d in raw.get("devices") or []]
    names = [n for n, _ in listed] or [f"ray{i}" for i in range(args.devices)]
    if not names:
        raise UserError("--backend ray: expected --devices N or a devices list in the cluster.yaml")
    if args.devices and args.devices != len(names):
        raise UserError(f"--devices {args.devices}: the cluster.yaml lists {len(names)} devices")
    specs: dict[str, str] = {}
    for item in args.camera:
        name, sep, spec = item.partition("=")
        if not sep or name not in names or not spec:
            raise UserError(f"--camera {item}: expected NAME=SPEC with NAME one of {', '.join(names)}")
        specs[name] = spec
    if not specs:
        cameras = [n for n, camera in listed if camera] or names[:1]
        specs = {n: f"synthetic:{i}" for i, n in enumerate(cameras)}
    ordered = [n for n in names if n in specs] + [n for n in names if n not in specs]
    return ordered, [specs[n] for n in ordered if n in specs]


async def async_serve_ray(args: argparse.Namespace, profile: Profile, play: Play) -> Master:
    """Start (or join) Ray, the device actors and the master; ``play`` the run; stop all; the master."""
    import_ray()   # before anything starts: without the extra, one line and exit status 2
    raw = yaml.safe_load(Path(args.cluster).read_text()) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{args.cluster}: expected a mapping")
    names, specs = device_layout(args, raw)
    settings = {k: raw[k] for k in SECTIONS if k in raw}
    codecs = codec_settings(args, parse_codec_settings(raw.get("codecs"), str(args.cluster)))
    settings["codecs"] = codec_section(codecs)
    work = Path(args.work_dir) / "ray"
    agent = dict(raw.get("agent") or {})
    agent["port"] = 0
    if args.ray_address is None:
        agent.setdefault("cache_dir", str((work / "artifacts").resolve()))
    settings["agent"] = agent
    cameras = {camera_resource(n): 1.0 for n in names[:len(specs)]}
    session = RaySession(address=args.ray_address, build_dir=Path("build"),
                         resources=cameras if args.ray_address is None else {}).start()
    try:
        local = RayCluster(work, len(names), session, profile, camera_specs=specs, cameras=len(specs), names=names,
                           settings=settings, cpus=args.ray_cpus, max_in_flight=args.max_in_flight)
        master, devices = await local.async_start_with_master(args.model, profile, algorithm=args.algorithm,
                                                              fps=args.fps)
        print(f"ray backend: {len(devices)} device actors ({local.resources}); this run's cluster.yaml: "
              f"{local.config_path}", flush=True)
        try:
            await play(master, devices)
        finally:
            await local.async_stop_with(master, "master stopping")
    finally:
        session.stop()
    return master


__all__ = ["add_arguments", "async_serve_ray", "device_layout"]
