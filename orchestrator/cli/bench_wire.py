"""``mchair bench wire`` and ``mchair bench hop``: the wire format's cost against moving the raw bytes.

``wire`` times encode + decode of a TensorBatch against a plain memory copy of the same bytes, then
sealing (raw, mac, aead: ``bench_seal``);
``hop`` times a loopback TCP round trip through an echo server in a child process that decodes
and re-encodes every message, against the same ping-pong of unserialized bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from worker.errors import UserError
from worker.wire import (
    STREAM_LIMIT,
    Connection,
    Tensor,
    TensorBatch,
    decode,
    encode,
    encode_parts,
    read_frame,
    write_frame,
)

from ._table import format_table, human_bytes
from ._timing import best_seconds
from .bench_seal import print_seal_table

DEFAULT_SIZES = ("1KB", "16KB", "256KB", "4MB", "8MB")
TARGET_SIZE = 4_000_000
TARGET_RATIO = 0.5
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*$", re.IGNORECASE)
BENCH_SECRET = b"mchair bench: not a cluster secret"   # the hop's two processes share it


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench wire`` and ``bench hop`` on the ``bench`` sub-parser."""
    p = bsub.add_parser("wire", help="encode+decode GB/s of a TensorBatch against a memory copy")
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="SIZE",
                   help=f"tensor sizes, decimal units (default {' '.join(DEFAULT_SIZES)})")
    p.add_argument("--seconds", type=float, default=0.5, metavar="S", help="time spent per size (default 0.5)")
    p.set_defaults(run=_wire)
    p = bsub.add_parser("hop", help="loopback round trip of framed TensorBatch messages against raw bytes")
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), metavar="SIZE",
                   help=f"tensor sizes, decimal units (default {' '.join(DEFAULT_SIZES)})")
    p.add_argument("--count", type=int, default=100, metavar="N", help="round trips per size and mode (default 100)")
    p.set_defaults(run=_hop)


def parse_size(text: str) -> int:
    """'4MB' -> 4000000, rounded down to whole float32 values; UserError for anything else."""
    match = _SIZE.match(text)
    if not match:
        raise UserError(f"--sizes {text}: expected a size like 1024, 16KB or 4MB")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()]) // 4 * 4
    if size < 4:
        raise UserError(f"--sizes {text}: expected at least 4 bytes (one float32)")
    return size


def _batch(size: int) -> TensorBatch:
    values = np.random.default_rng(0).random(size // 4, dtype=np.float32)
    return TensorBatch(epoch=1, stream="cam0", tag=0, source="bench", tensors=(Tensor.from_array("x", values),))




def _wire(args: argparse.Namespace) -> int:
    sizes = [parse_size(s) for s in args.sizes]
    if args.seconds <= 0:
        raise UserError(f"--seconds {args.seconds:g}: expected a positive number")
    rows, ratios = [], {}
    for i, size in enumerate(sizes, 1):
        print(f"[{i}/{len(sizes)}] wire {human_bytes(size)} ...", file=sys.stderr, flush=True)
        t_copy, t_enc, t_bytes, t_dec = _wire_times(size, args.seconds / 4)

        def gbs(seconds: float, size: int = size) -> float:
            return size / seconds / 1e9
        ratios[size] = (t_copy / (t_enc + t_dec), t_copy / (t_bytes + t_dec))
        rows.append((human_bytes(size), gbs(t_copy), gbs(t_enc), gbs(t_dec), gbs(t_enc + t_dec),
                     ratios[size][0], gbs(t_bytes + t_dec), ratios[size][1]))
    print("TensorBatch with one float32 tensor; GB/s of tensor bytes (best batch mean)\n")
    print(format_table(("size", "memcpy", "encode", "decode", "enc+dec", "ratio", "bytes enc+dec", "ratio"), rows))
    print("\nencode = encode_parts (header, body, hmac: what Connection writes, one copy of the tensor);"
          "\nbytes enc+dec = encode() joined into one bytes object (a second copy); decode is zero-copy;"
          "\nratio = enc+dec speed / memcpy speed")
    if TARGET_SIZE in ratios:
        frame, joined = ratios[TARGET_SIZE]
        verdict = "met" if frame >= TARGET_RATIO else "NOT met"
        print(f"\ntarget: encode+decode at least {TARGET_RATIO:g} x memcpy at {human_bytes(TARGET_SIZE)}: {verdict} "
              f"({frame:.2f} x; {joined:.2f} x with encode() to bytes)")
    else:
        print(f"\ntarget size {human_bytes(TARGET_SIZE)} not measured (add it to --sizes)")
    print_seal_table({size: _batch(size) for size in sizes}, args.seconds)
    return 0


def _wire_times(size: int, budget: float) -> tuple[float, float, float, float]:
    """Seconds per call of: memory copy, encode_parts, encode (to bytes), decode."""
    batch = _batch(size)
    raw = bytes(batch.tensors[0].data)
    payload = encode(batch, None)
    back = decode(payload, None)
    if not isinstance(back, TensorBatch) or back.tensors[0].data != raw:
        raise RuntimeError("decode(encode(batch)) differs from the batch")
    return (best_seconds(lambda: bytearray(raw), budget), best_seconds(lambda: encode_parts(batch, None), budget),
            best_seconds(lambda: encode(batch, None), budget), best_seconds(lambda: decode(payload, None), budget))


def _hop(args: argparse.Namespace) -> int:
    sizes = [parse_size(s) for s in args.sizes]
    if args.count < 1:
        raise UserError(f"--count {args.count}: expected an integer >= 1")
    rows = measure_hops(sizes, args.count)
    print(f"loopback round trips through an echo server in a child process, {args.count} per size and mode\n")
    print(format_table(HOP_COLUMNS, rows))
    print("\nraw = length-prefixed bytes echoed as they are; avro = TensorBatch encoded and sealed (aead), opened,"
          "\ndecoded and re-encoded by the server, decoded by the client; MB/s = tensor bytes moved both ways per "
          "second; p50 ratio = avro p50 / raw p50")
    return 0


HOP_COLUMNS = ("size", "raw p50 ms", "raw p99 ms", "raw MB/s", "avro p50 ms", "avro p99 ms", "avro MB/s", "p50 ratio")


def measure_hops(sizes: Sequence[int], count: int) -> list[tuple[object, ...]]:
    """``bench hop``'s rows (``HOP_COLUMNS``): ``count`` loopback round trips per size through an echo
    server in a child process, raw bytes and TensorBatch (our TCP hop)."""
    max_bytes = max(sizes) + 1024 * 1024
    print("starting the echo server (child process) ...", file=sys.stderr, flush=True)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the child imports this checkout, like the parent
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    code = f"from orchestrator.cli.bench_wire import serve_echo; serve_echo({max_bytes})"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env, text=True)
    try:
        line = child.stdout.readline() if child.stdout else ""
        if not line:
            raise UserError("the echo server did not start (see its error above)")
        raw_port, avro_port = (int(p) for p in line.split())
        return asyncio.run(_hop_all(sizes, count, raw_port, avro_port, max_bytes))
    finally:
        _stop(child)


async def _hop_all(sizes: Sequence[int], count: int, raw_port: int, avro_port: int,
                   max_bytes: int) -> list[tuple[object, ...]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", raw_port, limit=STREAM_LIMIT)
    conn = await Connection.async_open("127.0.0.1", avro_port, secret=BENCH_SECRET, max_bytes=max_bytes)
    rows: list[tuple[object, ...]] = []
    try:
        for i, size in enumerate(sizes, 1):
            print(f"[{i}/{len(sizes)}] hop {human_bytes(size)} ...", file=sys.stderr, flush=True)
            batch = _batch(size)
            data = bytes(batch.tensors[0].data)
            raw: list[float] = []
            avro: list[float] = []
            # Interleaved, so that a slow patch of the machine hits both modes alike; the first
            # round trips of each size only warm the socket buffers up.
            for n in range(count + 3):
                start = time.perf_counter()
                write_frame(writer, data)
                await writer.drain()
                echo = await read_frame(reader, max_bytes)
                middle = time.perf_counter()
                await conn.async_send(batch)
                message = await conn.async_receive()
                end = time.perf_counter()
                if len(echo) != size or not isinstance(message, TensorBatch) or message.tensors[0].nbytes != size:
                    raise RuntimeError("the echo came back different")
                if n >= 3:
                    raw.append(middle - start)
                    avro.append(end - middle)
            row: list[object] = [human_bytes(size)]
            for times in (raw, avro):
                row += [round(float(np.percentile(times, 50)) * 1e3, 3),
                        round(float(np.percentile(times, 99)) * 1e3, 3),
                        round(2 * size * len(times) / sum(times) / 1e6, 1)]
            row.append(round(float(np.percentile(avro, 50) / np.percentile(raw, 50)), 2))
            rows.append(tuple(row))
    finally:
        writer.close()
        conn.close()
    return rows


def serve_echo(max_bytes: int) -> None:
    """The child process of ``bench hop``: echo servers on two ports, until stdin closes."""
    asyncio.run(_serve_echo(max_bytes))


async def _serve_echo(max_bytes: int) -> None:
    async def raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                write_frame(writer, await read_frame(reader, max_bytes))
                await writer.drain()
        except (EOFError, ConnectionError):
            pass
        finally:
            writer.close()

    async def avro(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await Connection.async_accept(reader, writer, secret=BENCH_SECRET, max_bytes=max_bytes)
        except (EOFError, OSError):
            return
        try:
            async for message in conn:  # decoded (views of the frame) and encoded again, as an agent hop does
                await conn.async_send(message)
        except ConnectionError:
            pass
        finally:
            conn.close()

    servers = [await asyncio.start_server(handler, "127.0.0.1", 0, limit=STREAM_LIMIT) for handler in (raw, avro)]
    print(*(s.sockets[0].getsockname()[1] for s in servers), flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: None if stdin_closed.done() else stdin_closed.set_result(None))
    await stdin_closed  # the parent closes our stdin when it is done (or dies)
    for server in servers:
        server.close()


def _stop(child: subprocess.Popen[str]) -> None:
    if child.stdin:
        child.stdin.close()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
