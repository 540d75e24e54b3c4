"""The agent: one per device. It listens, takes its seats from an Assign, runs them, reports.

The protocol is docs/runtime.md ("Protocol"). Every message is one-way: whatever arrives on any
connection (the agent's port, or a connection it opened) goes through ``_dispatch``; whatever it
sends goes through ``Peers``, which queues per device so a slow peer never stalls the loop. The
engines live in one compute thread (``run_in_executor`` on a one-thread pool) so receives and
heartbeats keep flowing while LiteRT runs. Nothing a peer sends may stop the agent: what does not
verify or decode is counted by the wire (``rejects``), what decodes but does not belong (an old
epoch, a seat not in the table, ...) is counted by reason (``drops``), and both are logged once
per peer. A camera agent reads its camera for its whole life (``CameraLoop``): the motion detector
sees every frame, whatever seat the agent holds, and tells the master when motion starts or stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from worker._listen import async_listen
from worker.cluster import AgentSettings
from worker.errors import UserError
from worker.motion import MotionEvent, MotionSettings
from worker.runtime import SeatEngine
from worker.wire import (
    AEAD,
    STREAM_LIMIT,
    Ack,
    AlmostFull,
    ArtifactChunk,
    ArtifactRequest,
    Assign,
    Connection,
    ConnectionLimits,
    Heartbeat,
    Message,
    Motion,
    Peer,
    Rejects,
    Release,
    Resume,
    Seat,
    Shutdown,
    TaskTable,
    TensorBatch,
    WireError,
)

from ._advertise import Advertiser, device_properties
from ._artifacts import ArtifactCache, ArtifactError
from ._camera import CameraLoop
from ._counters import AgentCounters, Drops
from ._dataplane import DataPlane, build_engines
from ._heartbeat import build_heartbeat
from ._peers import Peers
from ._recorder import FrameSource, Recorder
from ._running import COUNTS, FrameHook, Running
from ._seats import artifacts_of, seat_label, why_not_assigned
from ._transport import DataTransport

log = logging.getLogger("mchair.agent")

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing_extensions import Self


class Agent:
    """A device's agent: ``async with Agent(...) as agent: await agent.async_wait()``.

    ``throttle`` ({stage index: seconds}) is a test/diagnostic hook: every push that runs a task
    of that stage on this agent also sleeps that long, as a slow device would. ``max_frames`` stops
    each recorder after that many kept frames; ``frame_hook(tag, frame)`` sees every kept frame.
    ``motion`` tunes the camera loop and its detector (None: defaults); the camera's ``name``, when
    it has one (a spec of ``worker.camera.open_camera``), is advertised as ``source``.
    ``data_transport`` (None: TCP) carries the TensorBatches to other devices (``worker.agent._transport``);
    what it delivers comes in through ``async_receive``. ``data`` (aead or mac) is how its
    connections protect what they carry (cluster.yaml's ``security.data``).
    """

    def __init__(self, name: str, secret: bytes, *, host: str = "127.0.0.1", port: int = 0,
                 settings: AgentSettings | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 camera: FrameSource | None = None, master: Peer | None = None, advertise: bool = False,
                 interfaces: Sequence[str] = (), cluster: str = "", device_type: str = "", backend: str = "auto",
                 throttle: Mapping[int, float] | None = None, max_frames: int | None = None,
                 frame_hook: FrameHook | None = None, artifact_timeout_s: float = 120.0,
                 motion: MotionSettings | None = None, data_transport: DataTransport | None = None,
                 data: str = AEAD) -> None:
        if not secret:
            raise ValueError("the agent needs the cluster secret")
        self.name, self.host = name, host
        self.settings = settings or AgentSettings()
        self.camera, self.master = camera, master
        self.motion = motion or MotionSettings()
        self.throttle = dict(throttle or {})
        self.max_frames, self.frame_hook = max_frames, frame_hook
        self.artifact_timeout_s = artifact_timeout_s
        self.data_transport = data_transport
        self.cache = ArtifactCache(cache_dir or self.settings.cache_dir, backend, self.settings.threads or None,
                                   cap_bytes=int(self.settings.cache_mb * 2**20), link_dir=self.settings.link_dir)
        self.rejects = Rejects(log)
        self.drops = Drops(log)
        self.shutdown_reason: str | None = None   # set by a Shutdown (``mchair fleet shutdown``)
        self.epoch = 0   # the newest the master announced (an Assign run, or a Release): older Assigns are stale
        self.camera_loop: CameraLoop | None = None
        self._secret, self._port, self._data = secret, port, data
        self._limits = ConnectionLimits()
        self._advertise, self._interfaces, self._device_type = advertise, tuple(interfaces), device_type
        self._cluster = cluster
        self._pending_epoch = 0
        self._running: Running | None = None
        self._retired: Counter[str] = Counter()   # the counts of the tables run before
        self._received = self._motions_sent = 0
        self._beat_at = time.monotonic()   # of the last heartbeat: the period its statistics cover
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._assign_task: asyncio.Task[None] | None = None
        self._advertiser: Advertiser | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._peers: Peers | None = None
        self._done: asyncio.Event | None = None
        self._started = False

    # ---- lifecycle

    @property
    def port(self) -> int:
        """The TCP port the agent listens on (the real one when it was started with 0)."""
        return self._port

    @property
    def table(self) -> TaskTable | None:
        """The task table the agent runs now (None: it holds no seat)."""
        return self._running.table if self._running is not None else None

    @property
    def recorder(self) -> Recorder | None:
        """The recorder of the running table, when this device records its stream."""
        return self._running.recorder if self._running is not None else None

    @property
    def _plane(self) -> DataPlane | None:
        return self._running.plane if self._running is not None else None

    async def async_start(self) -> None:
        """Listen, start the heartbeats and advertise (when asked); returns once the agent serves."""
        self._done = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mchair-{self.name}")
        self._peers = Peers(self._secret, max_bytes=self.settings.max_frame_bytes, rejects=self.rejects,
                            on_message=self._async_on_message, send_mbps=self.settings.send_mbps, data=self._data)
        try:
            self._server = await async_listen(f"agent {self.name}", self._async_on_connection, self.host, self._port,
                                              limit=STREAM_LIMIT)
        except UserError:
            await self._peers.async_close()
            self._pool.shutdown(wait=False)
            raise
        self._port = int(self._server.sockets[0].getsockname()[1])
        self._started = True
        self._spawn(self._async_heartbeats(), "heartbeats")
        if self.camera is not None:
            self.camera_loop = CameraLoop(self.camera, self.motion, self._on_motion)
            self.camera_loop.start()
        log.info("agent %s listening on %s:%d", self.name, self.host, self._port)
        if self._advertise:
            source = str(getattr(self.camera, "name", "")) if self.camera is not None else ""
            props = device_properties(self.name, self._port, self.camera is not None, self._device_type, source,
                                      self._cluster)
            self._advertiser = Advertiser(self.name, self.host, self._port, props, self._interfaces)
            try:
                await self._advertiser.async_start()
            except Exception as exc:  # noqa: BLE001 - a static cluster still finds the agent
                log.error("agent %s could not advertise itself: %s: %s", self.name, type(exc).__name__, exc)
                self._advertiser = None

    async def async_wait(self) -> None:
        """Wait until a Shutdown message arrives or ``async_stop`` is called."""
        assert self._done is not None, "async_start first"
        await self._done.wait()

    async def async_stop(self) -> None:
        """Stop everything (idempotent): camera, recorder, engines, server, advertisement, connections."""
        if not self._started:
            return
        self._started = False
        assert self._done is not None and self._peers is not None and self._pool is not None
        self._done.set()
        if self.camera_loop is not None:
            await self.camera_loop.async_stop()
        self._retire_running()   # its final heartbeat goes out with the flush below
        for task in [*self._tasks, *([self._assign_task] if self._assign_task else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._assign_task] if self._assign_task else []),
                             return_exceptions=True)
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.close()
        if self._advertiser is not None:
            await self._advertiser.async_stop()
        await self._peers.async_flush(timeout=1.0)
        await self._peers.async_close()
        if self.data_transport is not None:
            self.data_transport.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        log.info("agent %s stopped", self.name)

    async def __aenter__(self) -> Self:
        await self.async_start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.async_stop()

    def counters(self) -> AgentCounters:
        """A snapshot of every counter (totals over all epochs)."""
        counts = Counter(self._retired)
        if self._running is not None:
            counts.update(self._running.counts())
        rejected: dict[str, int] = {}
        for r in self.rejects.summary():
            rejected[r.kind] = rejected.get(r.kind, 0) + r.count
        return AgentCounters(
            epoch=self.epoch, received=self._received, rejected=rejected, dropped=self.drops.by_reason(),
            **{k: counts[k] for k in COUNTS}, motions_sent=self._motions_sent,
            send_failures=dict(self._peers.failures) if self._peers else {},
            send_overflow=self._peers.overflow if self._peers else 0)

    def fill(self, seat: Seat) -> int:
        """Tags ``seat`` (one of this agent's) holds waiting now."""
        return self._plane.fill(seat) if self._plane else 0

    # ---- receiving

    async def _async_on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await Connection.async_accept(reader, writer, secret=self._secret, data=self._data,
                                                 max_bytes=self.settings.max_frame_bytes, rejects=self.rejects,
                                                 limits=self._limits)
        except (EOFError, OSError):
            return  # did not prove the secret (counted by the connection), or a port probe
        self._conns.add(conn)
        try:
            while True:
                try:
                    message = await conn.async_receive()
                except (EOFError, WireError, OSError):
                    return  # closed, or out of step (counted by the connection, which closed itself)
                await self._async_on_message(message, conn.peer)
        finally:
            self._conns.discard(conn)
            conn.close()

    async def async_receive(self, message: Message, peer: str) -> None:
        """A message that came by the ``data_transport`` (from ``peer``): handled as if read from TCP."""
        await self._async_on_message(message, peer)

    async def _async_on_message(self, message: Message, peer: str) -> None:
        self._received += 1
        try:
            self._dispatch(message, peer)
        except Exception:  # a bug here must cost one message, not the agent
            log.exception("agent %s failed on a %s from %s", self.name, type(message).__name__, peer)

    def _dispatch(self, message: Message, peer: str) -> None:
        if isinstance(message, TensorBatch):
            if self._current(message.epoch, message.stream, peer, "TensorBatch") and self._plane is not None:
                self._plane.feed_batch(message, peer)
        elif isinstance(message, Assign):
            self._on_assign(message, peer)
        elif isinstance(message, ArtifactChunk):
            why = self.cache.add_chunk(message)
            if why:
                self.drops.record(peer, "unexpected-chunk", why)
        elif isinstance(message, (Resume, AlmostFull)):
            if self._current(message.epoch, message.stream, peer, type(message).__name__) and self._running:
                self._running.on_rate(message, peer)
        elif isinstance(message, Release):
            self._on_release(message, peer)
        elif isinstance(message, Shutdown):
            log.info("agent %s: shutdown asked by %s: %s", self.name, peer, message.reason)
            self.shutdown_reason = message.reason
            if self._done is not None:
                self._done.set()
        else:
            self.drops.record(peer, "unexpected", f"an agent does not take {type(message).__name__}")

    def _current(self, epoch: int, stream: str, peer: str, what: str) -> bool:
        """True when a message is of the table running now (else it is counted as dropped)."""
        # The table's epoch, not self.epoch: a Release of another stream advances the latter only.
        if self.table is None:
            self.drops.record(peer, "no-table", f"{what} without a table")
        elif epoch < self.table.epoch:
            self.drops.record(peer, "stale-epoch", f"{what} of epoch {epoch}, running {self.table.epoch}")
        elif epoch > self.table.epoch:
            self.drops.record(peer, "future-epoch", f"{what} of epoch {epoch}, running {self.table.epoch}")
        elif stream != self.table.stream:
            self.drops.record(peer, "wrong-stream", f"{what} of stream {stream!r}, running {self.table.stream!r}")
        else:
            return True
        return False

    # ---- assign

    def _on_assign(self, message: Assign, peer: str) -> None:
        newest = max(self.epoch, self._pending_epoch)
        if message.epoch <= newest:
            self.drops.record(peer, "stale-epoch", f"Assign of epoch {message.epoch}, already at {newest}")
            return
        table = message.table
        reason = why_not_assigned(message, self.name, self.camera_loop is not None)
        if reason:
            self.drops.record(peer, "bad-table", reason)
            self._send(table.master, Ack(epoch=message.epoch, device=self.name, ok=False, detail=reason))
            return
        self._pending_epoch = message.epoch
        if self._assign_task is not None:
            self._assign_task.cancel()  # superseded: the newer table wins
        mine = table.seats_of(self.name)
        self._assign_task = asyncio.get_running_loop().create_task(self._async_prepare(table, mine),
                                                                   name=f"assign-{message.epoch}")

    async def _async_prepare(self, table: TaskTable, mine: tuple[Seat, ...]) -> None:
        """Fetch missing artifacts, load them, build the engines, switch to the table, Ack."""
        assert self._pool is not None
        needed = sorted({sha for seat in mine for sha in artifacts_of(table, seat)})
        missing = [sha for sha in needed if not self.cache.has(sha)]
        # Until the switch, the running seats still use theirs: neither set may be pruned for room.
        self.cache.use(self.cache.in_use | set(needed))
        try:
            await self.cache.async_fetch(missing, lambda sha: self._send(
                table.master, ArtifactRequest(device=self.name, sha256=sha)), self.artifact_timeout_s)
            loop = asyncio.get_running_loop()
            engines = await loop.run_in_executor(self._pool, build_engines, table, mine, self.cache.runner)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever it was, the master hears it in the Ack
            detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ArtifactError) else str(exc)
            log.error("agent %s cannot take epoch %d: %s", self.name, table.epoch, detail)
            self._pending_epoch = self.epoch  # the master may send the same epoch again
            self._send(table.master, Ack(epoch=table.epoch, device=self.name, ok=False, detail=detail[:500]))
            return
        self._install(table, engines)
        self.cache.use(needed)
        labels = ", ".join(seat_label(s) for s in mine) or "no seat"
        log.info("agent %s runs epoch %d: %s (%d fetched)", self.name, table.epoch, labels, len(missing))
        self._send(table.master, Ack(epoch=table.epoch, device=self.name, ok=True,
                                     detail=f"{labels}; {len(missing)} artifacts fetched"))

    def _install(self, table: TaskTable, engines: dict[Seat, SeatEngine]) -> None:
        """Switch to ``table``: new engines and recorder first, then the old ones stop."""
        assert self._pool is not None
        old, self.epoch = self._running, table.epoch
        self._running = Running(self.name, table, engines, self._pool, self._send, self.drops, self.camera_loop,
                                throttle=self.throttle, max_frames=self.max_frames, frame_hook=self.frame_hook)
        self._retire(old)

    def _on_release(self, message: Release, peer: str) -> None:
        newest = max(self.epoch, self._pending_epoch)
        if message.epoch <= newest:
            self.drops.record(peer, "stale-epoch", f"Release of epoch {message.epoch}, already at {newest}")
            return
        if self._assign_task is not None:
            self._assign_task.cancel()   # its table is older than the release: it must not start after it
            self._assign_task = None
        # Epochs are global to the master: even a release of another stream makes older Assigns stale.
        self.epoch = message.epoch
        if self.table is not None and self.table.stream == message.stream:
            log.info("agent %s released from stream %s: %s", self.name, message.stream, message.reason)
            self._retire_running()

    def _retire_running(self) -> None:
        running, self._running = self._running, None   # first: the counters must not count it twice
        self._retire(running)

    def _retire(self, running: Running | None) -> None:
        """Stop a table no longer current, keeping its counts; the master gets the camera frame numbers
        of its recorder's last tags in a final heartbeat."""
        if running is None:
            return
        running.close()
        self._retired.update(running.counts())
        if running.recorder is not None:
            table = running.table
            self._send(table.master, self._heartbeat(table.epoch, running.plane, running.recorder))

    # ---- sending

    def _send(self, peer: Peer, message: Message) -> None:
        if self.data_transport is not None and isinstance(message, TensorBatch):
            dropped = self.data_transport.send(peer, message)
            if dropped is not None:
                self.drops.record(peer.device, dropped.reason, dropped.detail)
            elif self._peers is not None:
                self._peers.tensor_bytes.count(peer.device, message)
        elif self._peers is not None:
            self._peers.send(peer, message)

    def _on_motion(self, event: MotionEvent) -> None:
        moving = event.kind == "start"
        target = self._master_peer()
        log.info("agent %s: motion %s on its camera (score %.3f)%s", self.name, "started" if moving else "stopped",
                 event.score, "" if target is not None else "; no master to tell yet")
        if target is not None:
            self._motions_sent += 1
            self._send(target, Motion(device=self.name, camera=self.name, moving=moving, score=event.score,
                                      time_ns=time.time_ns()))

    def _master_peer(self) -> Peer | None:
        """Where reports go: the master of the running table, else the one the agent was given."""
        return self.table.master if self.table is not None else self.master

    def _heartbeat(self, epoch: int, plane: DataPlane | None, recorder: Recorder | None) -> Heartbeat:
        """A heartbeat of ``epoch`` with ``plane``'s statistics since the last heartbeat."""
        period = max(time.monotonic() - self._beat_at, 1e-3)
        links = self._peers.tensor_bytes.take() if self._peers is not None else ()
        return build_heartbeat(self.name, epoch, plane, recorder, period, self.counters().drops, links)

    async def _async_heartbeats(self) -> None:
        failed: set[str] = set()
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                table, target = self.table, self._master_peer()
                # Built even with nobody to tell: taking the statistics starts the next period afresh.
                beat = self._heartbeat(table.epoch if table is not None else self.epoch, self._plane, self.recorder)
                self._beat_at = time.monotonic()
                if target is not None:
                    self._send(target, beat)
            except Exception as exc:  # noqa: BLE001 - out of files, say: one missed beat, not a lost agent
                if type(exc).__name__ not in failed:   # logged once per kind: it may repeat every beat
                    failed.add(type(exc).__name__)
                    log.error("agent %s: a heartbeat failed (the next is tried): %s: %s", self.name,
                              type(exc).__name__, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["Agent"]
