"""Results as they come back: shards joined, tags put in order, IPS and t_forward measured."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from worker.wire import Result


@dataclass(frozen=True)
class Inference:
    """The model's outputs for one tag, and how long the tag took."""

    tag: int
    frame: int                   # the camera's frame number (-1 if unknown)
    outputs: dict[str, np.ndarray]
    t_forward_ms: float          # capture to result, one clock (one host)
    compute_ms: float
    transfer_ms: float
    queue_ms: float
    received_s: float            # time.monotonic() when complete
    stream: str = ""
    epoch: int = 0


@dataclass
class Results:
    """Collects Results for one epoch: joins shards, releases tags in order, keeps figures.

    A tag that never comes (dropped on a full buffer) holds the later ones back until ``max_held``
    are waiting; then it is skipped. ``close()`` releases what is held; later results count as ``late``.
    Shards of a tag that can no longer be released are forgotten: memory stays bounded by ``max_held``.
    """

    epoch: int
    shards: int = 1                                   # the sink stage's shards
    clock: Callable[[], int] = time.time_ns
    max_held: int = 128
    inferences: list[Inference] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0                                     # complete after close(): not released
    closed: bool = False
    _pieces: dict[int, dict[int, Result]] = field(default_factory=dict)
    _complete: dict[int, Inference] = field(default_factory=dict)
    _next: int | None = None

    def add(self, result: Result) -> list[Inference]:
        """Take one Result; returns the inferences now released in tag order."""
        if result.epoch != self.epoch:
            return []
        if self.closed:
            self.late += 1
            return []
        piece = max(result.shard, 0)
        got = self._pieces.get(result.tag, {})
        if piece in got or result.tag in self._complete or (self._next is not None and result.tag < self._next):
            self.duplicates += 1
            return []
        got[piece] = result
        self._pieces[result.tag] = got
        if len(got) < self.shards:
            if len(self._pieces) > self.max_held:   # shards whose siblings never came: the oldest go
                for old in sorted(self._pieces)[: len(self._pieces) - self.max_held]:
                    del self._pieces[old]
            return []
        del self._pieces[result.tag]
        parts = [got[k] for k in sorted(got)]
        outputs: dict[str, np.ndarray] = {}
        for tensor in parts[0].tensors:
            arrays = [t.array() for p in parts for t in p.tensors if t.name == tensor.name]
            outputs[tensor.name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=-1)
        last = max(parts, key=lambda p: p.compute_ms + p.queue_ms + p.transfer_ms)
        t_forward = (self.clock() - last.captured_ns) / 1e6
        self._complete[result.tag] = Inference(result.tag, last.frame, outputs, t_forward, last.compute_ms,
                                               last.transfer_ms, last.queue_ms, time.monotonic(), result.stream,
                                               self.epoch)
        if self._next is None:
            self._next = min(self._complete)
        return self._release(skip=len(self._complete) > self.max_held)

    def close(self) -> list[Inference]:
        """No more results will be taken: release every tag held back, in tag order."""
        self.closed = True
        self._pieces.clear()
        return self._release(skip=True)

    def _release(self, skip: bool) -> list[Inference]:
        released = []
        while self._complete:
            if self._next not in self._complete:
                if not skip:
                    break
                self._next = min(self._complete)   # the missing tags are lost
            assert self._next is not None
            released.append(self._complete.pop(self._next))
            self._next += 1
        if released and self._next is not None:   # a shard of a tag now behind can never be released
            for old in [t for t in self._pieces if t < self._next]:
                del self._pieces[old]
        self.inferences += released
        return released

    @property
    def next_tag(self) -> int | None:
        """The tag released next (None: no result yet)."""
        return self._next

    @property
    def held(self) -> int:
        """Tags kept in memory, not released yet: complete ones and those with shards missing."""
        return len(self._complete) + len(self._pieces)

    @property
    def waiting(self) -> int:
        """Tags complete but held back because an earlier tag has not come yet."""
        return len(self._complete)

    def ips(self, last_s: float | None = None) -> float:
        """Inferences per second over the run (or its last ``last_s`` seconds)."""
        done = self.inferences
        if last_s is not None:
            horizon = time.monotonic() - last_s
            done = [i for i in done if i.received_s >= horizon]
        if len(done) < 2:
            return 0.0
        span = done[-1].received_s - done[0].received_s
        return (len(done) - 1) / span if span > 0 else 0.0

    def percentiles(self, attribute: str = "t_forward_ms", qs: tuple[float, ...] = (50, 95)) -> tuple[float, ...]:
        """Percentiles of one figure of the inferences (ms)."""
        return percentiles(self.inferences, attribute, qs)


def percentiles(inferences: Sequence[Inference], attribute: str = "t_forward_ms",
                qs: tuple[float, ...] = (50, 95)) -> tuple[float, ...]:
    """Percentiles of one figure of ``inferences`` (nan when there are none)."""
    values = [getattr(i, attribute) for i in inferences]
    if not values:
        return tuple(float("nan") for _ in qs)
    return tuple(float(np.percentile(values, q)) for q in qs)


__all__ = ["Inference", "Results", "percentiles"]
