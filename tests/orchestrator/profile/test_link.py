"""The link model: a TCP ping-pong against the asyncio echo server, and the fit t = a*bytes + b."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from orchestrator.profile._link import (
    MAX_FRAME,
    EchoProcess,
    LinkSample,
    _ping,
    fit_link,
    measure_link,
    parse_peer,
)
from worker.errors import UserError

SMALL_SIZES = (1024, 16 * 1024, 256 * 1024, 1024 * 1024)


def test_loopback_gives_a_positive_fit() -> None:
    measured = measure_link(None, rounds=2, sizes=SMALL_SIZES)
    link = measured.model
    assert link.seconds_per_byte > 0 and link.latency_s > 0
    assert link.medium == "switched"
    assert link.bandwidth_mbps == pytest.approx(8 / link.seconds_per_byte / 1e6, rel=1e-3)
    assert "ping-pong" in link.source and "loopback" in link.source
    assert [s.nbytes for s in measured.samples] == list(SMALL_SIZES)
    assert all(len(s.rtts) == 2 and min(s.rtts) > 0 for s in measured.samples)


def test_echo_server_serves_clients_concurrently() -> None:
    with EchoProcess() as port:
        async def both() -> list[list[LinkSample]]:
            return await asyncio.gather(*(_ping("127.0.0.1", port, (1024, 65536), 3, 10.0) for _ in range(4)))
        results = asyncio.run(both())
    assert [len(r) for r in results] == [2, 2, 2, 2]


def test_an_oversized_frame_closes_the_connection() -> None:
    with EchoProcess() as port, socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(struct.pack("!I", MAX_FRAME + 1))
        assert conn.recv(16) == b""


def test_fit_recovers_a_known_link() -> None:
    samples = [LinkSample(n, (2 * (1e-3 + 2e-7 * n),) * 3) for n in (1024, 8192, 65536, 1 << 20, 8 << 20)]
    link, error = fit_link(samples, "shared", "test")
    assert link.seconds_per_byte == pytest.approx(2e-7, rel=1e-6)
    assert link.latency_s == pytest.approx(1e-3, rel=1e-6)
    assert link.bandwidth_mbps == pytest.approx(40.0) and link.medium == "shared" and error < 1e-6


@pytest.mark.parametrize(("text", "peer"), [("pi4.local:7447", ("pi4.local", 7447)), ("10.0.0.2", ("10.0.0.2", 7447)),
                                            ("[::1]:9000", ("::1", 9000)), ("::1", ("::1", 7447))])
def test_parse_peer(text: str, peer: tuple[str, int]) -> None:
    assert parse_peer(text) == peer


@pytest.mark.parametrize("text", ["host:port", "host:0", "host:70000", ":7447", "[::1]:x"])
def test_parse_peer_rejects(text: str) -> None:
    with pytest.raises(UserError, match="expected HOST:PORT"):
        parse_peer(text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_peer_is_one_line() -> None:
    port = _free_port()
    with pytest.raises(UserError) as info:
        measure_link(f"127.0.0.1:{port}", rounds=1, sizes=(1024,))
    assert str(info.value) == f"cannot reach 127.0.0.1:{port}: Connection refused"


@contextmanager
def _not_an_echo_server(hang_up: bool) -> Iterator[int]:
    """A TCP server that accepts and then either hangs up or never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                conn = server.accept()[0]
                if hang_up:
                    conn.close()
                else:
                    accepted.append(conn)
        except OSError:
            pass  # the server socket was closed: the test is over
    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def test_a_peer_that_does_not_echo() -> None:
    with _not_an_echo_server(hang_up=False) as port, \
            pytest.raises(UserError, match=rf"^127.0.0.1:{port}: no echo within 0.3 s"):
        measure_link(f"127.0.0.1:{port}", rounds=1, sizes=(1024,), timeout=0.3)
    with _not_an_echo_server(hang_up=True) as port, \
            pytest.raises(UserError, match=rf"^127.0.0.1:{port} closed the connection"):
        measure_link(f"127.0.0.1:{port}", rounds=1, sizes=(1024,), timeout=5)
