"""The master daemon's core: plan for the devices present, assign, serve artifacts, gather results."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from worker.cluster import ClusterConfig
from worker.errors import UserError
from worker.messages import (Ack, ArtifactChunk, ArtifactRequest, Assign, Heartbeat, Message, Result, Resume,
                             Shutdown)
from worker.table import Peer, TaskTable
from worker.agent import Peers
from worker.wire import Connection, Rejects, WireError

from ..planner import Plan, PlanSet, plan_model
from ..profile import Profile
from ..toolchain.manifest import Manifest, load_manifest
from ..toolchain.source import open_model, spec_of
from ._bind import bind, partition_plan
from ._discovery import Device
from ._results import Inference, Results

CHUNK = 1024 * 1024
log = logging.getLogger("mchair.master")


class Master:
    """Plans, binds and assigns one stream at a time, and gathers its results."""

    def __init__(self, cluster: ClusterConfig, model: str, profile: Profile, work_dir: Path,
                 algorithm: str = "optimal", on_result: Callable[[Inference], None] | None = None,
                 fps: float | None = None) -> None:
        self.cluster, self.model, self.profile, self.work_dir = cluster, model, profile, work_dir
        self.algorithm, self.fps = algorithm, fps   # fps: the camera's rate, if not the model's
        self.secret = cluster.secret()
        self.peer = Peer("master", cluster.master.host, cluster.master.port)
        self.epoch = 0
        self.table: TaskTable | None = None
        self.results: Results | None = None
        self.heartbeats: dict[str, Heartbeat] = {}
        self.frames: dict[int, int] = {}        # tag -> camera frame number, from the recorder's heartbeats
        self.rejects = Rejects()
        self.on_result = on_result
        self._plans: PlanSet | None = None
        self._artifacts: dict[str, Path] = {}
        self._acks: dict[str, Ack] = {}
        self._acked = asyncio.Event()
        # Artifacts go out as 1 MiB chunks: the queue must hold the biggest (a 520 MB fusion block).
        self._peers = Peers(self.secret, max_bytes=cluster.agent.max_frame_bytes, rejects=self.rejects,
                            max_queue=1 << 14)
        self._server: asyncio.base_events.Server | None = None

    async def async_start(self) -> Peer:
        """Listen for the agents' messages; returns where (the port is chosen if config says 0)."""
        self._server = await asyncio.start_server(self._serve, self.cluster.master.host, self.cluster.master.port)
        port = self._server.sockets[0].getsockname()[1]
        self.peer = Peer("master", self.cluster.master.host, port)
        return self.peer

    async def async_assign(self, devices: Sequence[Device], recorder: str, timeout: float = 120.0) -> TaskTable:
        """Seat ``devices`` for the stream of ``recorder``'s camera, wait for every Ack, start it."""
        plan_set = self._plan_set(len(devices))
        plan = plan_set.plan(len(devices))
        if plan is None:
            raise UserError(f"no plan for {len(devices)} devices: {plan_set.reasons[len(devices) - 1]}")
        manifest, directory = self._partition(plan)
        self.epoch += 1
        others = [d.peer for d in devices if d.peer.device != recorder]
        seated = [next(d.peer for d in devices if d.peer.device == recorder), *others][: plan.metrics.devices]
        table = bind(plan, manifest, spec_of(self.model), seated,
                     recorder, self.peer, self.epoch, self.cluster.agent.buffer, self.cluster.agent.almost_full,
                     self.fps)
        self._artifacts = {p.stem: p for p in directory.glob("*.tflite")}
        self.table = table
        sink = next(s for s in table.stages if s.results)
        self.results = Results(self.epoch, sink.shards)
        self.frames = {}
        self._acks, self._acked = {}, asyncio.Event()
        log.info("epoch %d: %s on %d devices: %s", self.epoch, self.model, len(seated), plan.layout())
        for peer in table.devices:
            self._peers.send(peer, Assign(epoch=self.epoch, table=table))
        try:
            await asyncio.wait_for(self._acked.wait(), timeout)
        except asyncio.TimeoutError:
            missing = sorted({p.device for p in table.devices} - set(self._acks))
            raise UserError(f"no Ack from {', '.join(missing)} within {timeout:g} s") from None
        failed = [a for a in self._acks.values() if not a.ok]
        if failed:
            raise UserError("; ".join(f"{a.device}: {a.detail}" for a in failed))
        self._peers.send(table.peer(recorder), Resume(epoch=self.epoch, seat="*", stream=recorder))
        return table

    async def async_stop(self, reason: str = "master stopping") -> None:
        """Tell every seated agent to stop, and close."""
        if self.table is not None:
            for peer in self.table.devices:
                self._peers.send(peer, Shutdown(reason=reason))
        await self._peers.async_flush()
        await self._peers.async_close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _plan_set(self, n: int) -> PlanSet:
        if self._plans is None or self._plans.n_max < n:
            self._plans = plan_model(self.model, self.profile, max(n, 1), self.algorithm, fps=self.fps)
        return self._plans

    def _partition(self, plan: Plan) -> tuple[Manifest, Path]:
        """The partition of ``plan``, made once per layout and kept under the work directory."""
        cuts, shards = plan.partition_args()
        key = hashlib.sha256(repr((self.model, cuts, sorted(shards.items()))).encode()).hexdigest()[:16]
        directory = self.work_dir / "partitions" / key
        if (directory / "manifest.json").exists():
            return load_manifest(directory), directory
        name, blocks = open_model(self.model)
        return partition_plan(plan, blocks, name, directory), directory

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, secret=self.secret, max_bytes=self.cluster.agent.max_frame_bytes,
                          rejects=self.rejects)
        try:
            async for message in conn:
                await self._handle(message)
        except (WireError, ConnectionError, EOFError):
            pass
        finally:
            conn.close()

    async def _handle(self, message: Message) -> None:
        if isinstance(message, Result):
            if self.results is not None:
                for inference in self.results.add(message):
                    if self.on_result is not None:
                        self.on_result(inference)
        elif isinstance(message, ArtifactRequest):
            await self._send_artifact(message)
        elif isinstance(message, Ack):
            if message.epoch == self.epoch:
                self._acks[message.device] = message
                if self.table is not None and {p.device for p in self.table.devices} <= set(self._acks):
                    self._acked.set()
        elif isinstance(message, Heartbeat):
            self.heartbeats[message.device] = message
            if message.epoch == self.epoch and message.first_tag >= 0:
                self.frames.update((message.first_tag + i, f) for i, f in enumerate(message.frames))

    async def _send_artifact(self, request: ArtifactRequest) -> None:
        path = self._artifacts.get(request.sha256)
        if path is None or self.table is None or request.device not in {p.device for p in self.table.devices}:
            log.warning("%s asked for artifact %s, which epoch %d does not have", request.device,
                        request.sha256[:12], self.epoch)
            return
        data = path.read_bytes()
        peer = self.table.peer(request.device)
        for offset in range(0, max(len(data), 1), CHUNK):
            self._peers.send(peer, ArtifactChunk(sha256=request.sha256, offset=offset, total=len(data),
                                                 data=memoryview(data)[offset:offset + CHUNK]))


__all__ = ["Master"]
