"""``mchair model build|inspect|partition|check``: the model toolchain on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from worker.errors import UserError
from worker.executor import BACKENDS
from worker.wire import CODECS, parse_codec

from ..toolchain.activations import CutSizes
from ..toolchain.check import TOLERANCE, check_partition
from ..toolchain.manifest import load_manifest
from ..toolchain.model import Model, open_model
from ..toolchain.partition import balanced_cuts, partition, resolve_cuts, resolve_shards
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table, human_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options and sub-commands of ``model``."""
    msub = parser.add_subparsers(dest="model_command", required=True, metavar="SUBCOMMAND")

    p = msub.add_parser("build", help="write one .tflite per block of a model spec")
    p.add_argument("name", metavar="NAME", help="built-in model name or spec .yaml")
    p.add_argument("--weights", metavar="W.npz", help="weights by LAYER/kernel, LAYER/bias (else seeded random)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--out", type=Path, help="output directory (default: the model cache)")
    p.set_defaults(run=_build)

    p = msub.add_parser("inspect", help="per-layer ops, shapes, weights, MACs and cut sizes")
    p.add_argument("model", metavar="MODEL", help="built-in name, spec .yaml or any .tflite")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--codec", metavar="C", help=f"also the bytes of every cut with codec C ({', '.join(CODECS)}), "
                   "measured on the model's activations over synthetic camera frames, and their ratio to the "
                   "raw camera frame")
    p.add_argument("--frames", type=int, default=3, metavar="N", help="--codec: results measured on (default 3)")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(run=_inspect)

    p = msub.add_parser("partition", help="cut into tasks and shards, one standalone .tflite each")
    p.add_argument("model", metavar="MODEL", help="built-in name, spec .yaml or any .tflite")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--cuts", metavar="A,B,...", help="cut after these layers (names, or counts for one block)")
    how.add_argument("--stages", type=int, metavar="K", help="cut every block into K tasks of balanced MACs")
    p.add_argument("--shard", action="append", default=[], metavar="LAYER=K",
                   help="split a conv (by filters) or fc (by units) layer into K shards; repeatable")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory for artifacts and manifest")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights of a built-in model")
    p.add_argument("--weights", metavar="W.npz", help="weights for a built-in model or spec")
    p.set_defaults(run=_partition)

    p = msub.add_parser("check", help="run a partition's tasks chained and compare with the whole model")
    p.add_argument("directory", type=Path, metavar="DIR", help="a directory written by `model partition`")
    p.add_argument("--samples", type=int, default=3, metavar="N", help="random inputs per block (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="executor (default: LiteRT if installed)")
    p.set_defaults(run=_check)


def _build(args: argparse.Namespace) -> int:
    spec = find_spec(args.name)
    print(f"building {spec.name} (seed {args.seed}{', weights ' + args.weights if args.weights else ''})",
          file=sys.stderr)
    model = build_model(spec, seed=args.seed, weights=args.weights, out=args.out)
    rows = [[b.name, "built-in step" if not b.file else str(model.directory / b.file),
             " + ".join(str(s) for s in b.input_shapes), str(b.output_shapes[0]),
             human_bytes((model.directory / b.file).stat().st_size) if b.file else "-"]
            for b in model.blocks.values()]
    print(format_table(["block", "file", "inputs", "output", "size"], rows))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    model = open_model(args.model, seed=args.seed)
    name, blocks = model.name, model.blocks
    sizes = _codec_sizes(args, model) if args.codec else None
    report: list[dict[str, Any]] = []
    for block in blocks:
        if block.graph is None:
            report.append({"block": block.name, "builtin": block.builtin, "layers": []})
            continue
        stats = model.layers(block.name)
        coded = [sizes.cut_bytes(block, s.index) for s in stats] if sizes else []
        layers = [asdict(s) for s in stats]
        for layer, nbytes in zip(layers, coded):
            assert sizes is not None
            layer.update(codec=args.codec, codec_cut_bytes=nbytes, codec_cut_per_frame=nbytes / sizes.frame_bytes)
        report.append({"block": block.name, "file": block.file, "layers": layers})
        if args.json:
            continue
        ins = ", ".join(f"{r.name} {r.shape}" for r in block.inputs)
        print(f"\n{name} / {block.name}  ({len(stats)} layers; input {ins})")
        rows = [[s.index, s.name, "+".join(dict.fromkeys(s.ops)), str(s.output_shape), human_bytes(s.weight_bytes),
                 s.macs, human_bytes(s.output_bytes), f"{human_bytes(s.cut_bytes)} ({s.cut_tensors})",
                 round(s.cut_ratio, 3)]
                + ([human_bytes(c), round(c / sizes.frame_bytes, 3)] if sizes else [])
                + [f"{s.shard_units}" if s.shardable else "-", s.why_not_partitionable or s.notes]
                for s, c in zip(stats, coded or [0] * len(stats))]
        codec = [f"cut in {args.codec}", "/ raw frame"] if sizes else []
        print(format_table(["#", "layer", "ops", "output", "weights", "MACs", "out bytes",
                            "cut after (tensors)", "cut/input", *codec, "shard units", "cannot partition / notes"],
                           rows))
    for block in blocks:
        if block.graph is None and not args.json:
            print(f"\n{name} / {block.name}: built-in step {block.builtin} (runs on the recorder)")
    if args.json:
        print(json.dumps({"model": name, "blocks": report}, indent=1))
    return 0


def _codec_sizes(args: argparse.Namespace, model: Model) -> CutSizes:
    try:
        parse_codec(args.codec)
    except ValueError as exc:
        raise UserError(f"--codec {args.codec}: {exc}") from None
    if args.frames < 1:
        raise UserError(f"--frames {args.frames}: expected at least 1")
    print(f"running {args.model} on {args.frames} result(s) of synthetic camera frames to size its cuts in "
          f"{args.codec} ...", file=sys.stderr, flush=True)
    return CutSizes(model, args.codec, args.frames)


def _partition(args: argparse.Namespace) -> int:
    model = open_model(args.model, weights=args.weights, seed=args.seed)
    name, blocks = model.name, list(model.blocks)
    shards: dict[str, int] = {}
    for item in args.shard:
        layer, _, k = item.partition("=")
        if not layer or not k.isdigit():
            raise UserError(f"--shard {item}: expected LAYER=K with K an integer")
        shards[layer] = int(k)
    if args.stages is not None:
        if args.stages < 1:
            raise UserError(f"--stages {args.stages}: expected at least 1")
        cuts = {b.name: balanced_cuts(b.graph, args.stages) for b in blocks if b.graph is not None}
    else:
        cuts = resolve_cuts(blocks, [c for c in (args.cuts or "").split(",") if c.strip()])
    manifest = partition(blocks, name, args.out, cuts, resolve_shards(blocks, shards))
    rows = []
    for t in manifest.tasks:
        layers = f"{t.layers[0]}..{t.layers[-1]}" if len(t.layers) > 1 else (t.layers[0] if t.layers else t.builtin)
        files = (t.artifact.file[:12] if t.artifact else f"{len(t.shards)} shards" if t.shards else "built-in")
        rows.append([t.name, layers, t.macs, human_bytes(t.weight_bytes),
                     ", ".join(r.name for r in t.inputs), human_bytes(sum(r.nbytes for r in t.outputs)), files])
    print(format_table(["task", "layers", "MACs", "weights", "inputs", "out bytes", "artifact"], rows))
    print(f"manifest: {args.out / 'manifest.json'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.directory)
    results = check_partition(manifest, args.directory, args.samples, args.seed, args.backend)
    print(format_table(["block", "tasks", "samples", "max abs error", "max rel error", "outputs vary", "ok"],
                       [[r.block, r.tasks, r.samples, f"{r.max_abs:.3e}", f"{r.max_rel:.3e}",
                         "yes" if r.varies else "NO", "yes" if r.ok else "NO"] for r in results]))
    bad = [r.block for r in results if r.max_rel > TOLERANCE]
    if bad:
        print(f"over tolerance ({TOLERANCE:g} of the output's max magnitude): {', '.join(bad)}", file=sys.stderr)
    constant = [r.block for r in results if not r.varies]
    if constant:
        print(f"outputs did not change across {args.samples} different inputs (the check proves nothing): "
              f"{', '.join(constant)}", file=sys.stderr)
    if bad or constant:
        return 1
    return 0
