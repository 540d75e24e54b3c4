"""``mchair profile MODEL`` and ``mchair profile link [HOST:PORT]``: measure this device type.

``profile MODEL`` times every layer (and shards of conv/fc layers) of a model with LiteRT,
fits the behaviour models the planner uses and writes (or extends) a profile YAML.
``profile link`` measures the network with a TCP ping-pong. Both share the word ``profile``:
the first positional is the model, and the literal ``link`` selects the link measurement.
"""

from __future__ import annotations

import argparse
import socket
import sys
from dataclasses import replace
from pathlib import Path

from worker.errors import UserError
from worker.executor import BACKENDS, litert_available

from ..profile import (
    MB,
    LinkMeasurement,
    LinkModel,
    LoadModel,
    Measurement,
    MeasureOptions,
    MemoryModel,
    ModelTimings,
    Profile,
    fit_profile,
    load_profile,
    measure_codec_timings,
    measure_link,
    measure_model,
    save_profile,
    serve_echo,
)
from ..profile._device import default_name, device_facts, power, runtime_versions
from ..profile._link import DEFAULT_PORT, DEFAULT_ROUNDS
from ..profile._model import MEDIA
from ._table import format_table, human_bytes

# Until `profile link` is run against a peer, a new profile assumes the paper's Wi-Fi.
ASSUMED_LINK = LinkModel(2.0e-7, 0.002, "shared", 62.24,
                         "assumed: the paper's Wi-Fi (sec. 4.3, t = 0.2 ms/kB * d + 2 ms, 62.24 Mbps); measure "
                         "yours with `mchair profile link HOST:PORT --into PROFILE.yaml`")
_DEFAULTS = MeasureOptions()
# Options of each mode, with their defaults (None on the parser, so a misplaced one can be told).
_MODEL_OPTIONS = {"name": None, "out": None, "max_shards": _DEFAULTS.max_shards, "repeat": _DEFAULTS.repeat,
                  "budget": _DEFAULTS.budget_s, "link_from": None, "idle_w": None, "busy_w": None,
                  "seed": _DEFAULTS.seed, "backend": _DEFAULTS.backend, "threads": None}
_LINK_OPTIONS = {"serve": False, "port": None, "medium": "switched", "into": None, "rounds": DEFAULT_ROUNDS}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``profile`` (a model, or the word ``link``)."""
    p.usage = ("mchair profile MODEL [options]\n       mchair profile link [HOST:PORT] [--serve] [--port P] "
               "[--medium M] [--into PROFILE.yaml]")
    p.description = ("`mchair profile MODEL` times every layer (and 2..K shards of each conv/fc layer) of MODEL "
                     "with LiteRT on this host, fits the behaviour models and writes a profile; profiling another "
                     "model into the same file adds its timings and refits. `mchair profile link` measures the "
                     "network (t = a*bytes + b) with a TCP ping-pong. A model file named `link`: write ./link.")
    p.add_argument("target", metavar="MODEL|link", help="built-in model name, spec .yaml or any .tflite; "
                   "or the word `link`")
    p.add_argument("peer", nargs="?", metavar="HOST:PORT", help="link: the echo server to measure against "
                   "(`mchair profile link --serve` there; default: one started on 127.0.0.1)")
    m = p.add_argument_group("mchair profile MODEL")
    m.add_argument("--name", help="profile (device type) name (default: the existing --out file's, else this "
                   "host's short hostname, e.g. raspberrypi)")
    m.add_argument("--out", type=Path, metavar="FILE", help="profile to write (default: profiles/NAME.yaml); "
                   "an existing one keeps its other models' timings, link and power")
    m.add_argument("--max-shards", type=int, metavar="K",
                   help=f"time shards k = 2..K (default {_DEFAULTS.max_shards})")
    m.add_argument("--repeat", type=int, metavar="N",
                   help=f"at least N timed runs per figure (default {_DEFAULTS.repeat})")
    m.add_argument("--budget", type=float, metavar="S", help=f"and keep timing a figure for S seconds "
                   f"(default {_DEFAULTS.budget_s}; 0 for a quick profile)")
    m.add_argument("--link-from", metavar="PROFILE.yaml", help="take the link section from this profile")
    m.add_argument("--idle-w", type=float, metavar="W", help="board power when idle (watts, from a power meter)")
    m.add_argument("--busy-w", type=float, metavar="W", help="board power with all cores busy (watts)")
    m.add_argument("--seed", type=int, help="seed of a built-in model's weights and of the random inputs")
    m.add_argument("--backend", choices=BACKENDS, help="executor (default auto: LiteRT if installed)")
    m.add_argument("--threads", type=int, metavar="N", help="interpreter threads (default: LiteRT's, as the agents)")
    lk = p.add_argument_group("mchair profile link")
    lk.add_argument("--serve", action="store_true", help="run the echo server here (until Ctrl-C) for another "
                    "machine to measure against")
    lk.add_argument("--port", type=int, metavar="P", help=f"with --serve: port to listen on (default {DEFAULT_PORT})")
    lk.add_argument("--medium", choices=MEDIA, help="switched (Ethernet, loopback; the default) or shared "
                    "(Wi-Fi: every transfer takes turns); a ping-pong cannot tell")
    lk.add_argument("--into", metavar="PROFILE.yaml", help="write the measured link into this existing profile")
    lk.add_argument("--rounds", type=int, metavar="N", help=f"round trips per message size (default {DEFAULT_ROUNDS})")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    is_link = args.target == "link"
    mine, others = (_LINK_OPTIONS, _MODEL_OPTIONS) if is_link else (_MODEL_OPTIONS, _LINK_OPTIONS)
    for dest in others:
        if getattr(args, dest) not in (None, False):
            flag = "--" + dest.replace("_", "-")
            raise UserError(f"{flag} is an option of `mchair profile {'MODEL' if is_link else 'link'}`, "
                            f"not of `mchair profile {'link' if is_link else 'MODEL'}`")
    for dest, default in mine.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
    if is_link:
        return _link(args)
    if args.peer is not None:
        raise UserError(f"{args.peer}: `mchair profile MODEL` takes one model (to measure a link: "
                        "`mchair profile link HOST:PORT`)")
    return _model(args)


def _check(flag: str, value: float | None, minimum: float) -> None:
    if value is not None and value < minimum:
        raise UserError(f"{flag} {value:g}: expected at least {minimum:g}")


def _model(args: argparse.Namespace) -> int:
    for flag, value, minimum in (("--max-shards", args.max_shards, 1), ("--repeat", args.repeat, 1),
                                 ("--budget", args.budget, 0), ("--idle-w", args.idle_w, 0),
                                 ("--busy-w", args.busy_w, 0), ("--threads", args.threads, 1)):
        _check(flag, value, minimum)
    if args.backend == "litert" and not litert_available():
        # Else every layer would be skipped and an empty profile written.
        raise UserError("--backend litert: LiteRT is not installed (pip install ai-edge-litert; "
                        "docs/troubleshooting.md)")
    out = args.out or Path("profiles") / f"{args.name or default_name()}.yaml"
    previous = load_profile(out) if out.exists() else None
    name = args.name or (previous.name if previous else default_name())
    link = load_profile(args.link_from).link if args.link_from else previous.link if previous else ASSUMED_LINK
    options = MeasureOptions(args.repeat, args.budget, max_shards=args.max_shards, backend=args.backend,
                             threads=args.threads, seed=args.seed)
    measured = measure_model(args.target, options)
    models: dict[str, ModelTimings] = dict(previous.models) if previous else {}
    models[measured.timings.model] = measured.timings
    steps: dict[str, float] = {}
    for timings in models.values():  # the fallback for models not measured: the slowest seen
        for step, seconds in timings.steps.items():
            steps[step] = max(seconds, steps.get(step, 0.0))
    camera = max(measured.camera_s or 0.0, previous.camera_s if previous else 0.0)
    device = device_facts(name, measured.base_mb, runtime_versions(measured.executor, args.threads))
    notes = previous.notes if previous else (f"Measured with `mchair profile` on {socket.gethostname()} "
                                             f"({device.cpu}); behaviour models fitted on the timings under models.")
    print("timing the tensor codecs ...", file=sys.stderr, flush=True)
    codecs = measure_codec_timings(budget_s=max(0.05, args.budget))
    profile = Profile(name, device, power(args.idle_w, args.busy_w, previous.power if previous else None), link,
                      MemoryModel(measured.base_mb), LoadModel(0.0, 0.0), {}, camera_s=camera, steps=steps,
                      models=models, codecs=codecs, notes=notes)
    profile = fit_profile(profile, measured.base_mb)
    save_profile(profile, out)
    _print_measurement(measured)
    print()
    _print_fit(profile)
    rows = [[c, _ms(t.encode_s_per_mb), _ms(t.decode_s_per_mb)] for c, t in codecs.items()]
    print("\ntensor codecs (ms per MB of float32 tensor)")
    print(format_table(["codec", "encode ms/MB", "decode ms/MB"], rows))
    kept = sorted(set(models) - {measured.timings.model})
    print(f"\nwrote {out} ({name}; models: {', '.join(sorted(models))}"
          f"{'; kept the timings of ' + ', '.join(kept) if kept else ''})")
    return 0


def _ms(seconds: float) -> float:
    return seconds * 1e3


def _print_measurement(m: Measurement) -> None:
    t = m.timings
    rows = [[lt.layer, "+".join(dict.fromkeys(lt.ops)), lt.macs, _ms(lt.time_s),
             "  ".join(f"{k}: {_ms(s):.3g}" for k, s in sorted(lt.shards.items())) or "-", _ms(lt.load_s),
             lt.memory_mb] for lt in t.layers.values()]
    print(f"{t.model} on {m.executor} (ms; shards: time of one of k)")
    print(format_table(["layer", "op", "MACs", "time ms", "shards ms (k: one of k)", "load ms", "memory MB"], rows))
    rows = []
    for task in t.tasks:
        layers = [lt for lt in t.layers.values() if lt.block == task.block]
        rows.append([task.block, f"{task.first}..{task.last}", _ms(task.time_s), _ms(sum(lt.time_s for lt in layers)),
                     _ms(task.load_s), task.memory_mb])
    rows += [[step, "built-in step", _ms(s), "-", "-", "-"] for step, s in t.steps.items()]
    if m.camera_s is not None:
        rows.append(["camera", "capture + preprocess", _ms(m.camera_s), "-", "-", "-"])
    print()
    print(format_table(["block", "layers", "time ms", "sum of layers ms", "load ms", "memory MB"], rows))
    for line in m.skipped:
        print(f"not measured: {line}")


def _print_fit(p: Profile) -> None:
    rows = [[op, om.samples, _ms(om.intercept_s), _ms(om.s_per_mmac), _ms(om.s_per_mb), _ms(om.s_per_mb2),
             _ms(om.s_per_out_mb), f"{100 * om.rel_error:.1f}%"] for op, om in p.ops.items()]
    print("behaviour models: ms = intercept + a*MMACs + b*W + c*W^2 + d*out (W, out in MB)")
    print(format_table(["op", "samples", "intercept", "a /MMAC", "b /MB", "c /MB^2", "d /out MB", "median error"],
                       rows))
    mem, load = p.memory, p.load
    print(f"memory: {mem.base_mb:.1f} MB base + {mem.weights_factor:.3g} x weights + {mem.activations_factor:.3g} x "
          f"activations (median error {100 * mem.rel_error:.0f}%)")
    print(f"load:   {_ms(load.base_s):.3g} ms + {_ms(load.s_per_mb):.3g} ms/MB of weights "
          f"(median error {100 * load.rel_error:.0f}%)")
    print(f"task overhead: {_ms(p.task_overhead_s):.3g} ms per run; camera: {_ms(p.camera_s):.3g} ms per frame; "
          f"usable memory {p.device.usable_memory_mb:.0f} of {p.device.memory_mb:.0f} MB")


def _link(args: argparse.Namespace) -> int:
    if args.serve:
        if args.peer is not None or args.into is not None:
            raise UserError("--serve runs the echo server here: it takes no HOST:PORT nor --into (use --port)")
        port = DEFAULT_PORT if args.port is None else args.port
        if not 0 <= port <= 65535:
            raise UserError(f"--port {port}: expected 0..65535")
        serve_echo("0.0.0.0", port, lambda bound: print(
            f"echo server on port {bound}; from another machine: mchair profile link {socket.gethostname()}:{bound}"
            " (Ctrl-C to stop)", file=sys.stderr, flush=True))
        return 0
    if args.port is not None:
        raise UserError("--port is for --serve; give the peer as HOST:PORT")
    _check("--rounds", args.rounds, 1)
    target = load_profile(args.into) if args.into else None  # a bad file fails before measuring
    measured = measure_link(args.peer, args.medium, args.rounds)
    _print_link(measured)
    if target is not None:
        save_profile(replace(target, link=measured.model), args.into)
        print(f"updated the link of {args.into}")
    return 0


def _print_link(m: LinkMeasurement) -> None:
    link = m.model
    rows = [[human_bytes(s.nbytes), len(s.rtts), _ms(2 * s.one_way_s), _ms(s.one_way_s),
             _ms(link.transfer_time(s.nbytes)), s.nbytes / s.one_way_s / MB] for s in m.samples]
    print(f"TCP ping-pong with {m.peer}")
    print(format_table(["size", "round trips", "median RTT ms", "one way ms", "fit ms", "MB/s"], rows))
    print(f"\nlink: t = a*bytes + b with a = {link.seconds_per_byte:.3g} s/B ({link.bandwidth_mbps:.1f} Mbps), "
          f"b = {_ms(link.latency_s):.3g} ms; medium {link.medium}; median error {100 * m.rel_error:.0f}%")
