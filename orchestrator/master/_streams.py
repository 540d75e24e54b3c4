"""A stream (one camera's frames) across its epochs, and the log of reassignments.

Every epoch of a stream starts its tags at 0 (windows fill again from scratch), so each epoch is
checked against the reference on its own; camera frame numbers keep growing across epochs, so a
stream's results stay in capture order. When a new epoch's first result arrives the previous
epoch is closed: results it still sends are counted as lost, never released out of order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.wire import TaskTable

from ..planner import Plan
from ._results import Inference, Results, percentiles

log = logging.getLogger("mchair.master")


@dataclass
class Reassignment:
    """One move of the game: why, what the stream ran before and after, how long until a result."""

    epoch: int
    stream: str
    reason: str
    old_layout: str
    new_layout: str
    old_devices: tuple[str, ...]
    new_devices: tuple[str, ...]
    event_ns: int                       # when the cause happened (wall clock, ns)
    bytes_to_load: int = 0              # artifact bytes the new seats had to fetch or load
    first_result_ns: int | None = None

    @property
    def first_result_s(self) -> float | None:
        """Seconds from the cause to the first result of the new epoch (None: none yet)."""
        return None if self.first_result_ns is None else (self.first_result_ns - self.event_ns) / 1e9

    def describe(self) -> str:
        """One log line."""
        took = f"first result after {self.first_result_s:.2f} s" if self.first_result_ns else "no result yet"
        return (f"epoch {self.epoch}, stream {self.stream} ({self.reason}): {self.old_layout or 'nothing'} on "
                f"[{', '.join(self.old_devices)}] -> {self.new_layout} on [{', '.join(self.new_devices)}], "
                f"{self.bytes_to_load / 1e6:.1f} MB to load; {took}")


@dataclass
class EpochRun:
    """One epoch of a stream: its plan and table, its results, the camera frame of each tag."""

    plan: Plan
    table: TaskTable
    results: Results
    reassignment: Reassignment
    frames: dict[int, int] = field(default_factory=dict)    # tag -> camera frame number

    @property
    def epoch(self) -> int:
        """The table's epoch."""
        return self.table.epoch

    @property
    def recorded(self) -> int:
        """Tags the recorder reported (0..recorded-1)."""
        return max(self.frames, default=-1) + 1

    @property
    def lost(self) -> int:
        """Recorded tags that can produce a result but did not (in flight when the epoch ended, or dropped)."""
        first = self.table.first_complete_tag(self.table.sink.index)
        expected = max(0, self.recorded - first)
        return max(0, expected - len(self.results.inferences))

    def add_frames(self, first_tag: int, frames: tuple[int, ...]) -> None:
        """The recorder's report: ``frames[i]`` is the camera frame of tag ``first_tag + i``."""
        self.frames.update((first_tag + i, f) for i, f in enumerate(frames))


@dataclass
class Stream:
    """One camera's stream: whether it is wanted (motion), and its epochs so far."""

    camera: str
    active: bool = False
    since: float = 0.0                      # time.monotonic() of the motion that started it
    runs: list[EpochRun] = field(default_factory=list)
    current: EpochRun | None = None         # the epoch whose table the devices run (None: it holds none)

    def start(self, run: EpochRun) -> None:
        """A new epoch was assigned (the previous stays open until the new one's first result)."""
        self.runs.append(run)
        self.current = run

    def release(self) -> list[Inference]:
        """The stream's devices were released: no epoch runs; every epoch closes."""
        self.current = None
        return [i for r in self.runs for i in self.close(r)]

    def close(self, run: EpochRun) -> list[Inference]:
        """No more results for ``run``: what it held back, released in tag order."""
        return run.results.close()

    def add(self, result_epoch: int, released: list[Inference]) -> list[Inference]:
        """Results of ``result_epoch`` released in tag order: those the stream passes on, in order."""
        run = next((r for r in self.runs if r.epoch == result_epoch), None)
        if run is None:
            return []
        out: list[Inference] = []
        if released and run.reassignment.first_result_ns is None:
            run.reassignment.first_result_ns = time.time_ns()
            log.info("reassignment: %s", run.reassignment.describe())
        if released:
            for older in self.runs:
                if older.epoch < run.epoch:
                    out += self.close(older)     # what it held back comes first
        return out + released

    def inferences(self) -> list[Inference]:
        """Every result of the stream, in order."""
        return [i for r in self.runs for i in r.results.inferences]

    def lost(self) -> int:
        """Results lost over every epoch (in flight at a reassignment, late, or dropped)."""
        return sum(r.lost for r in self.runs)

    def duplicates(self) -> int:
        """Results that came twice (must be 0)."""
        return sum(r.results.duplicates for r in self.runs)


@dataclass(frozen=True)
class StreamFigures:
    """One stream over a run: epochs, results, throughput, latency, losses."""

    camera: str
    epochs: int
    inferences: int
    ips: float
    t_forward_ms: tuple[float, ...]
    lost: int
    late: int
    duplicates: int


def stream_figures(stream: Stream) -> StreamFigures:
    """The figures of ``stream`` so far (IPS over the time its epochs produced results)."""
    done = stream.inferences()
    ips = 0.0
    if len(done) > 1:
        busy = sum(_span(r.results.inferences) for r in stream.runs)
        ips = (len(done) - len(stream.runs)) / busy if busy > 0 else 0.0
    return StreamFigures(stream.camera, len(stream.runs), len(done), ips, percentiles(done), stream.lost(),
                         sum(r.results.late for r in stream.runs), stream.duplicates())


def _span(inferences: Sequence[Inference]) -> float:
    return inferences[-1].received_s - inferences[0].received_s if len(inferences) > 1 else 0.0


__all__ = ["EpochRun", "Reassignment", "Stream", "StreamFigures", "stream_figures"]
