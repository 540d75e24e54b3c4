"""The agent's data-transport seam: TensorBatch messages to peer devices by another way than TCP.

An agent built with a ``data_transport`` hands it every TensorBatch for another device instead of
writing it to that device's TCP connection; the receiving side gives what arrives to
``Agent.async_receive``, the code path of a TensorBatch read from TCP (epoch, stream and seat checks,
then the data plane). Control messages, results and heartbeats always go over TCP. The Ray backend
(``orchestrator.ray_backend``) carries batches through Ray's object store this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from worker.wire import Peer, TensorBatch


@dataclass(frozen=True)
class Dropped:
    """A batch the transport did not send: a reason of ``DROP_REASONS`` and one line on why."""

    reason: str
    detail: str


class DataTransport(Protocol):
    """Carries TensorBatch messages to peer devices (never blocks; drops rather than queues without bound)."""

    def send(self, peer: Peer, batch: TensorBatch) -> Dropped | None:
        """Start sending ``batch`` to ``peer``; None when it is on its way, else why it was dropped."""
        ...

    def close(self) -> None:
        """Forget every pending send (the agent stops)."""
        ...


__all__ = ["DataTransport", "Dropped"]
