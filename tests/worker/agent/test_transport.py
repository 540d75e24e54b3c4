"""The agent's data-transport seam: TensorBatches to peers go through it, its drops are counted (and
reported in the heartbeat's drops when they are back-pressure), what it delivers takes the TCP path."""

from __future__ import annotations

import numpy as np

from worker.agent import Agent, Dropped
from worker.wire import Peer, Tensor, TensorBatch

from ._harness import SECRET, run_async


class Recording:
    """A transport that takes ``room`` batches, then drops every one as ``in-flight``."""

    def __init__(self, room: int) -> None:
        self.room, self.sent, self.closed = room, [], False

    def send(self, peer: Peer, batch: TensorBatch) -> Dropped | None:
        if len(self.sent) >= self.room:
            return Dropped("in-flight", f"tag {batch.tag}: edge full")
        self.sent.append((peer, batch))
        return None

    def close(self) -> None:
        self.closed = True


def batch(tag: int) -> TensorBatch:
    return TensorBatch(epoch=1, stream="pi0", tag=tag, source="pi0:0.0.0",
                       tensors=(Tensor.from_array("x", np.zeros(4, np.float32)),))


def test_batches_go_through_the_transport_and_its_drops_are_counted() -> None:
    transport = Recording(room=1)

    async def scenario() -> Agent:
        async with Agent("pi1", SECRET, data_transport=transport) as agent:
            peer = Peer("pi2", "127.0.0.1", 9)
            agent._send(peer, batch(0))     # the data plane's send callable
            agent._send(peer, batch(1))
            await agent.async_receive(batch(2), "ray:pi0")   # no table yet: dropped as from TCP
        return agent

    agent = run_async(scenario())
    assert [(p.device, b.tag) for p, b in transport.sent] == [("pi2", 0)]
    assert agent.drops.count("in-flight", "pi2") == 1 and agent.drops.count("no-table", "ray:pi0") == 1
    counters = agent.counters()
    assert counters.dropped == {"in-flight": 1, "no-table": 1}
    assert counters.drops == 1, "back-pressure drops are in the heartbeat's drops"
    assert counters.received == 1 and transport.closed
