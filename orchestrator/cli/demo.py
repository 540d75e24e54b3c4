"""``mchair demo``: the action model on synthetic video, single process (the stream reference)."""

from __future__ import annotations

import argparse
import sys
import time

from worker.camera import SyntheticCamera, preprocess
from worker.executor import BACKENDS

from ..toolchain.reference import StreamReference
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    p = sub.add_parser("demo", help="run a model on synthetic video and print inferences per second")
    p.add_argument("--model", default="action-recognition", help="built-in model or spec (default: action-recognition)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to run (default 10)")
    p.add_argument("--frames", type=int, help="stop after this many frames instead")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and of the synthetic video")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="executor (default: LiteRT if installed)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    spec = find_spec(args.model)
    print(f"building {spec.name} (cached after the first run) ...", file=sys.stderr, flush=True)
    model = build_model(spec, seed=args.seed)
    ref = StreamReference(model, backend=args.backend)
    camera = SyntheticCamera(seed=args.seed)
    print(f"running {spec.name} on synthetic video, single process, "
          f"{'%d frames' % args.frames if args.frames else '%g s' % args.seconds}", file=sys.stderr, flush=True)
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
