"""The master daemon: listens to the agents, keeps the fleet and the streams, plays the game.

The server of the three parts: it does the I/O (TCP, messages, Acks, artifacts, timers), keeps
the plain-data ``ClusterState`` (``_state``) and applies the moves of the pure round (``_round``).
Everything that changes who should sit where (motion starting or stopping, a device joining or
lost, a device slowed by contention) becomes an event; one task plays a round for the events
that queued up together, so two rounds never interleave. Results, heartbeats and artifact
requests are handled as they arrive, whatever round is being played.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from worker._listen import async_listen
from worker.agent import Peers
from worker.cluster import ClusterConfig
from worker.errors import UserError
from worker.wire import (
    Ack,
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
    Result,
    Shutdown,
    Status,
    StatusRequest,
    TaskTable,
    WireError,
)

from ..planner import PlanSet
from ..profile import Profile
from ..toolchain.model import Model, open_model
from ._admit import output_specs
from ._contention import Contention
from ._discovery import Device
from ._fleet import Fleet
from ._layouts import Layouts
from ._metrics import MetricsServer
from ._results import Inference, Results
from ._round import Moves, after_acks, play_round
from ._state import ClusterState, Event, epoch_base
from ._status import cluster_status
from ._streams import EpochRun, Reassignment, Stream

CHUNK = 1024 * 1024
ACK_TIMEOUT_S = 120.0      # artifacts of a big model over Wi-Fi take a while
log = logging.getLogger("mchair.master")


class Master:
    """Plans, binds and assigns the streams of the cameras that see motion, and gathers their results."""

    def __init__(self, cluster: ClusterConfig, model: Model | str, profile: Profile, work_dir: Path,
                 algorithm: str = "optimal", on_result: Callable[[Inference], None] | None = None,
                 fps: float | None = None, only: Sequence[str] | None = None, plans: PlanSet | None = None) -> None:
        self._config, self.profile, self.work_dir = cluster, profile, work_dir
        self.model = model if isinstance(model, Model) else open_model(model)   # loaded once, kept
        self.secret = cluster.secret()
        self.peer = Peer("master", cluster.master.host, cluster.master.port)
        self.state = ClusterState(epoch=epoch_base(), output_specs=output_specs(self.model))
        self.layouts = Layouts(cluster, self.model, profile, work_dir, algorithm, fps, plans)
        self.rejects = Rejects()
        self.on_result = on_result
        self.fleet = Fleet(cluster, self._on_fleet_change, only, members=self.state.members)
        self.contention = Contention(cluster.game.contention)
        self._acks: dict[int, dict[str, Ack]] = {}
        self._ack_changed = asyncio.Event()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._game_task: asyncio.Task[None] | None = None
        # Artifacts go out as 1 MiB chunks: the queue must hold the biggest (a 520 MB fusion block).
        self._peers = Peers(self.secret, max_bytes=cluster.agent.max_frame_bytes, rejects=self.rejects,
                            max_queue=1 << 14, data=cluster.security.data)
        self._limits = ConnectionLimits()
        self._server: asyncio.base_events.Server | None = None
        self.metrics: MetricsServer | None = None   # when cluster.yaml asks for it
        self._conns: set[Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    # ---- configuration (fixed at construction) and state

    @property
    def cluster(self) -> ClusterConfig:
        """The cluster config as given, with the port the master listens on (once started): what
        ``mchair motion`` and ``mchair status`` need to reach it."""
        if self.peer.port == self._config.master.port:
            return self._config
        return replace(self._config, master=replace(self._config.master, port=self.peer.port))

    @property
    def streams(self) -> dict[str, Stream]:
        """Every stream by camera."""
        return self.state.streams

    @property
    def reassignments(self) -> list[Reassignment]:
        """Every new epoch so far, in order."""
        return self.state.reassignments

    def record_output_error(self, camera: str, error: float) -> None:
        """The largest relative error of ``camera``'s results against the reference, once replayed."""
        self.state.output_errors[camera] = error

    def status(self) -> Status:
        """The master's view of the cluster in one message (``mchair status``, metrics)."""
        self.state.scales = self.contention.scales()
        return cluster_status(self.state, self._config, self.model.source, self.profile.name)

    # ---- lifecycle

    async def async_start(self) -> Peer:
        """Listen for the agents' messages and watch the fleet; returns where the master listens."""
        if not self.layouts.planned and self._config.codecs.choose != ("raw",):
            # Measuring what the codecs do to the model runs it many times: before serving, off the
            # event loop (a game must not stall heartbeats); later plans read the cached figures.
            await asyncio.to_thread(self.layouts.plan_set, 1)
        self._server = await async_listen("master", self._serve, self._config.master.host, self._config.master.port)
        port = self._server.sockets[0].getsockname()[1]
        self.peer = Peer("master", self._config.master.host, port)
        await self.fleet.async_start()
        if self._config.metrics.port:
            self.metrics = MetricsServer(self._config.master.host, self._config.metrics.port, self.status)
            await self.metrics.async_start()
        self._idle.set()
        self._game_task = asyncio.get_running_loop().create_task(self._async_games(), name="games")
        return self.peer

    async def async_stop(self, reason: str = "master stopping", shutdown_agents: bool = False) -> None:
        """Close; with ``shutdown_agents`` also tell every known agent to stop. Without it the agents
        outlive the master: they keep their caches and models and join the next master."""
        if self._game_task is not None:
            self._game_task.cancel()
            await asyncio.gather(self._game_task, return_exceptions=True)
        await self.fleet.async_stop()
        if self.metrics is not None:
            await self.metrics.async_stop()
        if shutdown_agents:
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
        stream = self.state.streams.setdefault(camera, Stream(camera))
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
        stream = self.state.streams[recorder]
        while loop.time() < deadline:
            await self.async_settle(max(deadline - loop.time(), 0.01))
            if stream.current is not None:
                return stream.current.table
            if self._events.empty():
                break
        raise UserError(f"stream {recorder} got no table: {self.state.reason or 'no devices'}")

    async def _async_games(self) -> None:
        while True:
            events = [await self._events.get()]
            await asyncio.sleep(0.02)    # events that come together (motion here and there) make one game
            while not self._events.empty():
                events.append(self._events.get_nowait())
            try:
                await self._async_play(events)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the game for %s failed", "; ".join(e.reason for e in events))
            self.state.games += 1
            if self._events.empty():
                self._idle.set()

    # ---- applying a round

    async def _async_play(self, events: Sequence[Event]) -> None:
        """Play a round for ``events``, apply its moves, and start the new epochs once acknowledged."""
        self.state.scales = self.contention.scales()
        moves = play_round(self.state, events, self._config.game, self.layouts, self.peer)
        self._apply(moves)
        await self._async_start(moves.starts)

    def _apply(self, moves: Moves) -> None:
        """Do what a round decided: stop, send, start (Assign every seat), note what devices hold."""
        self.state.epoch = max(self.state.epoch, moves.epoch)
        if moves.reason is not None:
            self.state.reason = moves.reason
        for camera in moves.stops:
            self.deliver(self.state.streams[camera].release())
        for peer, message in moves.sends:
            self._peers.send(peer, message)
        for camera, run in moves.starts:
            self.state.streams[camera].start(run)
            self.state.reassignments.append(run.reassignment)
            self.state.last = run
            log.info("epoch %d: stream %s on %d devices: %s (%s)", run.epoch, camera, len(run.table.devices),
                     run.plan.layout(), run.reassignment.reason)
            for peer in run.table.devices:
                self._peers.send(peer, Assign(epoch=run.epoch, table=run.table))
        for device, artifacts in moves.holds:
            self.fleet.hold(device, artifacts)

    async def _async_start(self, started: Sequence[tuple[str, EpochRun]]) -> None:
        """Wait for every seat's Ack; start each stream whose seats all took their table. A device lost
        meanwhile ends the wait (the fleet change queued the next round already)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_TIMEOUT_S
        pending = {run.epoch: (camera, run) for camera, run in started}
        while pending:
            for epoch, (camera, run) in list(pending.items()):
                acks = self._acks.setdefault(epoch, {})
                missing = {p.device for p in run.table.devices} - set(acks)
                if not missing:
                    del pending[epoch]
                    self._apply(after_acks(self.state, camera, run, acks))
                elif not all(self.state.is_alive(d) for d in missing):
                    del pending[epoch]
                elif loop.time() > deadline:
                    del pending[epoch]
                    for name in missing:
                        self.fleet.lose(name, f"no Ack for epoch {epoch} within {ACK_TIMEOUT_S:g} s")
            if pending:
                self._ack_changed.clear()
                try:
                    await asyncio.wait_for(self._ack_changed.wait(), 0.1)
                except TimeoutError:
                    pass

    # ---- the last stream assigned (for callers with one stream)

    @property
    def table(self) -> TaskTable | None:
        """The table of the epoch assigned last."""
        return self.state.last.table if self.state.last else None

    @property
    def results(self) -> Results | None:
        """The results of the epoch assigned last."""
        return self.state.last.results if self.state.last else None

    @property
    def frames(self) -> dict[int, int]:
        """Tag -> camera frame of the epoch assigned last."""
        return self.state.last.frames if self.state.last else {}

    # ---- receiving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await Connection.async_accept(reader, writer, secret=self.secret, data=self._config.security.data,
                                                 max_bytes=self._config.agent.max_frame_bytes, rejects=self.rejects,
                                                 limits=self._limits)
        except (EOFError, OSError):
            return  # did not prove the secret (counted by the connection), or a port probe
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self._conns.add(conn)
        device = ""
        try:
            async for message in conn:
                if isinstance(message, StatusRequest):   # answered here: the asker listens on no port
                    await conn.async_send(self.status())
                    continue
                name = getattr(message, "device", "")
                if name and isinstance(message, (Heartbeat, Ack, ArtifactRequest)):
                    device = name
                    self.fleet.heard(name)
                await self._handle(message, device or conn.peer)
        except (WireError, ConnectionError, EOFError):
            pass
        finally:
            self._conns.discard(conn)
            conn.close()
        if device and self._server is not None and self._server.is_serving():
            await self.fleet.async_probe(device)   # a crashed agent: lost now, not after the timeout

    async def _handle(self, message: Message, peer: str) -> None:
        if isinstance(message, Result):
            self.deliver(self.state.add_result(message, peer))
        elif isinstance(message, ArtifactRequest):
            self._send_artifact(message)
        elif isinstance(message, Ack):
            self._acks.setdefault(message.epoch, {})[message.device] = message
            self._ack_changed.set()
        elif isinstance(message, Heartbeat):
            self._on_heartbeat(message)
        elif isinstance(message, Motion):
            log.info("motion %s on %s (score %.3f)", "started" if message.moving else "stopped", message.camera,
                     message.score)
            self.motion(message.camera, message.moving, message.time_ns)

    def deliver(self, inferences: Sequence[Inference]) -> None:
        """Hand results released in order to ``on_result``."""
        if self.on_result is not None:
            for inference in inferences:
                self.on_result(inference)

    def _on_heartbeat(self, message: Heartbeat) -> None:
        run = self.state.add_heartbeat(message)
        if run is not None and message.stage_ms:
            self._observe(run, message)

    def _observe(self, run: EpochRun, message: Heartbeat) -> None:
        """Compare the device's stage times with the plan's; a lasting slowdown starts a game."""
        mine = {s.stage for s in run.table.seats_of(message.device)}
        expected = {d.name: 1000 * d.run_s for i, d in enumerate(run.plan.details) if i in mine}
        measured = {s.stage: s.ms for s in message.stage_ms}
        self.contention.observe(message.device, measured, expected)
        due = self.contention.due()
        if due:
            self.contention.replanned()
            scales = ", ".join(f"{d} x{self.contention.scale(d):.2f}" for d in due)
            self._event(f"contention: {scales}")

    def _send_artifact(self, request: ArtifactRequest) -> None:
        path = self.layouts.artifact(request.sha256)
        device = self.fleet.device(request.device)
        if path is None or device is None:
            log.warning("%s asked for artifact %s, which the master does not have for it", request.device,
                        request.sha256[:12])
            return
        data = path.read_bytes()
        for offset in range(0, max(len(data), 1), CHUNK):
            self._peers.send(device.peer, ArtifactChunk(sha256=request.sha256, offset=offset, total=len(data),
                                                        data=memoryview(data)[offset:offset + CHUNK]))


__all__ = ["Event", "Master"]
