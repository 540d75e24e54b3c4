"""The master's view of the cluster as plain data: devices, heartbeats, streams, epochs, link bytes.

The server (``_master``) hands it the agents' heartbeats and results (``add_heartbeat``,
``add_result``) and applies a round's moves to it; the round (``_round``), status and metrics
only read it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from worker.agent import Drops
from worker.wire import Heartbeat, Result

from ._admit import OutputSpec, Refusal, why_refused
from ._fleet import Member
from ._results import Inference
from ._streams import EpochRun, Reassignment, Stream


def epoch_base() -> int:
    """Where a master starts counting epochs: microseconds since the Unix epoch, so that a master
    started later starts above every epoch an earlier one reached (one epoch per microsecond)."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Event:
    """Something that may change the seating: why, and when it happened (wall clock, ns)."""

    reason: str
    time_ns: int


@dataclass
class LinkBytes:
    """Tensor bytes one device sent to one peer with one codec so far: on the wire and uncompressed."""

    sent: int = 0
    raw: int = 0


@dataclass
class ClusterState:
    """Everything the master knows of the cluster now."""

    members: dict[str, Member] = field(default_factory=dict)          # by device name (the fleet keeps it)
    heartbeats: dict[str, Heartbeat] = field(default_factory=dict)    # the last one of each device
    streams: dict[str, Stream] = field(default_factory=dict)          # by camera
    reassignments: list[Reassignment] = field(default_factory=list)
    # The newest epoch (one counter for every stream). Unique across masters: a master starts it at
    # its start time (``epoch_base``) and raises it to any epoch an agent reports, so its Assigns are
    # never stale to an agent that ran under an older master, and an older master's are.
    epoch: int = 0
    first_epoch: int = field(init=False)   # where this master started: lower epochs are an earlier master's
    # (device, peer, codec) -> bytes so far
    link_bytes: dict[tuple[str, str, str], LinkBytes] = field(default_factory=dict)
    # Contention scales of the devices that are not normal (1.0: normal), as of the last look.
    scales: dict[str, float] = field(default_factory=dict)
    # Largest relative error of a stream's results against the uncompressed reference, where one
    # was replayed (a synthetic camera can be: `mchair demo`, the tests): status reports it.
    output_errors: dict[str, float] = field(default_factory=dict)
    games: int = 0                     # rounds played
    reason: str = ""                   # why the last stream that got nothing got nothing
    last: EpochRun | None = None       # the epoch assigned last (for callers with one stream)
    # The model's results (name -> dtype and shape): a Result of other tensors is refused (empty: not checked).
    output_specs: dict[str, OutputSpec] = field(default_factory=dict)
    # Results refused (``_admit``), per (peer, reason); ``refused`` per stream, for the status.
    result_drops: Drops = field(default_factory=lambda: Drops(logging.getLogger("mchair.master")))
    refused: dict[str, int] = field(default_factory=dict)

    def alive(self) -> list[str]:
        """The devices alive now, in name order."""
        return [name for name, m in sorted(self.members.items()) if m.alive]

    def is_alive(self, name: str) -> bool:
        """True while ``name`` is alive."""
        member = self.members.get(name)
        return member is not None and member.alive

    def scale(self, device: str) -> float:
        """How many times slower than planned ``device`` runs (1.0: normal)."""
        return self.scales.get(device, 1.0)

    def __post_init__(self) -> None:
        self.first_epoch = self.epoch

    def add_heartbeat(self, message: Heartbeat) -> EpochRun | None:
        """Keep a device's heartbeat: its link bytes add up, a recorder's frame numbers go to its
        epoch; the stream's current epoch if the heartbeat is of it (else None)."""
        self.heartbeats[message.device] = message
        self.epoch = max(self.epoch, message.epoch)   # an agent may come from an older master
        for link in message.links:
            total = self.link_bytes.setdefault((message.device, link.peer, link.codec), LinkBytes())
            total.sent += link.bytes
            total.raw += link.raw_bytes
        for stream in self.streams.values():
            for run in reversed(stream.runs):
                if run.epoch != message.epoch:
                    continue
                if message.first_tag >= 0 and run.table.stream == message.device:
                    run.add_frames(message.first_tag, tuple(message.frames))
                return run if run is stream.current else None
        return None

    def add_result(self, message: Result, peer: str = "") -> list[Inference]:
        """Keep a result from ``peer``; the results its stream releases now, in order. A result that
        does not belong (``_admit``) is refused: counted, logged once per peer and reason, not kept."""
        stream = self.streams.get(message.stream)
        run = next((r for r in stream.runs if r.epoch == message.epoch), None) if stream else None
        refusal = why_refused(run, message, self.output_specs, self.first_epoch)
        if refusal is None:
            assert stream is not None and run is not None
            try:
                return stream.add(run.epoch, run.results.add(message))
            except ValueError as exc:   # shards that cannot be decoded or joined: that tag is lost
                refusal = Refusal("bad-shape", str(exc))
        self.result_drops.record(peer or "?", refusal.reason, refusal.detail)
        if stream is not None:
            self.refused[stream.camera] = self.refused.get(stream.camera, 0) + 1
        return []

    def drops(self) -> int:
        """Frames the agents report dropped, by their last heartbeats."""
        return sum(h.drops for h in self.heartbeats.values())


__all__ = ["ClusterState", "Event", "LinkBytes", "epoch_base"]
