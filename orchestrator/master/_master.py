"""The master daemon: listens to the agents, keeps the fleet and the streams, plays the game.

Everything that changes who should sit where (motion starting or stopping, a device joining or
lost, a device slowed by contention) becomes an event; one task plays the game for the events
that queued up together (``_chairs.play``), so two games never interleave. Results, heartbeats
and artifact requests are handled as they arrive, whatever game is being played.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from worker.agent import Peers, artifacts_of
from worker.cluster import ClusterConfig
from worker.errors import UserError
from worker.messages import (
    Ack,
    ArtifactChunk,
    ArtifactRequest,
    Heartbeat,
    Message,
    Motion,
    Result,
    Shutdown,
    StatusRequest,
)
from worker.table import Peer, TaskTable
from worker.wire import Connection, Rejects, WireError

from ..planner import Plan, PlanSet, plan_model
from ..profile import Profile
from ..toolchain.manifest import Manifest, load_manifest
from ..toolchain.model import Model, open_model
from ._bind import partition_plan
from ._chairs import Chairs
from ._contention import Contention
from ._discovery import Device
from ._fleet import Fleet
from ._metrics import MetricsServer
from ._results import Inference, Results
from ._status import cluster_status
from ._streams import EpochRun, Reassignment, Stream

CHUNK = 1024 * 1024
log = logging.getLogger("mchair.master")


@dataclass(frozen=True)
class Event:
    """Something that may change the seating: why, and when it happened (wall clock, ns)."""

    reason: str
    time_ns: int


class Master:
    """Plans, binds and assigns the streams of the cameras that see motion, and gathers their results."""

    def __init__(self, cluster: ClusterConfig, model: Model | str, profile: Profile, work_dir: Path,
                 algorithm: str = "optimal", on_result: Callable[[Inference], None] | None = None,
                 fps: float | None = None, only: Sequence[str] | None = None, plans: PlanSet | None = None) -> None:
        self.cluster, self.profile, self.work_dir = cluster, profile, work_dir
        self.model = model if isinstance(model, Model) else open_model(model)   # loaded once, kept
        self.algorithm, self.fps = algorithm, fps   # fps: the camera's rate, if not the model's
        self.secret = cluster.secret()
        self.peer = Peer("master", cluster.master.host, cluster.master.port)
        self.epoch = 0
        self.streams: dict[str, Stream] = {}
        self.reassignments: list[Reassignment] = []
        self.heartbeats: dict[str, Heartbeat] = {}
        # Largest relative error of a stream's results against the uncompressed reference, where one
        # was replayed (a synthetic camera can be: `mchair demo`, the tests): status reports it.
        self.output_errors: dict[str, float] = {}
        self.link_bytes: dict[tuple[str, str, str], list[int]] = {}   # (device, peer, codec) -> [bytes, raw] so far
        self.rejects = Rejects()
        self.on_result = on_result
        self.fleet = Fleet(cluster, self._on_fleet_change, only)
        self.contention = Contention(cluster.game.contention)
        self.games = 0
        self._last: EpochRun | None = None
        self._plans: PlanSet | None = plans   # given: a benchmark's or test's plans (else planned when needed)
        self._artifacts: dict[str, Path] = {}
        self._acks: dict[int, dict[str, Ack]] = {}
        self._ack_changed = asyncio.Event()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._game_task: asyncio.Task[None] | None = None
        # Artifacts go out as 1 MiB chunks: the queue must hold the biggest (a 520 MB fusion block).
        self._peers = Peers(self.secret, max_bytes=cluster.agent.max_frame_bytes, rejects=self.rejects,
                            max_queue=1 << 14)
        self._chairs = Chairs(self)
        self._server: asyncio.base_events.Server | None = None
        self.metrics: MetricsServer | None = None   # when cluster.yaml asks for it
        self._conns: set[Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    # ---- lifecycle

    async def async_start(self) -> Peer:
        """Listen for the agents' messages and watch the fleet; returns where the master listens."""
        if self._plans is None and self.cluster.codecs.choose != ("raw",):
            # Measuring what the codecs do to the model runs it many times: before serving, off the
            # event loop (a game must not stall heartbeats); later plans read the cached figures.
            await asyncio.to_thread(self.plan_set, 1)
        self._server = await asyncio.start_server(self._serve, self.cluster.master.host, self.cluster.master.port)
        port = self._server.sockets[0].getsockname()[1]
        self.peer = Peer("master", self.cluster.master.host, port)
        await self.fleet.async_start()
        if self.cluster.metrics.port:
            self.metrics = MetricsServer(self.cluster.master.host, self.cluster.metrics.port,
                                          lambda: cluster_status(self))
            await self.metrics.async_start()
        self._idle.set()
        self._game_task = asyncio.get_running_loop().create_task(self._async_games(), name="games")
        return self.peer

    async def async_stop(self, reason: str = "master stopping") -> None:
        """Tell every known agent to stop, and close."""
        if self._game_task is not None:
            self._game_task.cancel()
            await asyncio.gather(self._game_task, return_exceptions=True)
        await self.fleet.async_stop()
        if self.metrics is not None:
            await self.metrics.async_stop()
        for member in self.fleet.members.values():
            self._peers.send(member.device.peer, Shutdown(reason=reason))
        await self._peers.async_flush()
        await self._peers.async_close()
        if self._server is not None:
            self._server.close()
            for conn in list(self._conns):
                conn.close()   # their handlers see the end of the stream and return (no cancelled tasks)
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=2.0)
            await self._server.wait_closed()

    async def async_wait_devices(self, count: int, timeout: float = 30.0) -> list[Device]:
        """Wait until ``count`` devices are alive (at most ``timeout`` s); the alive ones."""
        return await self.fleet.async_wait(count, timeout)

    # ---- what starts a game

    def motion(self, camera: str, moving: bool, time_ns: int | None = None, why: str = "motion") -> None:
        """Motion started (``moving``) or stopped on ``camera``: its stream takes or gives up devices."""
        stream = self.streams.setdefault(camera, Stream(camera))
        if stream.active == moving:
            return
        stream.active = moving
        if moving:
            stream.since = time.monotonic()
        self._event(f"{why} {'started' if moving else 'stopped'} on {camera}", time_ns)

    def _on_fleet_change(self, reason: str) -> None:
        self._event(reason)

    def _event(self, reason: str, time_ns: int | None = None) -> None:
        self._idle.clear()
        self._events.put_nowait(Event(reason, time_ns or time.time_ns()))

    async def async_settle(self, timeout: float = 120.0) -> None:
        """Wait until no game is being played or waiting to be."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def async_assign(self, devices: Sequence[Device], recorder: str, timeout: float = 120.0) -> TaskTable:
        """Start ``recorder``'s stream as if its camera saw motion, on ``devices`` (and any other alive
        device); returns its table once every seat acknowledged it."""
        for device in devices:
            self.fleet.found(device)
        self.motion(recorder, True, why="assigned")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stream = self.streams[recorder]
        while loop.time() < deadline:
            await self.async_settle(max(deadline - loop.time(), 0.01))
            if stream.current is not None:
                return stream.current.table
            if self._events.empty():
                break
        raise UserError(f"stream {recorder} got no table: {self._chairs.last_reason or 'no devices'}")

    async def _async_games(self) -> None:
        while True:
            events = [await self._events.get()]
            await asyncio.sleep(0.02)    # events that come together (motion here and there) make one game
            while not self._events.empty():
                events.append(self._events.get_nowait())
            try:
                await self._chairs.async_play(events)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the game for %s failed", "; ".join(e.reason for e in events))
            self.games += 1
            if self._events.empty():
                self._idle.set()

    # ---- what the game uses

    def next_epoch(self) -> int:
        """A fresh epoch (one counter for every stream: an agent only ever sees epochs grow)."""
        self.epoch += 1
        return self.epoch

    def plan_set(self, n: int) -> PlanSet:
        """Plans for 1..n devices (at least), made once and kept: a game costs no planning."""
        if self._plans is None or self._plans.n_max < n:
            self._plans = plan_model(self.model, self.profile, max(n, 1), self.algorithm, fps=self.fps,
                                     codecs=self.cluster.codecs)
        return self._plans

    def partition(self, plan: Plan) -> tuple[Manifest, Path]:
        """The partition of ``plan``, made once per layout and kept under the work directory."""
        cuts, shards = plan.partition_args()
        key = hashlib.sha256(repr((self.model.source, cuts, sorted(shards.items()))).encode()).hexdigest()[:16]
        directory = self.work_dir / "partitions" / key
        if (directory / "manifest.json").exists():
            manifest = load_manifest(directory)
        else:
            manifest = partition_plan(plan, self.model, directory)
        self._artifacts.update({p.stem: p for p in directory.glob("*.tflite")})
        return manifest, directory

    @property
    def artifact_sizes(self) -> Mapping[str, int]:
        """Bytes of every artifact partitioned so far, by sha256."""
        return _Sizes(self._artifacts)

    def send(self, peer: Peer, message: Message) -> None:
        """Queue a control message for ``peer``."""
        self._peers.send(peer, message)

    def acks(self, epoch: int) -> dict[str, Ack]:
        """The Acks of ``epoch`` so far, by device."""
        return self._acks.setdefault(epoch, {})

    async def async_ack_change(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the next Ack of any epoch."""
        self._ack_changed.clear()
        try:
            await asyncio.wait_for(self._ack_changed.wait(), timeout)
        except TimeoutError:
            pass

    def started(self, stream: Stream, run: EpochRun) -> None:
        """``run`` is the stream's new epoch."""
        stream.start(run)
        self.reassignments.append(run.reassignment)
        self._last = run

    # ---- the last stream assigned (for callers with one stream)

    @property
    def table(self) -> TaskTable | None:
        """The table of the epoch assigned last."""
        return self._last.table if self._last else None

    @property
    def results(self) -> Results | None:
        """The results of the epoch assigned last."""
        return self._last.results if self._last else None

    @property
    def frames(self) -> dict[int, int]:
        """Tag -> camera frame of the epoch assigned last."""
        return self._last.frames if self._last else {}

    # ---- receiving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, secret=self.secret, max_bytes=self.cluster.agent.max_frame_bytes,
                          rejects=self.rejects)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self._conns.add(conn)
        device = ""
        try:
            async for message in conn:
                if isinstance(message, StatusRequest):   # answered here: the asker listens on no port
                    await conn.async_send(cluster_status(self))
                    continue
                name = getattr(message, "device", "")
                if name and isinstance(message, (Heartbeat, Ack, ArtifactRequest)):
                    device = name
                    self.fleet.heard(name)
                await self._handle(message)
        except (WireError, ConnectionError, EOFError):
            pass
        finally:
            self._conns.discard(conn)
            conn.close()
        if device and self._server is not None and self._server.is_serving():
            await self.fleet.async_probe(device)   # a crashed agent: lost now, not after the timeout

    async def _handle(self, message: Message) -> None:
        if isinstance(message, Result):
            self._on_result(message)
        elif isinstance(message, ArtifactRequest):
            self._send_artifact(message)
        elif isinstance(message, Ack):
            self.acks(message.epoch)[message.device] = message
            self._ack_changed.set()
        elif isinstance(message, Heartbeat):
            self._on_heartbeat(message)
        elif isinstance(message, Motion):
            log.info("motion %s on %s (score %.3f)", "started" if message.moving else "stopped", message.camera,
                     message.score)
            self.motion(message.camera, message.moving, message.time_ns)

    def _on_result(self, message: Result) -> None:
        stream = self.streams.get(message.stream)
        run = next((r for r in stream.runs if r.epoch == message.epoch), None) if stream else None
        if stream is None or run is None:
            return
        self.deliver(stream.add(run.epoch, run.results.add(message)))

    def deliver(self, inferences: Sequence[Inference]) -> None:
        """Hand results released in order to ``on_result``."""
        if self.on_result is not None:
            for inference in inferences:
                self.on_result(inference)

    def _on_heartbeat(self, message: Heartbeat) -> None:
        self.heartbeats[message.device] = message
        for link in message.links:
            total = self.link_bytes.setdefault((message.device, link.peer, link.codec), [0, 0])
            total[0] += link.bytes
            total[1] += link.raw_bytes
        for stream in self.streams.values():
            for run in reversed(stream.runs):
                if run.epoch != message.epoch:
                    continue
                if message.first_tag >= 0 and run.table.stream == message.device:
                    run.add_frames(message.first_tag, tuple(message.frames))
                if run is stream.current and message.stage_latency_ms:
                    self._observe(run, message)
                return

    def _observe(self, run: EpochRun, message: Heartbeat) -> None:
        """Compare the device's stage times with the plan's; a lasting slowdown starts a game."""
        mine = {s.stage for s in run.table.seats_of(message.device)}
        expected = {d.name: 1000 * d.run_s for i, d in enumerate(run.plan.details) if i in mine}
        measured = {s.stage: s.ms for s in message.stage_latency_ms}
        self.contention.observe(message.device, measured, expected)
        due = self.contention.due()
        if due:
            self.contention.replanned()
            scales = ", ".join(f"{d} x{self.contention.scale(d):.2f}" for d in due)
            self._event(f"contention: {scales}")

    def _send_artifact(self, request: ArtifactRequest) -> None:
        path = self._artifacts.get(request.sha256)
        device = self.fleet.device(request.device)
        if path is None or device is None:
            log.warning("%s asked for artifact %s, which the master does not have for it", request.device,
                        request.sha256[:12])
            return
        data = path.read_bytes()
        for offset in range(0, max(len(data), 1), CHUNK):
            self._peers.send(device.peer, ArtifactChunk(sha256=request.sha256, offset=offset, total=len(data),
                                                        data=memoryview(data)[offset:offset + CHUNK]))

    def seat_artifacts(self, table: TaskTable) -> list[frozenset[str]]:
        """The artifacts of every seat of ``table``, in seat order."""
        return [frozenset(artifacts_of(table, seat)) for seat in table.seats]


class _Sizes(Mapping[str, int]):
    """Artifact sizes read from the files when asked (partitions made later are seen too)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = paths

    def __getitem__(self, sha256: str) -> int:
        return self._paths[sha256].stat().st_size

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


__all__ = ["Event", "Master"]
