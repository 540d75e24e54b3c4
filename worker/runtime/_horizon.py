"""How far ahead of a stream a receiver takes tags: a tag further than its buffer can hold is refused.

A holder of the cluster secret (a buggy or old agent) can still send a value for a tag far in
the future. Taken, it would push the real tags out of a full buffer and stall the stream; so a
receiver takes a tag only up to ``ahead`` past the newest it took. Tags behind are not refused
here (windows and stores forget them). The window moves with the stream; when nothing has moved
it for ``quiet_s`` (a gap longer than the buffer, e.g. a link down), the next tag starts it
again, so the stream resumes on its own after a gap or a flood.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

QUIET_S = 1.0


@dataclass
class Horizon:
    """The newest tag a receiver took; ``admit`` refuses (and counts) tags more than ``ahead`` past it."""

    ahead: int
    quiet_s: float = QUIET_S
    clock: Callable[[], float] = time.monotonic
    newest: int = -1                  # tags start at 0 in every epoch
    refused: int = 0
    _moved_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._moved_at = self.clock()

    def admit(self, tag: int) -> bool:
        """True if ``tag`` can be held (the window moves to it if it is the newest); False: refused, counted."""
        if tag > self.newest + self.ahead:
            if self.clock() - self._moved_at < self.quiet_s:
                self.refused += 1
                return False
            self.newest = tag - 1   # nothing moved the window for a while: start again from this tag
        self.take(tag)
        return True

    def take(self, tag: int) -> None:
        """A tag from a trusted source (this device's own values): the window moves to it if it is the newest."""
        if tag > self.newest:
            self.newest, self._moved_at = tag, self.clock()


__all__ = ["QUIET_S", "Horizon"]
