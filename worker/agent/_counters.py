"""What an agent counts: messages it refused after decoding (per reason), and a snapshot of every counter."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger("mchair.agent")

# Why a decoded message was dropped; stable names, for counters and logs.
DROP_REASONS = (
    "stale-epoch",       # an epoch older than the agent's (or an Assign not newer)
    "future-epoch",      # data of an epoch the agent has not switched to yet
    "wrong-stream",      # data of another stream than the table's
    "unknown-seat",      # data or back-pressure from a seat not in the current table
    "misrouted",         # a tensor none of this device's seats takes from that seat
    "far-tag",           # a TensorBatch of a tag further ahead than the seat's buffer can hold
    "bad-tensor",        # a tensor that cannot be read (codec, negative tag)
    "bad-table",         # an Assign whose table cannot be run here
    "unexpected-chunk",  # artifact bytes nobody asked for, or that do not fit
    "unexpected",        # a message an agent does not take (Ack, Result, Heartbeat, ...)
    "no-table",          # data or Resume before any Assign
    "in-flight",         # a TensorBatch not sent: its edge had max_in_flight sends unfinished (data_transport)
    "no-peer",           # a TensorBatch not sent: the data_transport cannot reach the device
)
# Drop reasons that are tags lost on purpose (back-pressure): they count in the heartbeat's ``drops``.
PRESSURE_DROPS = ("in-flight",)


class Drops:
    """Counts dropped messages per (peer, reason); warns on the first of each pair only (no log floods)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._counts: dict[tuple[str, str], int] = {}

    def record(self, peer: str, reason: str, detail: str) -> None:
        """Count one dropped message; the first of its (peer, reason) is logged."""
        key = (peer, reason)
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        if count == 0:
            self._log.warning("dropped a message from %s: %s: %s (later ones are only counted)", peer, reason,
                              detail)

    def count(self, reason: str | None = None, peer: str | None = None) -> int:
        """Drops of ``reason`` (any if None) from ``peer`` (any if None)."""
        return sum(n for (p, r), n in self._counts.items()
                   if (reason is None or r == reason) and (peer is None or p == peer))

    def by_reason(self) -> dict[str, int]:
        """Total drops per reason."""
        out: dict[str, int] = {}
        for (_, reason), n in self._counts.items():
            out[reason] = out.get(reason, 0) + n
        return out


@dataclass(frozen=True)
class AgentCounters:
    """A snapshot of an agent's counters (``Agent.counters()``)."""

    epoch: int
    received: int                  # messages accepted by the wire (decoded and verified)
    rejected: Mapping[str, int]    # refused by the wire, per kind (oversize, bad-hmac, ...)
    dropped: Mapping[str, int]     # decoded but dropped, per reason (DROP_REASONS)
    frames: int                    # frames the recorder kept (tagged)
    frame_drops: int               # frames the recorder skipped while its rate was lowered
    overflow_drops: int            # tags dropped because a seat's buffer was over ``buffer``
    computed: int                  # pushes run by the compute thread
    compute_errors: int            # pushes that raised (logged once per stage and error type)
    batches_sent: int              # TensorBatch messages to other devices
    local_feeds: int               # values fed directly to seats on this device
    results_sent: int
    almost_full_sent: int
    resume_sent: int
    motions_sent: int = 0          # Motion messages (motion started or stopped on this device's camera)
    send_failures: Mapping[str, int] = field(default_factory=dict)  # per device: failed sends and connects
    send_overflow: int = 0         # messages dropped from a full send queue (the link slower than the stream)

    @property
    def drops(self) -> int:
        """Frames and tags lost on purpose (lowered rate, full buffers and send queues): the heartbeat's ``drops``."""
        return (self.frame_drops + self.overflow_drops + self.send_overflow
                + sum(self.dropped.get(r, 0) for r in PRESSURE_DROPS))


__all__ = ["DROP_REASONS", "PRESSURE_DROPS", "AgentCounters", "Drops"]
