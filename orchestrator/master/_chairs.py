"""One round of musical chairs: who sits where after the events that queued up together.

1. Share the alive devices among the streams whose cameras see motion (``game.policy``).
2. For each stream, choose the plan and the seating (fewest bytes to load, slowed devices on light
   seats); a stream whose plan and seating do not change keeps its epoch and never stops.
3. New epochs: bind, Assign every seat, Release the devices no stream keeps, wait for the Acks, and
   tell each recorder to start. A device lost meanwhile ends the wait: the next round replays it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from worker.messages import Ack, Assign, Release, Resume
from worker.table import Peer

from ..planner import Plan
from ._bind import bind, seat_artifacts
from ._game import StreamDemand, choose, share
from ._results import Results
from ._streams import EpochRun, Reassignment, Stream

if TYPE_CHECKING:
    from ._master import Event, Master

log = logging.getLogger("mchair.master")
ACK_TIMEOUT_S = 120.0      # artifacts of a big model over Wi-Fi take a while


class Chairs:
    """Plays the game for a master (``async_play``); remembers why the last stream got nothing."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.last_reason = ""
        self._seat_artifacts: dict[str, list[frozenset[str]]] = {}

    async def async_play(self, events: Sequence[Event]) -> None:
        """Re-seat every stream for ``events``."""
        m = self.master
        reason = "; ".join(dict.fromkeys(e.reason for e in events))
        event_ns = min(e.time_ns for e in events)
        alive = {d.name: d for d in m.fleet.alive()}
        plans = m.plan_set(max(len(alive), 1))
        useful = tuple(p.metrics.devices if p else 0 for p in plans.plans)
        active = sorted((s for s in m.streams.values()
                         if s.active and s.camera in alive and alive[s.camera].camera), key=lambda s: s.since)
        for s in m.streams.values():
            known = m.fleet.device(s.camera)
            if s.active and (s.camera not in alive or not alive[s.camera].camera):
                self.last_reason = f"{s.camera} is not an alive device with a camera"
                # A camera may speak before its advertisement is resolved: it starts when it joins.
                (log.warning if known is not None else log.info)("motion on %s waits: %s", s.camera,
                                                                 self.last_reason)
        current = {p.device: s.camera for s in m.streams.values() if s.current for p in s.current.table.devices}
        scales = {name: m.contention.scale(name) for name in alive}
        shares = share(scales, [StreamDemand(s.camera, m.cluster.game.priority(s.camera), useful) for s in active],
                       m.cluster.game.policy, current)

        started: list[tuple[Stream, EpochRun]] = []
        kept: set[str] = set()
        for stream in active:
            devices = shares.get(stream.camera, ())
            if not devices:
                continue
            run, keep = self._next_run(stream, devices, scales, reason, event_ns)
            if keep and stream.current is not None:
                kept.update(p.device for p in stream.current.table.devices)
            elif run is not None:
                started.append((stream, run))
        seated = kept | {p.device for _, run in started for p in run.table.devices}
        self._release_others(seated, {s.camera for s, _ in started}, kept, reason)
        for stream, run in started:
            m.started(stream, run)
            log.info("epoch %d: stream %s on %d devices: %s (%s)", run.epoch, stream.camera,
                     len(run.table.devices), run.plan.layout(), reason)
            for peer in run.table.devices:
                m.send(peer, Assign(epoch=run.epoch, table=run.table))
        await self._async_start(started)

    def _next_run(self, stream: Stream, devices: Sequence[str], scales: dict[str, float], reason: str,
                  event_ns: int) -> tuple[EpochRun | None, bool]:
        """(the stream's next epoch on ``devices``, False), or (None, True) when its current epoch
        stays as it is, or (None, False) when no plan fits."""
        m = self.master
        plans = m.plan_set(len(devices))
        recorder = stream.camera
        ordered = [recorder, *sorted(d for d in devices if d != recorder)]
        choice = choose(ordered, plans.plan, self.seat_artifacts, {d: m.fleet.held(d) for d in ordered},
                        m.artifact_sizes, scales)
        if choice is None:
            self.last_reason = f"no plan for {len(devices)} devices: {plans.reasons[len(devices) - 1]}"
            log.error("stream %s: %s", stream.camera, self.last_reason)
            return None, False
        order = choice.seating.order
        old = stream.current
        if old is not None and old.plan.layout() == choice.plan.layout() and \
                tuple(p.device for p in old.table.devices) == tuple(order):
            return None, True
        manifest, _ = m.partition(choice.plan)
        epoch = m.next_epoch()
        peers = [self._peer(d) for d in order]
        table = bind(choice.plan, manifest, m.model, peers, recorder, m.peer, epoch,
                     m.cluster.agent.buffer, m.cluster.agent.almost_full, m.fps)
        moved = Reassignment(epoch, stream.camera, reason, old.plan.layout() if old else "", choice.plan.layout(),
                             tuple(p.device for p in old.table.devices) if old else (), tuple(order), event_ns,
                             choice.seating.bytes_to_load)
        return EpochRun(choice.plan, table, Results(epoch, table.sink.shards), moved), False

    def seat_artifacts(self, plan: Plan) -> list[frozenset[str]]:
        """The artifacts each seat of ``plan`` needs, in seat order (partitions the plan if new)."""
        key = plan.layout()
        if key not in self._seat_artifacts:
            manifest, _ = self.master.partition(plan)
            self._seat_artifacts[key] = seat_artifacts(plan, manifest)
        return self._seat_artifacts[key]

    def _peer(self, name: str) -> Peer:
        device = self.master.fleet.device(name)
        assert device is not None
        return device.peer

    def _release_others(self, seated: set[str], restarted: set[str], kept: set[str], reason: str) -> None:
        """Streams neither kept nor restarted stop; their devices no stream seats are told so."""
        m = self.master
        freed: dict[str, list[Peer]] = {}
        for stream in m.streams.values():
            run = stream.current
            if run is None or stream.camera in restarted:
                if run is not None:
                    freed[stream.camera] = [p for p in run.table.devices if p.device not in seated]
                continue
            if stream.active and {p.device for p in run.table.devices} <= kept:
                continue
            log.info("stream %s gives up its devices (%s)", stream.camera, reason)
            m.deliver(stream.release())
            freed[stream.camera] = [p for p in run.table.devices if p.device not in seated]
        if any(freed.values()):
            epoch = m.next_epoch()
            for camera, peers in freed.items():
                for peer in peers:
                    if m.fleet.is_alive(peer.device):
                        m.send(peer, Release(epoch=epoch, stream=camera, reason=reason))

    async def _async_start(self, started: list[tuple[Stream, EpochRun]]) -> None:
        """Wait for every seat's Ack; start each stream whose seats all took their table."""
        m = self.master
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_TIMEOUT_S
        pending = {run.epoch: (stream, run) for stream, run in started}
        while pending:
            for epoch, (stream, run) in list(pending.items()):
                acks = m.acks(epoch)
                names = {p.device for p in run.table.devices}
                missing = names - set(acks)
                if not missing:
                    del pending[epoch]
                    self._started(stream, run, acks)
                elif not all(m.fleet.is_alive(d) for d in missing):
                    del pending[epoch]   # the fleet change queued the next round already
                elif loop.time() > deadline:
                    del pending[epoch]
                    for name in missing:
                        m.fleet.lose(name, f"no Ack for epoch {epoch} within {ACK_TIMEOUT_S:g} s")
            if pending:
                await m.async_ack_change(0.1)

    def _started(self, stream: Stream, run: EpochRun, acks: dict[str, Ack]) -> None:
        m = self.master
        failed = [a for a in acks.values() if not a.ok]
        if failed:
            self.last_reason = "; ".join(f"{a.device}: {a.detail}" for a in failed)
            log.error("stream %s cannot run epoch %d: %s", stream.camera, run.epoch, self.last_reason)
            if stream.current is run:
                m.deliver(stream.release())
            epoch = m.next_epoch()
            for peer in run.table.devices:
                m.send(peer, Release(epoch=epoch, stream=stream.camera, reason="a seat refused its table"))
            return
        artifacts = m.seat_artifacts(run.table)
        for seat, needed in zip(run.table.seats, artifacts):
            m.fleet.hold(seat.device, needed)
        m.send(run.table.peer(stream.camera), Resume(epoch=run.epoch, seat="*", stream=stream.camera))


__all__ = ["Chairs"]
