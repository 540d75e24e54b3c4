"""Helpers of the agent tests: a tiny fake master, task tables made with the real toolchain, the reference."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pytest

from orchestrator.master import bind, partition_plan
from orchestrator.planner import Plan, plan_model
from orchestrator.profile import Profile
from orchestrator.toolchain import StreamReference, open_model
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.agent import Agent, AgentCounters
from worker.camera import SyntheticCamera, preprocess
from worker.cluster import AgentSettings
from worker.wire import (
    STREAM_LIMIT,
    Ack,
    ArtifactChunk,
    ArtifactRequest,
    Assign,
    Connection,
    Heartbeat,
    Message,
    Motion,
    Peer,
    Result,
    Resume,
    TaskTable,
    WireError,
)

MODEL = "action-recognition-tiny"
SECRET = b"agent-tests-secret-0123456789"
CHUNK = 16 * 1024   # small chunks: every artifact arrives in several pieces
T = TypeVar("T")
if TYPE_CHECKING:
    from typing import Self


def one_line(err: str, *names: str) -> None:
    """An agent CLI error: one line, no traceback, naming every one of ``names``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(("python -m worker.agent: error: ", "mchair: error: ")), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a test coroutine in a fresh event loop, failing it after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class FakeMaster:
    """Plays the master: answers ArtifactRequests from the partition directory (to the asking
    device's port in ``table``), collects Acks, Results, Heartbeats and Motions, sends control messages."""

    def __init__(self, artifacts: Path, secret: bytes = SECRET) -> None:
        self.artifacts, self.secret = artifacts, secret
        self.acks: list[Ack] = []
        self.results: list[Result] = []
        self.heartbeats: list[Heartbeat] = []
        self.motions: list[Motion] = []
        self.requests: list[str] = []
        self.other: list[Message] = []
        self.table: TaskTable | None = None
        self._changed = asyncio.Event()
        self._conns: dict[tuple[str, int], Connection] = {}
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def peer(self) -> Peer:
        return Peer("master", "127.0.0.1", self.port)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0, limit=STREAM_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self._conns.values():
            await conn.async_close()
        assert self._server is not None
        self._server.close()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = await Connection.async_accept(reader, writer, secret=self.secret)
        try:
            async for message in conn:
                if isinstance(message, ArtifactRequest):
                    self.requests.append(message.sha256)
                    assert self.table is not None
                    peer = self.table.peer(message.device)
                    data = (self.artifacts / f"{message.sha256}.tflite").read_bytes()
                    for offset in range(0, len(data), CHUNK):
                        await self.async_send(peer, ArtifactChunk(sha256=message.sha256, offset=offset, total=len(data),
                                                            data=data[offset:offset + CHUNK]))
                elif isinstance(message, Ack):
                    self.acks.append(message)
                elif isinstance(message, Result):
                    self.results.append(message)
                elif isinstance(message, Heartbeat):
                    self.heartbeats.append(message)
                elif isinstance(message, Motion):
                    self.motions.append(message)
                else:
                    self.other.append(message)
                self._changed.set()
        except (WireError, OSError):
            pass
        finally:
            conn.close()

    async def async_send(self, peer: Peer, message: Message) -> None:
        key = (peer.host, peer.port)
        if key not in self._conns:
            self._conns[key] = await Connection.async_open(peer.host, peer.port, secret=self.secret)
        await self._conns[key].async_send(message)

    async def async_until(self, done: Callable[[], bool], timeout: float, what: str = "") -> None:
        """Wait until ``done()`` (checked whenever a message arrives, and every 50 ms)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not done():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or done}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))
            except TimeoutError:
                pass

    def acked(self, epoch: int) -> dict[str, Ack]:
        return {a.device: a for a in self.acks if a.epoch == epoch}


@dataclasses.dataclass(frozen=True)
class Partitioned:
    plan: Plan
    directory: Path
    manifest: Any


@pytest.fixture(scope="session")
def partitioned(fc_bound_profile: Profile, tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Partitioned]:
    """The plan for n devices and its partition (artifacts named by sha256), made once per n."""
    found = {p.n: p for p in plan_model(open_model(MODEL), fc_bound_profile, 8).plans if p is not None}
    made: dict[int, Partitioned] = {}

    def get(n: int) -> Partitioned:
        if n not in made:
            plan = found[n]
            out = tmp_path_factory.mktemp(f"partition-n{n}")
            manifest = partition_plan(plan, open_model(MODEL), out)
            made[n] = Partitioned(plan, out, manifest)
        return made[n]
    return get


def make_table(part: Partitioned, devices: list[Peer], master: Peer, epoch: int = 1, **kw: Any) -> TaskTable:
    """bind() of the partition's plan on ``devices`` (the first one records)."""
    return bind(part.plan, part.manifest, open_model(MODEL), devices, devices[0].device, master, epoch,
                **kw)


def squeeze(table: TaskTable, devices: list[Peer]) -> TaskTable:
    """The same table with its seats dealt round-robin to fewer devices (seat 0, the recorder's, to the first)."""
    seats = tuple(dataclasses.replace(s, device=devices[i % len(devices)].device) for i, s in enumerate(table.seats))
    return dataclasses.replace(table, seats=seats, devices=tuple(devices))


def frame_numbers(heartbeats: Iterable[Heartbeat], device: str, epoch: int) -> dict[int, int]:
    """tag -> camera frame number, as ``device``'s heartbeats of ``epoch`` reported them."""
    return {h.first_tag + i: f for h in heartbeats if h.device == device and h.epoch == epoch
            for i, f in enumerate(h.frames)}


def camera_frames(seed: int, count: int) -> list[np.ndarray]:
    """What the recorder's SyntheticCamera(seed) gives, preprocessed to the model input."""
    camera = SyntheticCamera(seed=seed)
    shape = tuple(find_spec(MODEL).input.shape)
    return [preprocess(camera.read(), shape) for _ in range(count)]


def reference(frames: list[np.ndarray]) -> dict[int, np.ndarray]:
    """The stream reference's result per tag (the model's one output)."""
    model = build_model(find_spec(MODEL))
    return {r.tag: next(iter(r.outputs.values())) for r in StreamReference(model).run(frames)}


@dataclasses.dataclass
class Played:
    """What a played stream gave: results, counters, the recorder's kept frames (and the camera frame
    number of each tag, from its heartbeats) and rate changes."""

    table: TaskTable
    results: list[Result]
    want: dict[int, np.ndarray]
    kept: list[np.ndarray]
    counters: dict[str, AgentCounters]
    rate_changes: list[tuple[float, float]]
    final_rate: float
    requests: list[str]
    heartbeats: list[Heartbeat]
    seconds: float
    numbers: dict[int, int]


async def async_play(part: Partitioned, names: list[str], tmp: Path, *, frames: int, seed: int,
                     table_kw: dict[str, Any] | None = None, fps: float | None = None,
                     throttle: dict[str, dict[int, float]] | None = None,
                     settings: AgentSettings | None = None, timeout: float = 30.0,
                     attack: Callable[[TaskTable, list[Peer], Peer], Awaitable[None]] | None = None,
                     route: Callable[[Peer], Awaitable[Peer]] | None = None) -> Played:
    """Start one agent per name (the first records with SyntheticCamera(seed)), assign the plan's
    table dealt round-robin to them, start the stream, and collect results until every tag the
    reference gives on the kept frames has come (then a little longer, to catch duplicates).
    ``attack(table, agents, master)`` runs alongside the stream from its start; ``route(peer)`` gives
    the address the table names for each device and the master (a relay, to watch the wire)."""
    kept: list[np.ndarray] = []
    settings = settings or AgentSettings(heartbeat_s=0.2)
    loop = asyncio.get_running_loop()
    async with FakeMaster(part.directory) as master:
        agents = [Agent(name, SECRET, cache_dir=tmp / name, settings=settings,
                        camera=SyntheticCamera(seed=seed) if i == 0 else None,
                        max_frames=frames if i == 0 else None,
                        frame_hook=(lambda tag, frame: kept.append(frame)) if i == 0 else None,
                        throttle=(throttle or {}).get(name)) for i, name in enumerate(names)]
        for agent in agents:
            await agent.async_start()
        try:
            peers = [Peer(a.name, "127.0.0.1", a.port) for a in agents]
            master_peer = master.peer
            if route is not None:
                peers, master_peer = [await route(p) for p in peers], await route(master.peer)
            placeholders = [Peer(f"seat{i}", "127.0.0.1", 1) for i in range(part.plan.metrics.devices)]
            table = squeeze(make_table(part, placeholders, master_peer, epoch=1, **(table_kw or {})), peers)
            table = dataclasses.replace(table, stream=names[0], fps=fps or table.fps)
            seated = [p for p in peers if table.seats_of(p.device)]
            master.table = table
            for peer in seated:
                await master.async_send(peer, Assign(epoch=1, table=table))
            await master.async_until(lambda: len(master.acked(1)) == len(seated), 20, "every Ack")
            assert all(a.ok for a in master.acked(1).values()), master.acks
            started = loop.time()
            await master.async_send(peers[0], Resume(epoch=1, seat="*", stream=table.stream))
            attacking = loop.create_task(attack(table, peers, master_peer)) if attack else None
            recorder = agents[0]
            await master.async_until(lambda: recorder.counters().frames >= frames, timeout, "every frame")
            want = reference(kept)
            await master.async_until(lambda: {r.tag for r in master.results} >= set(want), timeout,
                                     f"results of tags {sorted(want)}")
            seconds = loop.time() - started
            await asyncio.sleep(0.3)   # anything extra (a duplicate, a stray tag) would come now
            await master.async_until(lambda: recorder.fill(table.seat(0, 0, 0)) == 0, 5, "the recorder drained")
            await asyncio.sleep(0.1)
            assert recorder.recorder is not None
            rate_changes, final_rate = list(recorder.recorder.rate_changes), recorder.recorder.rate
            if attacking is not None:
                await asyncio.wait_for(attacking, timeout)
            counters = {a.name: a.counters() for a in agents}
        finally:
            for agent in agents:
                await agent.async_stop()
        # The recorder's last heartbeat, sent as it stopped, names the camera frames of its last tags.
        await master.async_until(lambda: len(frame_numbers(master.heartbeats, names[0], 1)) >= len(kept), 5,
                                 "the camera frame number of every tag")
        return Played(table, list(master.results), want, kept, counters, rate_changes, final_rate,
                      list(master.requests), list(master.heartbeats), seconds,
                      frame_numbers(master.heartbeats, names[0], 1))


def check_results(played: Played) -> None:
    """Results for consecutive tags, each once, equal to the stream reference on the kept frames."""
    tags = sorted(r.tag for r in played.results)
    assert tags == sorted(played.want), (tags, sorted(played.want))
    assert tags == list(range(tags[0], tags[-1] + 1)), tags
    for result in played.results:
        (tensor,) = result.tensors
        assert tensor.name == "fusion/softmax"
        np.testing.assert_allclose(tensor.array(), played.want[result.tag], rtol=1e-5, atol=1e-6,
                                   err_msg=f"tag {result.tag}")
        assert result.captured_ns > 0 and result.compute_ms > 0
