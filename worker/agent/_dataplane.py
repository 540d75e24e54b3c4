"""One epoch of an agent's data: the inbox, the engines in the compute thread, routing, back-pressure.

Everything arriving for a seat (TensorBatches from peers, values from seats on this device, the
recorder's frames) waits in one FIFO inbox; a single loop hands the items one by one to the
compute thread, where every SeatEngine call happens, and routes what comes out: one TensorBatch
per device and tag, direct feeds to seats on this device, one Result per tag to the master.

A seat's fill is the tags waiting for it in the inbox plus its engine's ``waiting()``: the engine
runs a tag's tasks inside ``push``, so a slow stage's backlog is the inbox, not the engine. The
first tags of a stream, whose windows reach below tag 0, never complete and stay in ``waiting()``
until ``buffer`` tags later; they are not counted (they are no backlog).

A TensorBatch of a tag further ahead than a seat's buffer can hold is refused before it is queued
(``far-tag``): taken, it would push the stream's real tags out of the full inbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from worker.executor import Runner
from worker.runtime import CAMERA_FRAME, Horizon, Output, SeatEngine
from worker.wire import Message, Peer, Result, Route, Seat, TaskTable, Tensor, TensorBatch, encode_tensor

from ._counters import Drops
from ._seats import parse_seat_label, seat_label

log = logging.getLogger("mchair.agent")

Send = Callable[[Peer, Message], None]
Pressure = Callable[[Seat, bool], None]   # (seat, almost full?) on every change


@dataclass(frozen=True)
class _Meta:
    """Timing of a tag so far along its path (the latest input's)."""

    captured_ns: int
    compute_ms: float = 0.0
    queue_ms: float = 0.0
    frame: int = -1        # the camera's frame number of the tag


@dataclass(frozen=True)
class _Work:
    """Values of one tag for one seat, waiting for the compute thread."""

    seat: Seat
    tag: int
    values: tuple[tuple[str, np.ndarray, int], ...]   # (name, value, piece)
    meta: _Meta
    arrived: float                                     # time.monotonic() when it was queued


@dataclass(frozen=True)
class _Done:
    """What one push gave back from the compute thread."""

    outputs: list[Output]
    waiting: int
    seconds: float
    runs: int = 0          # runs of the stage in the push: tags whose tasks all ran (SeatEngine.tags_run)
    error: Exception | None = None
    encoded: dict[tuple[str, int], Tensor] = field(default_factory=dict)   # (name, tag) -> for remote seats
    failed: int = 0        # tags that failed in the push (``error`` is the first one's)
    refused: int = 0       # values the engine refused: their tag further ahead than it can hold


@dataclass
class _Stats:
    """Per-stage compute time, stage runs (SeatEngine.tags_run) and finished tags since the last heartbeat."""

    seconds: float = 0.0
    runs: int = 0
    tags: set[int] = field(default_factory=set)


class DataPlane:
    """The engines of ``device``'s seats in ``table`` and the flow of values between them and the peers."""

    def __init__(self, device: str, table: TaskTable, engines: Mapping[Seat, SeatEngine], pool: Executor,
                 send: Send, on_pressure: Pressure, drops: Drops, throttle: Mapping[int, float] | None = None) -> None:
        self.device, self.table = device, table
        self._engines = dict(engines)
        self._pool, self._send, self._on_pressure, self._drops = pool, send, on_pressure, drops
        self._throttle = dict(throttle or {})
        self._seats = frozenset(table.seats)
        self._routes: dict[tuple[int, str], list[Route]] = {}
        for stage in table.stages:
            for route in stage.routes:
                self._routes.setdefault((stage.index, route.name), []).append(route)
        self._inbox: deque[_Work] = deque()
        self._ready = asyncio.Event()
        self._queued: dict[Seat, Counter[int]] = {s: Counter() for s in self._engines}
        self._horizons = {s: Horizon(table.buffer) for s in self._engines}
        self._waiting: dict[Seat, int] = dict.fromkeys(self._engines, 0)
        self._pressure: dict[Seat, int | None] = dict.fromkeys(self._engines)  # fill at the last AlmostFull
        self._metas: dict[Seat, dict[int, _Meta]] = {s: {} for s in self._engines}
        self._stats: dict[int, _Stats] = {}
        self._errors: set[tuple[int, str]] = set()
        self.computed = self.compute_errors = self.overflow_drops = 0
        self.batches_sent = self.local_feeds = self.results_sent = 0
        self.codec_fallbacks = 0
        self._recorder = next((s for s in self._engines if table.stages[s.stage].recorder), None)
        self._task = asyncio.get_running_loop().create_task(self._async_loop(), name=f"compute-{table.epoch}")

    # ---- what comes in

    def feed_frame(self, tag: int, value: np.ndarray, captured_ns: int, frame: int = -1) -> None:
        """A frame the recorder kept: ``camera/frame`` of ``tag`` for the recorder's seat."""
        if self._recorder is None:
            return  # the table moved the recorder elsewhere while a frame was on its way
        self._enqueue(_Work(self._recorder, tag, ((CAMERA_FRAME, value, 0),), _Meta(captured_ns, frame=frame),
                            time.monotonic()))

    def feed_batch(self, batch: TensorBatch, peer: str) -> None:
        """A TensorBatch from a peer (epoch and stream already checked): its tensors to the seats here."""
        source = parse_seat_label(batch.source)
        if source is None or source not in self._seats:
            self._drops.record(peer, "unknown-seat", f"TensorBatch from {batch.source[:80]!r}, not a seat of "
                               f"epoch {self.table.epoch}")
            return
        if batch.tag < 0:
            self._drops.record(peer, "bad-tensor", f"TensorBatch with tag {batch.tag}")
            return
        per_seat: dict[Seat, list[tuple[str, np.ndarray, int]]] = {}
        for tensor in batch.tensors:
            routes = self._routes.get((source.stage, tensor.name), [])
            mine = {d for r in routes for d in self.table.destinations(r, batch.tag) if d.device == self.device}
            if not mine:
                self._drops.record(peer, "misrouted", f"{tensor.name!r} of tag {batch.tag} from "
                                   f"{batch.source}: no seat here takes it")
                continue
            try:
                value = tensor.array()
            except ValueError as exc:
                self._drops.record(peer, "bad-tensor", str(exc))
                continue
            for seat in mine:
                per_seat.setdefault(seat, []).append((tensor.name, value, source.shard))
        meta = _Meta(batch.captured_ns, batch.compute_ms, batch.queue_ms, batch.frame)
        for seat, values in per_seat.items():
            horizon = self._horizons[seat]
            if not horizon.admit(batch.tag):
                self._drops.record(peer, "far-tag", f"TensorBatch of tag {batch.tag} for seat {seat_label(seat)}: it "
                                   f"holds tags up to {horizon.newest + horizon.ahead}")
                continue
            self._enqueue(_Work(seat, batch.tag, tuple(values), meta, time.monotonic()))

    # ---- state

    def fill(self, seat: Seat) -> int:
        """Tags ``seat`` holds waiting: queued in the inbox plus its engine's ``waiting()``."""
        return len(self._queued.get(seat, ())) + self._waiting.get(seat, 0)

    def queue_fill(self) -> float:
        """The fullest seat's fill as a fraction of ``buffer`` (the heartbeat's queue_fill)."""
        return max((self.fill(s) / self.table.buffer for s in self._engines), default=0.0)

    def take_stats(self, period_s: float) -> tuple[float, dict[str, float]]:
        """(tags per second of the busiest stage, mean compute ms per run of each stage's tasks) since the last call.

        The master compares the ms per run with the plan's predicted run time to detect CPU contention;
        a stage that ran no tag is left out.
        """
        stats, self._stats = self._stats, {}
        ips = max((len(s.tags) / period_s for s in stats.values()), default=0.0)
        latency = {self.table.stages[i].name: 1000 * s.seconds / s.runs for i, s in stats.items() if s.runs}
        return ips, latency

    def close(self) -> None:
        """Stop the loop now: no output is routed and no counter moves after this (a push in the
        compute thread finishes; its outputs are dropped)."""
        self._task.cancel()

    async def async_close(self) -> None:
        """``close`` and wait for the loop to end."""
        self.close()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    # ---- the loop

    def _enqueue(self, work: _Work) -> None:
        self._horizons[work.seat].take(work.tag)   # this device's own values move the window too
        queued = self._queued[work.seat]
        queued[work.tag] += 1
        self._inbox.append(work)
        self._ready.set()
        if len(queued) + self._waiting[work.seat] > self.table.buffer and len(queued) > 1:
            self._drop_oldest(work.seat)
        self._check_pressure(work.seat)

    def _drop_oldest(self, seat: Seat) -> None:
        """The seat is over ``buffer``: its oldest queued tag goes (a window over it will not fill)."""
        oldest = min(self._queued[seat])
        self._inbox = deque(w for w in self._inbox if not (w.seat == seat and w.tag == oldest))
        del self._queued[seat][oldest]
        self.overflow_drops += 1
        if self.overflow_drops == 1 or self.overflow_drops % 100 == 0:
            log.warning("seat %s is over its buffer of %d tags: dropped tag %d (%d so far)", seat_label(seat),
                        self.table.buffer, oldest, self.overflow_drops)

    async def _async_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._inbox:
                self._ready.clear()
                await self._ready.wait()
                continue
            work = self._inbox.popleft()
            queued = self._queued[work.seat]
            queued[work.tag] -= 1
            if queued[work.tag] <= 0:
                del queued[work.tag]
            started = time.monotonic()
            done = await loop.run_in_executor(self._pool, self._compute, work)
            try:
                self._finish(work, done, queue_ms=1000 * (started - work.arrived))
            except Exception:  # a bug in routing must cost this tag, not the whole data plane
                log.exception("seat %s: routing the outputs of tag %d failed", seat_label(work.seat), work.tag)

    def _compute(self, work: _Work) -> _Done:
        """In the compute thread: push the values, time it (and slow it down when throttled)."""
        engine = self._engines[work.seat]
        runs, tags_run, refused = engine.runs, engine.tags_run, engine.refused
        start, outputs = time.perf_counter(), []
        error: Exception | None = None
        try:
            for name, value, piece in work.values:
                outputs += engine.push(name, work.tag, value, piece)
        except Exception as exc:  # noqa: BLE001 - a bad value or a failing model must not stop the agent
            error = exc
        failures = engine.take_failures()   # tags given up inside the push (a bad value in their inputs)
        if failures and error is None:
            error = failures[0][1]
        delay = self._throttle.get(work.seat.stage, 0.0)
        if delay > 0 and engine.runs > runs:
            time.sleep(delay)   # test/diagnostic hook: a slow stage (see Agent's ``throttle``)
        seconds = time.perf_counter() - start
        # Encoding is not the stage's compute (the plan's run time excludes it), but it belongs in
        # this thread: a big tensor's zstd must not hold up the event loop.
        encoded = {(o.name, o.tag): self._encode(o.name, o.value, o.route.codec) for o in outputs
                   if o.route is not None and any(d.device != self.device for d in o.destinations)}
        return _Done(outputs, engine.waiting(), seconds, engine.tags_run - tags_run, error, encoded,
                     max(len(failures), error is not None), engine.refused - refused)

    def _encode(self, name: str, value: np.ndarray, codec: str) -> Tensor:
        """``value`` in the route's codec; raw when a lossy codec refuses it (NaN, infinities): exact beats lost."""
        try:
            return encode_tensor(name, value, codec)
        except ValueError as exc:
            self.codec_fallbacks += 1
            if self.codec_fallbacks == 1 or self.codec_fallbacks % 100 == 0:
                log.warning("%s cannot be sent as %s (%s): sent raw (%d so far)", name, codec, exc,
                            self.codec_fallbacks)
            return Tensor.from_array(name, value)

    def _finish(self, work: _Work, done: _Done, queue_ms: float) -> None:
        seat = work.seat
        self.computed += 1
        self._waiting[seat] = done.waiting
        for _ in range(done.refused):   # the inbox let it in, the engine could not hold it (after a gap)
            self._drops.record(self.device, "far-tag", f"seat {seat_label(seat)} refused tag {work.tag}")
        if done.error is not None:
            self.compute_errors += done.failed
            key = (seat.stage, type(done.error).__name__)
            if key not in self._errors:  # once per stage and kind of error: a bad peer cannot flood the log
                self._errors.add(key)
                log.error("seat %s failed on tag %d: %s: %s", seat_label(seat), work.tag,
                          type(done.error).__name__, done.error)
        metas = self._metas[seat]
        metas[work.tag] = _Meta(work.meta.captured_ns, work.meta.compute_ms, work.meta.queue_ms + queue_ms,
                                work.meta.frame)
        if len(metas) > 4 * self.table.buffer:
            for tag in sorted(metas)[: len(metas) - 2 * self.table.buffer]:
                del metas[tag]
        stats = self._stats.setdefault(seat.stage, _Stats())
        stats.seconds += done.seconds
        stats.runs += done.runs
        if done.outputs:
            self._route(seat, done.outputs, 1000 * done.seconds, done.encoded)
            stats.tags.update(o.tag for o in done.outputs)
        self._check_pressure(seat)

    def _route(self, seat: Seat, outputs: list[Output], compute_ms: float,
               encoded: dict[tuple[str, int], Tensor]) -> None:
        stage = self.table.stages[seat.stage]
        source, shard = seat_label(seat), (seat.shard if stage.shards > 1 else -1)
        local: dict[tuple[Seat, int], list[tuple[str, np.ndarray, int]]] = {}
        remote: dict[tuple[str, int], dict[str, Tensor]] = {}
        results: dict[int, list[Tensor]] = {}
        for out in outputs:
            if out.route is None:
                results.setdefault(out.tag, []).append(Tensor.from_array(out.name, out.value))
                continue
            for dest in out.destinations:
                if dest.device == self.device:
                    local.setdefault((dest, out.tag), []).append((out.name, out.value, out.piece))
                else:  # one batch per device and tag: the receiver finds its seats in the table
                    tensors = remote.setdefault((dest.device, out.tag), {})
                    if out.name not in tensors:
                        tensors[out.name] = encoded[(out.name, out.tag)]
        now = time.monotonic()
        for (dest, tag), values in local.items():
            self.local_feeds += len(values)
            self._enqueue(_Work(dest, tag, tuple(values), self._meta(seat, tag, compute_ms), now))
        for (device, tag), tensors in remote.items():
            meta = self._meta(seat, tag, compute_ms)
            self._send(self.table.peer(device), TensorBatch(
                epoch=self.table.epoch, stream=self.table.stream, tag=tag, source=source, shard=shard,
                tensors=tuple(tensors.values()), sent_ns=time.time_ns(), captured_ns=meta.captured_ns,
                frame=meta.frame,
                compute_ms=meta.compute_ms, queue_ms=meta.queue_ms))
            self.batches_sent += 1
        for tag, result in results.items():
            meta = self._meta(seat, tag, compute_ms)
            # Transfer is what is neither compute nor queue since the capture (one clock on one host).
            elapsed_ms = (time.time_ns() - meta.captured_ns) / 1e6 if meta.captured_ns else 0.0
            self._send(self.table.master, Result(
                epoch=self.table.epoch, stream=self.table.stream, tag=tag, shard=shard, tensors=tuple(result),
                captured_ns=meta.captured_ns, frame=meta.frame, compute_ms=meta.compute_ms, queue_ms=meta.queue_ms,
                transfer_ms=max(0.0, elapsed_ms - meta.compute_ms - meta.queue_ms)))
            self.results_sent += 1

    def _meta(self, seat: Seat, tag: int, compute_ms: float) -> _Meta:
        """Timing of ``tag`` leaving ``seat``: its latest input's, plus the push that made it."""
        got = self._metas[seat].get(tag, _Meta(0))
        return _Meta(got.captured_ns, got.compute_ms + compute_ms, got.queue_ms, got.frame)

    def _check_pressure(self, seat: Seat) -> None:
        """AlmostFull at ``almost_full`` and again at every further step up; Resume under half of it."""
        fill, almost = self.fill(seat), self.table.almost_full
        step = max(1, (self.table.buffer - almost) // 4)
        last = self._pressure[seat]
        if fill >= almost and (last is None or fill >= last + step):
            self._pressure[seat] = fill
            self._on_pressure(seat, True)
        elif last is not None and fill < almost / 2:
            self._pressure[seat] = None
            self._on_pressure(seat, False)


def build_engines(table: TaskTable, seats: tuple[Seat, ...], load: Callable[[str], Runner]) -> dict[Seat, SeatEngine]:
    """In the compute thread: one engine per seat, runners from ``load`` (the cache: loaded once)."""
    return {seat: SeatEngine(table, seat, load) for seat in seats}


__all__ = ["DataPlane", "build_engines"]
