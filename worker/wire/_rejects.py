"""Counting rejected frames per peer and kind, logging each (peer, kind) once so a bad peer cannot flood the log."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ._errors import WireError

log = logging.getLogger("mchair.wire")


@dataclass(frozen=True)
class RejectCount:
    """How many frames of one kind a peer had rejected, and the detail of the first one."""

    peer: str
    kind: str
    count: int
    first_detail: str


class Rejects:
    """Counts rejects per (peer, kind); warns on the first of each pair only."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._counts: dict[tuple[str, str], int] = {}
        self._first: dict[tuple[str, str], str] = {}

    def record(self, peer: str, error: WireError) -> None:
        """Count one reject; the first of its (peer, kind) is logged as a warning."""
        key = (peer, error.kind)
        count = self._counts.get(key, 0)
        self._counts[key] = count + 1
        if count == 0:
            self._first[key] = error.detail
            self._log.warning("rejected a frame from %s: %s: %s (later %s rejects from this peer are "
                              "only counted)", peer, error.kind, error.detail, error.kind)

    def count(self, peer: str | None = None, kind: str | None = None) -> int:
        """Rejects of ``peer`` (any if None) of ``kind`` (any if None)."""
        return sum(n for (p, k), n in self._counts.items()
                   if (peer is None or p == peer) and (kind is None or k == kind))

    def summary(self) -> tuple[RejectCount, ...]:
        """Every (peer, kind) seen, sorted, with its count and first detail."""
        return tuple(RejectCount(p, k, n, self._first[(p, k)]) for (p, k), n in sorted(self._counts.items()))

    def __str__(self) -> str:
        return ", ".join(f"{r.peer} {r.kind} x{r.count}" for r in self.summary()) or "no rejects"
