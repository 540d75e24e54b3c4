"""The link model ``t = a*bytes + b`` from a TCP ping-pong against an echo server.

Frames are length-prefixed (4 bytes, big-endian), like the agents' data frames. The echo
server is asyncio (one task per connection, no thread). A ping-pong cannot tell whether the
medium is shared (Wi-Fi: every transfer in the cluster takes turns) or switched (Ethernet
through a switch: each device has its own bandwidth), so the user says which.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.errors import UserError

from ._device import today
from ._fit import median_rel_error, relative_fit
from ._model import LinkModel

HEADER = struct.Struct("!I")
MAX_FRAME = 64 << 20          # the echo server drops a connection that announces more
DEFAULT_PORT = 7447
SIZES = tuple(1024 << i for i in range(14))   # 1 KB .. 8 MB
DEFAULT_ROUNDS = 5
TIMEOUT_S = 10.0
# Stream buffers that hold a whole message: with asyncio's 64 KB default, reading 8 MB pauses and
# resumes the socket a hundred times, and the loopback figure measures that instead of the link.
STREAM_LIMIT = 16 << 20


@dataclass(frozen=True)
class LinkSample:
    """The round trips of one message size."""

    nbytes: int
    rtts: tuple[float, ...]

    @property
    def one_way_s(self) -> float:
        """Median round trip halved: the time of one message one way."""
        return statistics.median(self.rtts) / 2


@dataclass(frozen=True)
class LinkMeasurement:
    """A fitted link model and the samples it was fitted on."""

    model: LinkModel
    samples: tuple[LinkSample, ...]
    peer: str
    rel_error: float


# --- the echo server -------------------------------------------------------------------------


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            header = await reader.readexactly(HEADER.size)
            (n,) = HEADER.unpack(header)
            if n > MAX_FRAME:
                break
            writer.write(header + await reader.readexactly(n))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client is done (or gone): nothing to answer
    finally:
        writer.close()


async def _serve(host: str, port: int, on_ready: Callable[[int], None] | None) -> None:
    server = await asyncio.start_server(_echo, host, port, limit=STREAM_LIMIT)
    if on_ready is not None:
        on_ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def serve_echo(host: str = "0.0.0.0", port: int = DEFAULT_PORT,
               on_ready: Callable[[int], None] | None = None) -> None:
    """Run the echo server until interrupted; ``on_ready`` gets the bound port (0 picks one)."""
    try:
        asyncio.run(_serve(host, port, on_ready))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None


def echo_main() -> None:
    """Child-process entry: serve on a free loopback port and print the port on stdout."""
    serve_echo("127.0.0.1", 0, lambda port: print(port, flush=True))


class EchoProcess:
    """An echo server on 127.0.0.1 in a child process, for as long as the ``with`` lasts.

    A fresh interpreter (not multiprocessing) so that it never re-imports the caller's main script.
    """

    def __enter__(self) -> int:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from orchestrator.profile._link import echo_main; echo_main()"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, text=True)
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], 30)
        line = self._process.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            self._stop()
            raise UserError("the loopback echo server did not start (no port within 30 s)")
        return int(line)

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


# --- the client ------------------------------------------------------------------------------


def parse_peer(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``, or ``HOST`` for the default port) -> (host, port)."""
    host, port = text, str(DEFAULT_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest or port
    elif text.count(":") == 1:  # more colons: a bare IPv6 address
        host, _, port = text.partition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"{text}: expected HOST:PORT with a port in 1..65535")
    return host, int(port)


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frame: bytes) -> float:
    started = time.perf_counter()
    writer.write(frame)
    await writer.drain()
    await reader.readexactly(HEADER.size)
    await reader.readexactly(len(frame) - HEADER.size)
    return time.perf_counter() - started


async def _ping(host: str, port: int, sizes: Sequence[int], rounds: int, timeout: float) -> list[LinkSample]:
    where = f"{host}:{port}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=STREAM_LIMIT), timeout)
    except (TimeoutError, OSError) as exc:
        raise UserError(f"cannot reach {where}: {_reason(exc)}") from None
    samples = []
    try:
        probe = HEADER.pack(4) + b"ping"
        writer.write(probe)
        await writer.drain()
        echoed = await asyncio.wait_for(reader.readexactly(len(probe)), timeout)
        if echoed != probe:
            raise UserError(f"{where} is not an echo server (run `mchair profile link --serve` there)")
        for n in sizes:
            frame = HEADER.pack(n) + os.urandom(n)
            rtts = [await asyncio.wait_for(_round_trip(reader, writer, frame), timeout) for _ in range(rounds)]
            samples.append(LinkSample(n, tuple(rtts)))
    except TimeoutError:
        raise UserError(f"{where}: no echo within {timeout:g} s (is `mchair profile link --serve` running "
                        "there?)") from None
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise UserError(f"{where} closed the connection ({exc.__class__.__name__}); is it "
                        "`mchair profile link --serve`?") from None
    finally:
        writer.close()
    return samples


def _reason(exc: BaseException) -> str:
    """The OS's words for a failed connect ("Connection refused"), not asyncio's wrapper text."""
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or "timed out"


def fit_link(samples: Sequence[LinkSample], medium: str, source: str) -> tuple[LinkModel, float]:
    """``one way = a*bytes + b`` by non-negative least squares on relative error; and that error."""
    x = np.array([[s.nbytes, 1.0] for s in samples])
    y = np.array([s.one_way_s for s in samples])
    a, b = (float(c) for c in relative_fit(x, y))
    error = median_rel_error(x @ np.array([a, b]), y)
    return LinkModel(a, b, medium, round(8 / a / 1e6, 2) if a > 0 else 0.0, source), error


def measure_link(peer: str | None, medium: str = "switched", rounds: int = DEFAULT_ROUNDS,
                 sizes: Sequence[int] = SIZES, timeout: float = TIMEOUT_S) -> LinkMeasurement:
    """Ping-pong ``peer`` (HOST:PORT), or an echo server started on loopback when None."""
    if rounds < 1:
        raise UserError(f"--rounds {rounds}: expected at least 1")
    if peer is None:
        with EchoProcess() as port:
            samples = asyncio.run(_ping("127.0.0.1", port, sizes, rounds, timeout))
        where = "127.0.0.1 (loopback, an echo server in a child process)"
    else:
        host, port = parse_peer(peer)
        samples = asyncio.run(_ping(host, port, sizes, rounds, timeout))
        where = f"{host}:{port}"
    source = (f"measured by TCP ping-pong ({len(sizes)} sizes {sizes[0]} B..{sizes[-1]} B, {rounds} round trips "
              f"each, one way = median RTT / 2) on {today()} between {socket.gethostname()} and {where}; "
              f"medium '{medium}' as given (a ping-pong cannot tell; Wi-Fi is shared)")
    model, error = fit_link(samples, medium, source)
    return LinkMeasurement(model, tuple(samples), where, error)


__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_ROUNDS",
    "SIZES",
    "EchoProcess",
    "LinkMeasurement",
    "LinkSample",
    "echo_main",
    "fit_link",
    "measure_link",
    "parse_peer",
    "serve_echo",
]
