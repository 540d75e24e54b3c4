"""One round of musical chairs as pure functions: the cluster's state and the events that queued
up together in, the moves out (which epochs start on which devices, what to Assign, Release, Resume).

1. Share the alive devices among the streams whose cameras see motion (``game.policy``).
2. For each stream, choose the plan and the seating (fewest bytes to load, slowed devices on light
   seats); a stream whose plan and seating do not change keeps its epoch and never stops.
3. New epochs: bind, Assign every seat, Release the devices no stream keeps. Once every seat of an
   epoch answered (``after_acks``): Resume the recorder, or Release all if a seat refused.

Nothing here sends or waits: the server (``_master``) applies the moves and waits for the Acks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from worker._game_settings import GameSettings
from worker.wire import Ack, Message, Peer, Release, Resume, TaskTable

from ..planner import Plan, PlanSet
from ._layouts import table_artifacts
from ._results import Results
from ._seating import StreamDemand, choose, share
from ._state import ClusterState, Event
from ._streams import EpochRun, Reassignment, Stream

log = logging.getLogger("mchair.master")


class Tables(Protocol):
    """What a round needs of the model: plans, the artifacts of their seats, plans bound to devices."""

    def plan_set(self, n: int) -> PlanSet:
        """Plans for 1..n devices (at least)."""

    def seat_artifacts(self, plan: Plan) -> list[frozenset[str]]:
        """The artifacts each seat of ``plan`` needs, in seat order."""

    @property
    def artifact_sizes(self) -> Mapping[str, int]:
        """Bytes of every artifact, by sha256."""

    def table(self, plan: Plan, peers: Sequence[Peer], recorder: str, master: Peer, epoch: int) -> TaskTable:
        """``plan`` bound to ``peers`` for ``recorder``'s stream as epoch ``epoch``."""


@dataclass
class Moves:
    """What the server does, in this order: stop streams, send messages, start epochs, note what
    devices hold."""

    epoch: int                                                          # the newest epoch after the moves
    stops: list[str] = field(default_factory=list)                      # streams that give up their devices
    sends: list[tuple[Peer, Message]] = field(default_factory=list)     # Release, Resume
    starts: list[tuple[str, EpochRun]] = field(default_factory=list)    # camera, its new epoch: Assign every seat
    holds: list[tuple[str, frozenset[str]]] = field(default_factory=list)  # device, artifacts it has loaded
    reason: str | None = None                                           # why a stream got nothing


def play_round(state: ClusterState, events: Sequence[Event], game: GameSettings, tables: Tables,
               master: Peer) -> Moves:
    """Every stream re-seated for ``events``."""
    reason = "; ".join(dict.fromkeys(e.reason for e in events))
    event_ns = min(e.time_ns for e in events)
    moves = Moves(state.epoch)
    alive = {name: state.members[name].device for name in state.alive()}
    plans = tables.plan_set(max(len(alive), 1))
    useful = tuple(p.metrics.devices if p else 0 for p in plans.plans)
    active = sorted((s for s in state.streams.values()
                     if s.active and s.camera in alive and alive[s.camera].camera), key=lambda s: s.since)
    for s in state.streams.values():
        if s.active and (s.camera not in alive or not alive[s.camera].camera):
            moves.reason = f"{s.camera} is not an alive device with a camera"
            # A camera may speak before its advertisement is resolved: it starts when it joins.
            (log.warning if s.camera in state.members else log.info)("motion on %s waits: %s", s.camera,
                                                                     moves.reason)
    current = {p.device: s.camera for s in state.streams.values() if s.current for p in s.current.table.devices}
    scales = {name: state.scale(name) for name in alive}
    shares = share(scales, [StreamDemand(s.camera, game.priority(s.camera), useful) for s in active],
                   game.policy, current)

    kept: set[str] = set()
    for stream in active:
        devices = shares.get(stream.camera, ())
        if not devices:
            continue
        run, keep = _next_run(state, stream, devices, scales, tables, master, reason, event_ns, moves)
        if keep and stream.current is not None:
            kept.update(p.device for p in stream.current.table.devices)
        elif run is not None:
            moves.starts.append((stream.camera, run))
    seated = kept | {p.device for _, run in moves.starts for p in run.table.devices}
    _release_others(state, seated, {camera for camera, _ in moves.starts}, kept, reason, moves)
    return moves


def _next_run(state: ClusterState, stream: Stream, devices: Sequence[str], scales: dict[str, float],
              tables: Tables, master: Peer, reason: str, event_ns: int, moves: Moves) -> tuple[EpochRun | None, bool]:
    """(the stream's next epoch on ``devices``, False), or (None, True) when its current epoch
    stays as it is, or (None, False) when no plan fits."""
    plans = tables.plan_set(len(devices))
    recorder = stream.camera
    ordered = [recorder, *sorted(d for d in devices if d != recorder)]
    held = {d: frozenset(state.members[d].held) for d in ordered}
    choice = choose(ordered, plans.plan, tables.seat_artifacts, held, tables.artifact_sizes, scales)
    if choice is None:
        moves.reason = f"no plan for {len(devices)} devices: {plans.reasons[len(devices) - 1]}"
        log.error("stream %s: %s", stream.camera, moves.reason)
        return None, False
    order = choice.seating.order
    old = stream.current
    if old is not None and old.plan.layout() == choice.plan.layout() and \
            tuple(p.device for p in old.table.devices) == tuple(order):
        return None, True
    moves.epoch += 1
    table = tables.table(choice.plan, [state.members[d].device.peer for d in order], recorder, master, moves.epoch)
    moved = Reassignment(moves.epoch, stream.camera, reason, old.plan.layout() if old else "", choice.plan.layout(),
                         tuple(p.device for p in old.table.devices) if old else (), tuple(order), event_ns,
                         choice.seating.bytes_to_load)
    return EpochRun(choice.plan, table, Results(moves.epoch, table.sink.shards), moved), False


def _release_others(state: ClusterState, seated: set[str], restarted: set[str], kept: set[str], reason: str,
                    moves: Moves) -> None:
    """Streams neither kept nor restarted stop; their devices no stream seats are told so."""
    freed: dict[str, list[Peer]] = {}
    for stream in state.streams.values():
        run = stream.current
        if run is None or stream.camera in restarted:
            if run is not None:
                freed[stream.camera] = [p for p in run.table.devices if p.device not in seated]
            continue
        if stream.active and {p.device for p in run.table.devices} <= kept:
            continue
        log.info("stream %s gives up its devices (%s)", stream.camera, reason)
        moves.stops.append(stream.camera)
        freed[stream.camera] = [p for p in run.table.devices if p.device not in seated]
    if any(freed.values()):
        moves.epoch += 1
        moves.sends += [(peer, Release(epoch=moves.epoch, stream=camera, reason=reason))
                        for camera, peers in freed.items() for peer in peers if state.is_alive(peer.device)]


def after_acks(state: ClusterState, camera: str, run: EpochRun, acks: Mapping[str, Ack]) -> Moves:
    """Every seat of ``run`` answered: Resume the recorder (the seats hold their artifacts now), or,
    if a seat refused its table, Release them all."""
    moves = Moves(state.epoch)
    failed = [a for a in acks.values() if not a.ok]
    if failed:
        moves.reason = "; ".join(f"{a.device}: {a.detail}" for a in failed)
        log.error("stream %s cannot run epoch %d: %s", camera, run.epoch, moves.reason)
        if state.streams[camera].current is run:
            moves.stops.append(camera)
        moves.epoch += 1
        moves.sends += [(peer, Release(epoch=moves.epoch, stream=camera, reason="a seat refused its table"))
                        for peer in run.table.devices]
        return moves
    moves.holds += [(seat.device, needed) for seat, needed in zip(run.table.seats, table_artifacts(run.table))]
    moves.sends.append((run.table.peer(camera), Resume(epoch=run.epoch, seat="*", stream=camera)))
    return moves


__all__ = ["Moves", "Tables", "after_acks", "play_round"]
