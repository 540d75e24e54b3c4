"""``mchair bench codec``: what each tensor codec saves on the wire, what it costs in time and error.

For every codec (``worker.wire.CODECS``) and tensor kind (random normal values, synthetic
ReLU activations, and real activations of a built-in model run on a synthetic camera frame):
the bytes the tensor takes in its message, the ratio to raw, encode and decode MB/s of the
tensor's float32 bytes, the MB/s of a whole hop (encode, Avro message, decode, array), and the
largest error relative to the tensor's largest magnitude. Raw, measured in the same run, is the
baseline of every table. Then (``_codec_link``) a model planned with and without codecs on a
62 Mbps shared medium: planned and measured IPS, and the output error the codecs cost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.camera import SyntheticCamera, preprocess
from worker.cluster import CodecSettings
from worker.errors import UserError
from worker.executor import load_model
from worker.wire import CODECS, TensorBatch, decode, encode_parts, encode_tensor

from ..profile import relu_like
from ..toolchain.model import open_model
from ..toolchain.partition import partition
from ._codec_args import add_codec_arguments, codec_settings
from ._codec_link import link_table, run_link_benchmark
from ._table import format_table, human_bytes
from ._timing import best_seconds
from .bench_wire import parse_size

DEFAULT_SIZES = ("16KB", "256KB", "4MB")
DEFAULT_MODEL = "alexnet-tiny"
LINK_MODEL = "alexnet"   # its 227x227 frames (618 KB) outrun 62 Mbps at 30 fps raw, not compressed
LINK_CODECS = CodecSettings(("raw", "raw+zstd", "fp16", "uint8+zstd", "uint8-channel+zstd"), 0.02)
CHANNELS = 64          # last axis of the synthetic tensors (what uint8-channel quantizes by)
REAL_TENSORS = 2       # the largest activations of the model's first block
_HEADERS = ("size", "codec", "bytes", "/ raw", "enc MB/s", "dec MB/s", "enc+dec MB/s", "hop MB/s", "max err")


@dataclass(frozen=True)
class Sample:
    """One tensor to measure the codecs on."""

    kind: str
    label: str          # what the size column shows: a size, or the layer it comes from
    array: np.ndarray


@dataclass(frozen=True)
class Measure:
    """One codec on one sample: bytes, speeds of the tensor's raw bytes, error."""

    codec: str
    nbytes: int
    encode_mbs: float
    decode_mbs: float
    hop_mbs: float
    max_error: float    # max |decoded - x| / max |x|

    @property
    def both_mbs(self) -> float:
        """MB/s of encode then decode."""
        return 1 / (1 / self.encode_mbs + 1 / self.decode_mbs)


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench codec`` on the ``bench`` sub-parser."""
    p = bsub.add_parser("codec", help="bytes, speed and error of every tensor codec against raw")
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="SIZE",
                   help=f"synthetic tensor sizes, decimal units (default {' '.join(DEFAULT_SIZES)})")
    p.add_argument("--seconds", type=float, default=0.3, metavar="S",
                   help="time spent per codec and tensor (default 0.3)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="M",
                   help=f"built-in model whose activations are measured too (default {DEFAULT_MODEL})")
    link = p.add_argument_group("a plan with and without codecs on a slow shared link (planned, and measured "
                                "on local agents whose senders are capped)")
    link.add_argument("--link-model", default=LINK_MODEL, metavar="M", help=f"model (default {LINK_MODEL})")
    link.add_argument("--link-profile", default="xeon-2core", metavar="P", help="profile (default xeon-2core, "
                      "its link replaced by the shared medium)")
    link.add_argument("--link-devices", type=int, default=3, metavar="N", help="agents (default 3)")
    link.add_argument("--link-mbps", type=float, default=62.0, metavar="R", help="medium rate (default 62)")
    link.add_argument("--link-seconds", type=float, default=15.0, metavar="S", help="each run (default 15)")
    link.add_argument("--no-link", action="store_true", help="skip this part")
    add_codec_arguments(link)
    p.set_defaults(run=_codec)


def synthetic(kind: str, size: int, seed: int = 0) -> np.ndarray:
    """A float32 tensor of about ``size`` bytes, [1, rows, 64]: ``random`` normal, or ``relu`` activations."""
    if kind == "relu":
        return relu_like(size, seed, CHANNELS)
    n = max(1, size // 4)
    channels = min(CHANNELS, n)
    return np.random.default_rng(seed).standard_normal((1, n // channels, channels), dtype=np.float32)


def model_activations(model: str, count: int = REAL_TENSORS) -> list[Sample]:
    """The ``count`` largest activations between layers of ``model``'s first block on a synthetic frame."""
    loaded = open_model(model)
    blocks = loaded.blocks
    block, graph = next(((b, b.graph) for b in blocks if b.graph is not None), (None, None))
    if block is None or graph is None or len(block.inputs) != 1:
        raise UserError(f"--model {model}: expected a model whose first layered block has one input")
    cuts = {block.name: set(range(len(graph.layers) - 1))}
    value = preprocess(SyntheticCamera(seed=0).read(), tuple(block.inputs[0].shape))
    found: list[Sample] = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = partition([block], loaded.name, Path(tmp), cuts, {}, progress=False)
        for task in manifest.tasks:
            if task.artifact is None or len(task.inputs) != 1 or len(task.outputs) != 1:
                break  # a branching block: the chain of single tensors ends here
            runner = load_model(Path(tmp) / task.artifact.file)
            value = runner.run({runner.inputs[0].name: value})[runner.outputs[0].name]
            found.append(Sample(model, f"{task.layers[-1]} {human_bytes(value.nbytes)}", value))
    largest = sorted(range(len(found)), key=lambda i: -found[i].array.nbytes)[:count]
    return [found[i] for i in sorted(largest)]


def measure(sample: Sample, codec: str, budget: float) -> Measure:
    """Bytes, speeds and error of ``codec`` on one sample."""
    x = sample.array
    tensor = encode_tensor("x", x, codec)
    decoded = tensor.array()
    scale = float(np.abs(x).max()) or 1.0
    error = float(np.abs(decoded.astype(np.float64) - x).max()) / scale

    def hop() -> np.ndarray:
        batch = TensorBatch(epoch=1, stream="cam0", tag=0, source="bench", tensors=(encode_tensor("x", x, codec),))
        # Joined as the receiver gets it: one bytes frame from the socket.
        message = decode(b"".join(encode_parts(batch, None)), None)
        assert isinstance(message, TensorBatch)
        return message.tensors[0].array()

    def mbs(fn: Callable[[], object]) -> float:
        return x.nbytes / best_seconds(fn, budget / 3) / 1e6
    return Measure(codec, tensor.nbytes, mbs(lambda: encode_tensor("x", x, codec)), mbs(tensor.array), mbs(hop),
                   error)


def _codec(args: argparse.Namespace) -> int:
    sizes = [parse_size(s) for s in args.sizes]
    codecs = codec_settings(args, LINK_CODECS)   # bad codecs fail now, not after the first part
    if args.seconds <= 0:
        raise UserError(f"--seconds {args.seconds:g}: expected a positive number")
    print(f"running {args.model} on a synthetic frame for its activations ...", file=sys.stderr, flush=True)
    samples = [Sample(kind, human_bytes(size), synthetic(kind, size)) for kind in ("random", "relu")
               for size in sizes]
    samples += model_activations(args.model)
    results: list[tuple[Sample, list[Measure]]] = []
    for i, sample in enumerate(samples, 1):
        print(f"[{i}/{len(samples)}] {sample.kind} {sample.label} ...", file=sys.stderr, flush=True)
        results.append((sample, [measure(sample, codec, args.seconds) for codec in CODECS]))
    for kind in dict.fromkeys(s.kind for s in samples):
        print(_report(kind, [r for r in results if r[0].kind == kind]))
    print("bytes = data + params in the Tensor message; / raw = bytes / raw bytes; MB/s of the float32 tensor's bytes;"
          "\nenc = encode_tensor, dec = Tensor.array(), hop = encode_tensor + Avro encode + join + decode + array();"
          "\nmax err = max |decoded - x| / max |x|", flush=True)
    if not args.no_link:
        runs = run_link_benchmark(args.link_model, args.link_profile, args.link_devices, args.link_mbps,
                                  args.link_seconds, codecs, Path("build/bench-codec"))
        print(link_table(runs, args.link_mbps))
    return 0


def _report(kind: str, results: Sequence[tuple[Sample, list[Measure]]]) -> str:
    """One kind's table and its raw baseline line."""
    rows = []
    for sample, measures in results:
        raw = next(m for m in measures if m.codec == "raw")
        rows += [(sample.label, m.codec, m.nbytes, round(m.nbytes / raw.nbytes, 3), m.encode_mbs, m.decode_mbs,
                  m.both_mbs, m.hop_mbs, m.max_error) for m in measures]
    sample, measures = max(results, key=lambda r: r[0].array.nbytes)
    raw = next(m for m in measures if m.codec == "raw")
    title = {"random": "random normal float32", "relu": "synthetic ReLU activations, ~50% zeros"}.get(
        kind, f"activations of {kind} (one synthetic camera frame)")
    return (f"\n{title}\n\n{format_table(_HEADERS, rows)}\n\nbaseline (raw, this run) at {sample.label}: "
            f"{raw.nbytes:,} bytes, enc+dec {raw.both_mbs:,.0f} MB/s (views, no pass over the data), "
            f"hop {raw.hop_mbs:,.0f} MB/s\n")
