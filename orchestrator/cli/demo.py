"""``mchair demo``: a local cluster (N agent processes on 127.0.0.1, real zeroconf, TCP and LiteRT)
runs a model on synthetic video; or, with ``--devices 0``, the single-process stream reference."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from worker.agent import SHUTDOWN_EXIT
from worker.camera import SyntheticCamera, preprocess
from worker.errors import UserError
from worker.executor import BACKENDS

from ..master import LocalCluster, async_run, verify_runs
from ..profile import find_profile
from ..toolchain.model import model_of
from ..toolchain.reference import StreamReference
from ..toolchain.zoo import build_model, find_spec
from ._codec_args import add_codec_arguments, codec_section, codec_settings
from ._table import format_table
from .master import format_links, format_report, format_streams


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``demo``."""
    p.add_argument("--devices", type=int, default=3, metavar="N",
                   help="agent processes on 127.0.0.1 (default 3); 0: the single-process reference alone")
    p.add_argument("--profile", default="xeon-2core", metavar="P",
                   help="profile the master plans with (default xeon-2core, measured on a 2-core x86 VM)")
    p.add_argument("--work-dir", type=Path, default=Path("build/demo"), metavar="DIR",
                   help="cluster.yaml, secret, artifacts and agent logs (default build/demo)")
    p.add_argument("--model", default="action-recognition", help="built-in model or spec (default: action-recognition)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to run (default 10)")
    p.add_argument("--frames", type=int, help="stop after this many frames instead")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and of the synthetic video")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="executor (default: LiteRT if installed)")
    add_codec_arguments(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.devices < 0:
        raise UserError(f"--devices {args.devices}: expected 0 (single process) or more agents")
    if args.devices == 0:
        return _run_single(args)
    return asyncio.run(_run_cluster(args))


async def _run_cluster(args: argparse.Namespace) -> int:
    spec = find_spec(args.model)
    profile = find_profile(args.profile)
    print(f"building {spec.name} (cached after the first run) ...", file=sys.stderr, flush=True)
    model = model_of(build_model(spec), args.model)
    # The stream starts once every agent is found (the synthetic video's motion would start it on the
    # first, then re-seat it as the others join): the figures are then those of the whole cluster.
    # `mchair bench reassign` and tests/orchestrator/master/test_chairs.py play the game itself.
    codecs = codec_settings(args)
    local = LocalCluster(args.work_dir, args.devices, args.seed, settings={
        "motion": {"enabled": False},
        "codecs": codec_section(codecs)})
    print(f"starting {args.devices} agents on 127.0.0.1 (logs in {args.work_dir / 'logs'}) ...", file=sys.stderr,
          flush=True)
    master, devices = await local.async_start_with_master(model, profile)
    try:
        print(f"found {', '.join(d.peer.device for d in devices)} with zeroconf; planning with profile "
              f"{profile.name} and assigning (artifacts go over TCP) ...", file=sys.stderr, flush=True)
        report = await async_run(master, devices, local.recorder, args.seconds,
                                 lambda line: print(f"  {line}", file=sys.stderr, flush=True))
        await asyncio.sleep(1.5)   # one more heartbeat: the recorder's last frame numbers
    finally:
        codes = await local.async_stop_with(master, "demo over")
    stream = master.streams[local.recorder]
    print(f"replaying the recorded frames of {len(stream.runs)} epoch(s) through the single-process reference "
          f"to check {len(stream.inferences())} results ...", file=sys.stderr, flush=True)
    verdict = verify_runs(spec, local.cameras[local.recorder], stream.runs, codecs.error_budget)
    master.record_output_error(local.recorder, verdict.worst)
    print(format_report(report))
    print("\n" + format_streams(master))
    print("\ntensors on the network (codecs: " + ", ".join(codecs.choose)
          + f"; output error budget {codecs.error_budget:g})\n" + format_links(master, report.seconds))
    print(f"\nagents exited with {codes} ({SHUTDOWN_EXIT}: stopped by the demo's Shutdown)")
    if verdict.ok:
        within = f" within the error budget {codecs.error_budget:g}" if codecs.error_budget else ""
        print(f"all {verdict.checked} results checked equal the single-process reference tag by tag{within} "
              f"(output error: largest relative difference {verdict.worst:.1e}; {verdict.unchecked} not "
              f"checked: their frame numbers had not been reported)")
        return 0
    print(f"MISMATCH: {verdict.equal} of {verdict.checked} results equal the reference; first bad tag "
          f"{verdict.first_bad_tag}, largest relative difference {verdict.worst:.1e}"
          + (f"; {verdict.misshapen} not of the reference's shape" if verdict.misshapen else ""))
    return 1


def _run_single(args: argparse.Namespace) -> int:
    spec = find_spec(args.model)
    print(f"building {spec.name} (cached after the first run) ...", file=sys.stderr, flush=True)
    model = build_model(spec, seed=args.seed)
    ref = StreamReference(model, backend=args.backend)
    camera = SyntheticCamera(seed=args.seed)
    print(f"running {spec.name} on synthetic video, single process, "
          f"{f'{args.frames} frames' if args.frames else f'{args.seconds:g} s'}", file=sys.stderr, flush=True)
    started = last_report = time.perf_counter()
    frames = results = 0
    first_tag = None
    for tag, frame in enumerate(camera.frames(args.frames)):
        out = ref.push(tag, preprocess(frame, spec.input.shape))
        frames += 1
        results += len(out)
        if out and first_tag is None:
            first_tag = out[0].tag
        now = time.perf_counter()
        if now - last_report >= 1.0:
            print(f"  {now - started:5.1f} s  frames {frames:6d}  results {results:6d}  "
                  f"IPS {results / (now - started):7.1f}", file=sys.stderr, flush=True)
            last_report = now
        if args.frames is None and now - started >= args.seconds:
            break
    elapsed = time.perf_counter() - started
    rows = [[b, ref.block_runs[b], 1000 * ref.block_seconds[b] / max(ref.block_runs[b], 1),
             100 * ref.block_seconds[b] / elapsed] for b in ref.block_runs]
    print(format_table(["block", "runs", "ms per run", "% of time"], rows))
    print(f"\n{spec.name}: {frames} frames, {results} results in {elapsed:.1f} s: "
          f"{results / elapsed:.1f} inferences per second ({frames / elapsed:.1f} frames/s); "
          f"first result at tag {first_tag}")
    return 0
