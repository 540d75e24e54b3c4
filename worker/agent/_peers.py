"""Outgoing connections by device: opened on first use, kept, reopened after a failure, failures counted.

Every message is one-way (docs/runtime.md), so sending never waits for an answer: ``send`` queues
the message for the device and one sender task per device writes them in order. A slow or dead
peer then stalls only its own queue, never the compute loop; a queue over ``max_queue`` drops its
oldest message. What arrives on an outgoing connection (a master may answer on it) is handed to
``on_message`` like what arrives on the agent's own port.

With ``send_mbps`` the senders share one pace, as devices on one Wi-Fi channel share its airtime:
after each message every sender waits until the medium would have carried it. It emulates a
slow link on loopback (``agent.send_mbps`` in cluster.yaml) for benchmarks and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from worker.wire import (
    AEAD,
    DEFAULT_MAX_BYTES,
    Connection,
    LinkBytes,
    Message,
    Peer,
    Rejects,
    TensorBatch,
    WireError,
)

log = logging.getLogger("mchair.agent")

OnMessage = Callable[[Message, str], Awaitable[None]]
CONNECT_TIMEOUT_S = 5.0
RETRY_S = 0.5          # wait before reconnecting to a peer that just failed


class TensorBytes:
    """Tensor bytes sent to each device, per codec: as encoded, and as the decoded tensors (a heartbeat's links)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], list[int]] = {}   # (device, codec) -> [bytes, raw bytes]

    def count(self, device: str, batch: TensorBatch) -> None:
        """Add the tensors of ``batch``, sent to ``device``."""
        for tensor in batch.tensors:
            count = self._counts.setdefault((device, tensor.codec), [0, 0])
            count[0] += tensor.nbytes
            count[1] += math.prod(tensor.shape) * np.dtype(tensor.dtype).itemsize

    def take(self) -> tuple[LinkBytes, ...]:
        """The counts since the last call (the next heartbeat starts afresh)."""
        counts, self._counts = self._counts, {}
        return tuple(LinkBytes(peer=device, codec=codec, bytes=b, raw_bytes=raw)
                     for (device, codec), (b, raw) in sorted(counts.items()))


@dataclass
class _Link:
    """One device's queue, its connection and its sender task."""

    peer: Peer
    queue: deque[Message] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    conn: Connection | None = None
    sender: asyncio.Task[None] | None = None
    reader: asyncio.Task[None] | None = None
    failing: bool = False
    error: str = ""


class Peers:
    """Connections to the devices (and the master) an agent sends to, keyed by device and address."""

    def __init__(self, secret: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, rejects: Rejects | None = None,
                 on_message: OnMessage | None = None, max_queue: int = 256, send_mbps: float = 0.0,
                 data: str = AEAD) -> None:
        self._secret, self._max_bytes, self._data = secret, max_bytes, data
        self.rejects = rejects if rejects is not None else Rejects()
        self._on_message = on_message
        self._max_queue = max_queue
        self._links: dict[Peer, _Link] = {}
        self.failures: dict[str, int] = {}
        self.sent = 0
        self.overflow = 0
        self._seconds_per_byte = 8 / (send_mbps * 1e6) if send_mbps > 0 else 0.0
        self._medium_free_at = 0.0   # loop time when the capped medium has carried what was sent
        self.tensor_bytes = TensorBytes()   # what was written (a data transport adds what it carried)

    def send(self, peer: Peer, message: Message) -> None:
        """Queue ``message`` for ``peer`` (never blocks; the device's sender task writes it)."""
        link = self._links.get(peer)
        if link is None:
            link = self._links[peer] = _Link(peer)
            link.sender = asyncio.get_running_loop().create_task(self._async_sender(link),
                                                                 name=f"send-{peer.device}")
        if len(link.queue) >= self._max_queue:
            link.queue.popleft()
            self.overflow += 1
            self._fail(link, "its send queue is full: dropped the oldest message")
        link.queue.append(message)
        link.wake.set()

    def pending(self, peer: Peer) -> int:
        """Messages queued for ``peer`` and not yet written."""
        link = self._links.get(peer)
        return len(link.queue) if link else 0

    async def async_flush(self, timeout: float = 2.0) -> None:
        """Wait (at most ``timeout`` s) until every queue is empty: messages sent before a stop."""
        deadline = asyncio.get_running_loop().time() + timeout
        while any(link.queue for link in self._links.values()):
            if asyncio.get_running_loop().time() >= deadline:
                return
            await asyncio.sleep(0.01)

    async def async_close(self) -> None:
        """Stop every sender and close every connection."""
        links, self._links = list(self._links.values()), {}
        for link in links:
            for task in (link.sender, link.reader):
                if task is not None:
                    task.cancel()
        for link in links:
            for task in (link.sender, link.reader):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):  # closing anyway
                        await task
            if link.conn is not None:
                await link.conn.async_close()

    async def _async_sender(self, link: _Link) -> None:
        while True:
            if not link.queue:
                link.wake.clear()
                await link.wake.wait()
                continue
            message = link.queue[0]
            why = await self._async_write(link, message)
            if why == "retry":
                # One retry on a fresh connection: the peer may have restarted. After that the
                # message goes, so a dead peer does not hold the queue forever.
                why = await self._async_write(link, message)
            if link.queue and link.queue[0] is message:
                link.queue.popleft()
            if why:
                self._fail(link, f"{type(message).__name__} not sent: {link.error if why == 'retry' else why}")
                if why != "too big":
                    await asyncio.sleep(RETRY_S)
                continue
            self.sent += 1
            if link.failing:
                log.info("sending to %s works again", link.peer.device)
                link.failing = False

    async def _async_write(self, link: _Link, message: Message) -> str:
        """'' when sent; 'too big' when it never can be; 'retry' when the connection failed."""
        try:
            conn = link.conn or await self._async_connect(link)
            before = conn.bytes_sent
            await conn.async_send(message)
            if isinstance(message, TensorBatch):
                self.tensor_bytes.count(link.peer.device, message)
            if self._seconds_per_byte:
                await self._async_pace(conn.bytes_sent - before)
        except WireError:
            return "too big"   # refused before writing: the connection is still in step
        except (TimeoutError, OSError, EOFError) as exc:
            self._drop_connection(link)
            link.error = f"{type(exc).__name__}: {exc}"
            return "retry"
        return ""

    async def _async_pace(self, nbytes: int) -> None:
        """Wait until the capped medium has carried ``nbytes`` more, after what every sender sent before."""
        now = asyncio.get_running_loop().time()
        self._medium_free_at = max(self._medium_free_at, now) + nbytes * self._seconds_per_byte
        await asyncio.sleep(self._medium_free_at - now)

    async def _async_connect(self, link: _Link) -> Connection:
        peer = link.peer
        conn = await asyncio.wait_for(Connection.async_open(peer.host, peer.port, secret=self._secret,
                                                            data=self._data, max_bytes=self._max_bytes,
                                                            rejects=self.rejects),
                                      CONNECT_TIMEOUT_S)
        link.conn = conn
        link.reader = asyncio.get_running_loop().create_task(self._async_read(link, conn),
                                                             name=f"read-{peer.device}")
        return conn

    async def _async_read(self, link: _Link, conn: Connection) -> None:
        """Hand on what the peer sends back; when it closes, forget the connection so the next
        message opens a new one instead of going into a dead socket."""
        try:
            async for message in conn:
                if self._on_message is not None:
                    await self._on_message(message, conn.peer)
        except (WireError, OSError):
            pass  # counted by the connection
        if link.conn is conn:
            link.conn = None
            link.reader = None
            conn.close()

    def _drop_connection(self, link: _Link) -> None:
        if link.reader is not None:
            link.reader.cancel()
            link.reader = None
        if link.conn is not None:
            link.conn.close()
            link.conn = None

    def _fail(self, link: _Link, why: str) -> None:
        device = link.peer.device
        self.failures[device] = self.failures.get(device, 0) + 1
        if not link.failing:  # logged once per failing streak, counted always
            log.warning("sending to %s (%s:%d) failed: %s", device, link.peer.host, link.peer.port, why)
            link.failing = True


__all__ = ["Peers", "TensorBytes"]
