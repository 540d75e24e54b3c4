"""TensorBatches through Ray's object store: the agents' ``data_transport`` on the ray backend.

``send`` calls the peer device's actor (``RayDevice.deliver``, found by name in the cluster's
namespace, its handle kept) with the batch; the tensors' bytes travel as numpy arrays, which Ray
moves through its object store (zero-copy on the receiving side for large ones). The calls are
not awaited: their ObjectRefs are kept per destination device (an edge), finished ones are let go
with ``ray.wait(timeout=0)``, and while an edge has ``max_in_flight`` unfinished calls a new batch
for it is dropped and counted (``in-flight``), as a full buffer drops a tag on the agents backend.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from worker.agent import Dropped
from worker.wire import Peer, Tensor, TensorBatch

from ._session import import_ray

log = logging.getLogger("mchair.ray")
DEFAULT_MAX_IN_FLIGHT = 8


def pack_batch(batch: TensorBatch) -> TensorBatch:
    """``batch`` with every payload as a uint8 numpy array (picklable, out-of-band in Ray's object store)."""
    return dataclasses.replace(batch, tensors=tuple(
        # An ndarray is a buffer (numpy's stubs declare it only for Python 3.12+).
        dataclasses.replace(t, data=np.frombuffer(t.data, np.uint8) if memoryview(t.data).nbytes  # type: ignore[arg-type]
                            else b"",
                            params=bytes(t.params)) for t in batch.tensors))


def unpack_batch(batch: TensorBatch) -> TensorBatch:
    """A batch as ``deliver`` got it, with its payloads as buffers again (the arrays are not copied)."""
    return dataclasses.replace(batch, tensors=tuple(
        Tensor(name=t.name, dtype=t.dtype, shape=tuple(t.shape), data=memoryview(t.data).cast("B"),
               codec=t.codec, params=t.params) for t in batch.tensors))


class RayTransport:
    """Sends ``device``'s TensorBatches to the actors of ``namespace`` (a ``worker.agent.DataTransport``)."""

    def __init__(self, device: str, namespace: str, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight {max_in_flight}: expected at least 1")
        self.device, self.namespace, self.max_in_flight = device, namespace, max_in_flight
        self._ray = import_ray()
        self._handles: dict[Peer, Any] = {}
        self._in_flight: dict[str, list[Any]] = {}
        self.sent = 0

    def send(self, peer: Peer, batch: TensorBatch) -> Dropped | None:
        """Call ``peer``'s actor with ``batch`` unless that edge is full; None when sent, else why not."""
        refs = self._in_flight.setdefault(peer.device, [])
        if refs:
            _, refs[:] = self._ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        if len(refs) >= self.max_in_flight:
            return Dropped("in-flight", f"tag {batch.tag} for {peer.device}: {len(refs)} sends unfinished "
                                        f"(max_in_flight {self.max_in_flight})")
        handle = self._handle(peer)
        if handle is None:
            return Dropped("no-peer", f"no actor named {peer.device!r} in namespace {self.namespace!r}")
        refs.append(handle.deliver.remote(self.device, pack_batch(batch)))
        self.sent += 1
        return None

    def in_flight(self, device: str) -> int:
        """Unfinished sends to ``device`` (as of the last send to it)."""
        return len(self._in_flight.get(device, ()))

    def close(self) -> None:
        """Forget the pending sends and the handles."""
        self._in_flight.clear()
        self._handles.clear()

    def _handle(self, peer: Peer) -> Any:
        """The actor of ``peer`` (kept by device and address: a device restarted elsewhere is looked up again)."""
        if peer not in self._handles:
            try:
                self._handles[peer] = self._ray.get_actor(peer.device, namespace=self.namespace)
            except ValueError:
                return None
        return self._handles[peer]


__all__ = ["DEFAULT_MAX_IN_FLIGHT", "RayTransport", "pack_batch", "unpack_batch"]
