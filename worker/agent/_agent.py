"""The agent: one per device. It listens, takes its seats from an Assign, runs them, reports.

The protocol is docs/runtime.md ("Protocol"). Every message is one-way: whatever arrives on any
connection (the agent's port, or a connection it opened) goes through ``_dispatch``; whatever it
sends goes through ``Peers``, which queues per device so a slow peer never stalls the loop. The
engines live in one compute thread (``run_in_executor`` on a one-thread pool) so receives and
heartbeats keep flowing while LiteRT runs. Nothing a peer sends may stop the agent: what does not
verify or decode is counted by the wire (``rejects``), what decodes but does not belong (an old
epoch, a seat not in the table, ...) is counted by reason (``drops``), and both are logged once
per peer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from worker.cluster import AgentSettings
from worker.errors import UserError
from worker.messages import (
    Ack,
    AlmostFull,
    ArtifactChunk,
    ArtifactRequest,
    Assign,
    Heartbeat,
    Message,
    Resume,
    Shutdown,
    StageLatency,
    TensorBatch,
)
from worker.runtime import SeatEngine
from worker.table import Peer, Seat, TaskTable
from worker.wire import STREAM_LIMIT, Connection, Rejects, WireError

from ._advertise import Advertiser, device_properties
from ._artifacts import ArtifactCache, ArtifactError
from ._counters import AgentCounters, Drops
from ._dataplane import DataPlane, build_engines
from ._peers import Peers
from ._recorder import FrameSource, Recorder
from ._seats import artifacts_of, parse_seat_label, seat_label, table_problem

log = logging.getLogger("mchair.agent")

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing import Self

FrameHook = Callable[[int, np.ndarray], None]
_PLANE_COUNTERS = ("computed", "compute_errors", "overflow_drops", "batches_sent", "local_feeds", "results_sent")


class Agent:
    """A device's agent: ``async with Agent(...) as agent: await agent.async_wait()``.

    ``throttle`` ({stage index: seconds}) is a test/diagnostic hook: every push that runs a task
    of that stage on this agent also sleeps that long, as a slow device would. ``max_frames`` stops
    the recorder after that many kept frames; ``frame_hook(tag, frame)`` sees every kept frame.
    """

    def __init__(self, name: str, secret: bytes, *, host: str = "127.0.0.1", port: int = 0,
                 settings: AgentSettings | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 camera: FrameSource | None = None, master: Peer | None = None, advertise: bool = False,
                 interfaces: Sequence[str] = (), device_type: str = "", backend: str = "auto",
                 throttle: Mapping[int, float] | None = None, max_frames: int | None = None,
                 frame_hook: FrameHook | None = None, artifact_timeout_s: float = 120.0) -> None:
        if not secret:
            raise ValueError("the agent needs the cluster secret")
        self.name, self.host = name, host
        self.settings = settings or AgentSettings()
        self.camera, self.master = camera, master
        self.throttle = dict(throttle or {})
        self.max_frames, self.frame_hook = max_frames, frame_hook
        self.artifact_timeout_s = artifact_timeout_s
        self.cache = ArtifactCache(cache_dir or self.settings.cache_dir, backend, self.settings.threads or None)
        self.rejects = Rejects(log)
        self.drops = Drops(log)
        self.table: TaskTable | None = None
        self.epoch = 0
        self.recorder: Recorder | None = None
        self._secret, self._port = secret, port
        self._advertise, self._interfaces, self._device_type = advertise, tuple(interfaces), device_type
        self._pending_epoch = 0
        self._plane: DataPlane | None = None
        self._received = self._almost_full_sent = self._resume_sent = 0
        self._totals = dict.fromkeys(_PLANE_COUNTERS, 0)
        self._frames = self._frame_drops = 0
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

    async def async_start(self) -> None:
        """Listen, start the heartbeats and advertise (when asked); returns once the agent serves."""
        self._done = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mchair-{self.name}")
        self._peers = Peers(self._secret, max_bytes=self.settings.max_frame_bytes, rejects=self.rejects,
                            on_message=self._async_on_message)
        try:
            self._server = await asyncio.start_server(self._async_on_connection, self.host, self._port,
                                                      limit=STREAM_LIMIT)
        except OSError as exc:
            await self._peers.async_close()
            self._pool.shutdown(wait=False)
            raise UserError(f"agent {self.name}: cannot listen on {self.host}:{self._port}: "
                            f"{exc.strerror or exc}") from None
        self._port = int(self._server.sockets[0].getsockname()[1])
        self._started = True
        self._spawn(self._async_heartbeats(), "heartbeats")
        log.info("agent %s listening on %s:%d", self.name, self.host, self._port)
        if self._advertise:
            props = device_properties(self.name, self._port, self.camera is not None, self._device_type)
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
        """Stop everything (idempotent): recorder, engines, server, advertisement, connections."""
        if not self._started:
            return
        self._started = False
        assert self._done is not None and self._peers is not None and self._pool is not None
        self._done.set()
        plane, recorder, self._plane, self.recorder = self._plane, self.recorder, None, None
        await self._async_retire(plane, recorder)
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
        self._pool.shutdown(wait=False, cancel_futures=True)
        log.info("agent %s stopped", self.name)

    async def __aenter__(self) -> Self:
        await self.async_start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.async_stop()

    def counters(self) -> AgentCounters:
        """A snapshot of every counter (totals over all epochs)."""
        plane = {k: self._totals[k] + (getattr(self._plane, k) if self._plane else 0) for k in _PLANE_COUNTERS}
        rejected: dict[str, int] = {}
        for r in self.rejects.summary():
            rejected[r.kind] = rejected.get(r.kind, 0) + r.count
        rec = self.recorder
        return AgentCounters(
            epoch=self.epoch, received=self._received, rejected=rejected, dropped=self.drops.by_reason(),
            frames=self._frames + (rec.kept if rec else 0), frame_drops=self._frame_drops + (rec.drops if rec else 0),
            overflow_drops=plane["overflow_drops"], computed=plane["computed"], compute_errors=plane["compute_errors"],
            batches_sent=plane["batches_sent"], local_feeds=plane["local_feeds"], results_sent=plane["results_sent"],
            almost_full_sent=self._almost_full_sent, resume_sent=self._resume_sent,
            send_failures=dict(self._peers.failures) if self._peers else {})

    def fill(self, seat: Seat) -> int:
        """Tags ``seat`` (one of this agent's) holds waiting now."""
        return self._plane.fill(seat) if self._plane else 0

    # ---- receiving

    async def _async_on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, secret=self._secret, max_bytes=self.settings.max_frame_bytes,
                          rejects=self.rejects)
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
            self._on_rate(message, peer)
        elif isinstance(message, Shutdown):
            log.info("agent %s: shutdown asked by %s: %s", self.name, peer, message.reason)
            if self._done is not None:
                self._done.set()
        else:
            self.drops.record(peer, "unexpected", f"an agent does not take {type(message).__name__}")

    def _current(self, epoch: int, stream: str, peer: str, what: str) -> bool:
        """True when a message is of the table running now (else it is counted as dropped)."""
        if self.table is None:
            self.drops.record(peer, "no-table", f"{what} before any Assign")
        elif epoch < self.epoch:
            self.drops.record(peer, "stale-epoch", f"{what} of epoch {epoch}, running {self.epoch}")
        elif epoch > self.epoch:
            self.drops.record(peer, "future-epoch", f"{what} of epoch {epoch}, running {self.epoch}")
        elif stream != self.table.stream:
            self.drops.record(peer, "wrong-stream", f"{what} of stream {stream!r}, running {self.table.stream!r}")
        else:
            return True
        return False

    def _on_rate(self, message: Resume | AlmostFull, peer: str) -> None:
        what = type(message).__name__
        if not self._current(message.epoch, message.stream, peer, what):
            return
        assert self.table is not None
        if self.recorder is None:
            self.drops.record(peer, "unexpected", f"{what}({message.seat}) but {self.name} does not record "
                              f"{self.table.stream}")
        elif isinstance(message, Resume) and message.seat == "*":
            log.info("agent %s: recording %s at %g frames/s", self.name, self.table.stream, self.table.fps)
            self.recorder.start()
        elif parse_seat_label(message.seat) not in set(self.table.seats):
            self.drops.record(peer, "unknown-seat", f"{what} from {message.seat[:80]!r}")
        elif isinstance(message, Resume):
            self.recorder.resume(message.seat)
        else:
            self.recorder.almost_full(message.seat)

    # ---- assign

    def _on_assign(self, message: Assign, peer: str) -> None:
        newest = max(self.epoch, self._pending_epoch)
        if message.epoch <= newest:
            self.drops.record(peer, "stale-epoch", f"Assign of epoch {message.epoch}, already at {newest}")
            return
        table = message.table
        problem = "" if table.epoch == message.epoch else \
            f"table of epoch {table.epoch} in an Assign of {message.epoch}"
        problem = problem or table_problem(table, self.name)
        mine = table.seats_of(self.name) if not problem else ()
        if any(table.stages[s.stage].recorder for s in mine) and self.camera is None:
            problem = f"{self.name} has no camera to record {table.stream}"
        if problem:
            self.drops.record(peer, "bad-table", problem)
            self._send(table.master, Ack(epoch=message.epoch, device=self.name, ok=False, detail=problem))
            return
        self._pending_epoch = message.epoch
        if self._assign_task is not None:
            self._assign_task.cancel()  # superseded: the newer table wins
        self._assign_task = asyncio.get_running_loop().create_task(self._async_prepare(table, mine),
                                                                   name=f"assign-{message.epoch}")

    async def _async_prepare(self, table: TaskTable, mine: tuple[Seat, ...]) -> None:
        """Fetch missing artifacts, load them, build the engines, switch to the table, Ack."""
        assert self._pool is not None
        needed = sorted({sha for seat in mine for sha in artifacts_of(table, seat)})
        missing = [sha for sha in needed if not self.cache.has(sha)]
        try:
            futures = [self.cache.expect(sha) for sha in missing]
            for sha in missing:
                self._send(table.master, ArtifactRequest(device=self.name, sha256=sha))
            if futures:
                # asyncio.wait (unlike gather) leaves the futures alone when this task is cancelled.
                _, late = await asyncio.wait(futures, timeout=self.artifact_timeout_s)
                if late:
                    raise ArtifactError(f"{len(late)} of {len(missing)} artifacts did not arrive in "
                                        f"{self.artifact_timeout_s:g} s")
                for f in futures:
                    f.result()  # a sha256 mismatch raises here
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
        await self._async_install(table, engines)
        labels = ", ".join(seat_label(s) for s in mine) or "no seat"
        log.info("agent %s runs epoch %d: %s (%d fetched)", self.name, table.epoch, labels, len(missing))
        self._send(table.master, Ack(epoch=table.epoch, device=self.name, ok=True,
                                     detail=f"{labels}; {len(missing)} artifacts fetched"))

    async def _async_install(self, table: TaskTable, engines: dict[Seat, SeatEngine]) -> None:
        """Switch to ``table``: new engines and recorder first, then the old ones stop."""
        assert self._pool is not None
        old_plane, old_recorder = self._plane, self.recorder
        self.table, self.epoch = table, table.epoch
        self._plane = DataPlane(self.name, table, engines, self._pool, self._send, self._on_pressure, self.drops,
                                self.throttle)
        records = any(table.stages[s.stage].recorder for s in engines)
        self.recorder = Recorder(self.camera, table.frame_shape, table.fps, self._on_frame,
                                 max_frames=self.max_frames) if records and self.camera is not None else None
        await self._async_retire(old_plane, old_recorder)

    async def _async_retire(self, plane: DataPlane | None, recorder: Recorder | None) -> None:
        """Stop a data plane and a recorder no longer current, keeping their counts in the totals."""
        if recorder is not None:
            await recorder.async_stop()
            self._frames += recorder.kept
            self._frame_drops += recorder.drops
        if plane is not None:
            await plane.async_close()
            for key in _PLANE_COUNTERS:
                self._totals[key] += getattr(plane, key)

    # ---- sending

    def _send(self, peer: Peer, message: Message) -> None:
        if self._peers is not None:
            self._peers.send(peer, message)

    def _on_frame(self, tag: int, value: np.ndarray, captured_ns: int, frame: int) -> None:
        if self.frame_hook is not None:
            self.frame_hook(tag, value)
        if self._plane is not None:
            self._plane.feed_frame(tag, value, captured_ns, frame)

    def _on_pressure(self, seat: Seat, full: bool) -> None:
        """Tell the recorder (this agent's own, or the recording device's) that ``seat`` is (no longer) full."""
        table = self.table
        if table is None:
            return
        label = seat_label(seat)
        if full:
            self._almost_full_sent += 1
        else:
            self._resume_sent += 1
        recorder_device = table.seat(0, 0, 0).device
        if recorder_device == self.name and self.recorder is not None:
            (self.recorder.almost_full if full else self.recorder.resume)(label)
            return
        cls = AlmostFull if full else Resume
        self._send(table.peer(recorder_device), cls(epoch=table.epoch, seat=label, stream=table.stream))

    async def _async_heartbeats(self) -> None:
        period = self.settings.heartbeat_s
        process = psutil.Process()
        last = time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            target = self.table.master if self.table is not None else self.master
            plane = self._plane
            ips, latency = plane.take_stats(max(now - last, 1e-3)) if plane else (0.0, {})
            last = now
            if target is None:
                continue  # nobody to report to until the first Assign names the master
            try:
                rss = process.memory_info().rss / 2**20
            except psutil.Error:
                rss = 0.0
            first_tag, frames = self.recorder.take_numbers() if self.recorder is not None else (-1, ())
            self._send(target, Heartbeat(
                device=self.name, epoch=self.epoch, time_ns=time.time_ns(),
                queue_fill=plane.queue_fill() if plane else 0.0, ips=ips,
                stage_latency_ms=tuple(StageLatency(stage=k, ms=v) for k, v in latency.items()),
                drops=self.counters().drops, rss_mb=rss, first_tag=first_tag, frames=frames))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["Agent"]
