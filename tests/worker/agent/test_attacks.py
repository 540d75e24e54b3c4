"""A LAN peer without the secret attacks a running stream (nothing it sends is parsed, the results are the
reference's) or listens to it (it reads nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worker.agent import seat_label
from worker.wire import (
    Connection,
    HandshakeError,
    Peer,
    Result,
    TaskTable,
    Tensor,
    TensorBatch,
    encode,
    write_frame,
)

from ..wire._relay import Relay
from ._harness import Partitioned, async_play, check_results, run_async

OTHER = b"not the cluster secret, 32 bytes"
CONNECTIONS = 4     # forged-frame connections per target (each is refused at its first bytes)
WRONG_SECRET = 2    # handshakes with another secret per target


async def _forge(peer: Peer, frames: list[bytes]) -> bytes:
    """Send frames the way mchair before the handshake did; what came back before the peer closed."""
    reader, writer = await asyncio.open_connection(peer.host, peer.port)
    for frame in frames:
        write_frame(writer, frame)
    try:
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def _attack(table: TaskTable, agents: list[Peer], master: Peer) -> None:
    """Poisoned TensorBatches for the next tags to every agent, forged Results to the master, and
    handshakes with a wrong secret to all of them."""
    source = seat_label(table.seat(0, 0, 0))   # the recorder's seat: what the next stage takes from
    poison = np.full(tuple(table.frame_shape), 1e6, np.float32)
    batches = [encode(TensorBatch(epoch=table.epoch, stream=table.stream, tag=tag, source=source,
                                  tensors=(Tensor.from_array("camera/frame", poison),)), None)
               for tag in range(16)]
    results = [encode(Result(epoch=table.epoch, stream=table.stream, tag=tag,
                             tensors=(Tensor.from_array("fusion/softmax", np.ones((1, 10), np.float32)),),
                             compute_ms=1.0, transfer_ms=0.0, queue_ms=0.0), None) for tag in range(16)]
    for _ in range(CONNECTIONS):
        answers = await asyncio.gather(*(_forge(a, batches) for a in agents), _forge(master, results))
        assert answers == [b""] * (len(agents) + 1), "a peer without the secret got an answer"
    for _ in range(WRONG_SECRET):
        for target in (*agents, master):
            try:
                await Connection.async_open(target.host, target.port, secret=OTHER)
            except HandshakeError:
                continue
            raise AssertionError(f"{target.device} accepted another cluster's secret")


def test_a_stream_under_attack_gives_the_reference_results(partitioned: Callable[[int], Partitioned],
                                                           tmp_path: Path) -> None:
    part = partitioned(3)
    names = ["pi0", "pi1", "pi2"]
    played = run_async(async_play(part, names, tmp_path, frames=16, seed=3, attack=_attack), timeout=90)
    check_results(played)
    for name, counters in played.counters.items():
        assert counters.rejected == {"old-version": CONNECTIONS, "handshake": WRONG_SECRET}, (name, counters)
        assert not counters.dropped and counters.compute_errors == 0, (name, counters)


def test_a_capture_of_a_run_finds_no_weights_results_or_table(partitioned: Callable[[int], Partitioned],
                                                              tmp_path: Path) -> None:
    # Every connection of the run (agents, master) goes through relays that keep the bytes: with
    # the default aead, none of the artifacts' weights, the tables' artifact names or the results
    # appear in them.
    part = partitioned(3)
    relay = Relay()
    try:
        played = run_async(async_play(part, ["pi0", "pi1", "pi2"], tmp_path, frames=14, seed=2,
                                      route=relay.async_route), timeout=90)
    finally:
        relay.close()
    check_results(played)
    wire = bytes(relay.wire)
    artifacts = sorted(part.directory.glob("*.tflite"), key=lambda p: p.stat().st_size)
    assert len(wire) > sum(p.stat().st_size for p in artifacts), "the artifacts went through the relays"
    weights = [p.read_bytes() for p in artifacts]
    clear = [w[len(w) // 2:len(w) // 2 + 32] for w in weights]                       # weights
    clear += [p.stem.encode() for p in artifacts]                                     # the table's sha256s
    clear += [bytes(r.tensors[0].data)[:32] for r in played.results]                  # results
    assert not [c for c in clear if c in wire]
