"""One seat's dataflow, without the network: values in, tasks run, values out with their destinations.

The agent feeds a ``SeatEngine`` with what arrives (from any peer, in any order) and sends
what it returns. A value is kept by tag; pieces from a split producer are joined on the last
axis in shard order; a window is the last W values up to the tag (the recorder numbers only
the frames it keeps, so tags have no holes). A replica runs only the tags it owns
(``tag % replicas``) but keeps the values its windows need. A tag further ahead than the seat can
hold is refused (``Horizon``): it would push the stream's real tags out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from worker.executor import Runner
from worker.stream import Window, builtin_step
from worker.wire import (
    CAMERA_FRAME,
    InputSpec,
    Route,
    Seat,
    StageSpec,
    TaskSpec,
    TaskTable,
)

from ._horizon import Horizon


@dataclass(frozen=True)
class Output:
    """A value to send: along ``route`` to the seats ``destinations``, or as a result (route None)."""

    name: str
    tag: int
    value: np.ndarray
    piece: int                      # this seat's shard index (the consumer joins pieces)
    route: Route | None
    destinations: tuple[Seat, ...] = ()


@dataclass
class _Store:
    """Values of one tensor by tag, pieces joined; old tags forgotten beyond ``keep``."""

    pieces: int
    keep: int
    values: dict[int, np.ndarray] = field(default_factory=dict)
    partial: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)

    def put(self, tag: int, piece: int, value: np.ndarray) -> bool:
        """Add a value (or one piece of it); True when the tag's value is complete."""
        if self.pieces > 1:
            got = self.partial.setdefault(tag, {})
            got[piece] = value
            if len(got) < self.pieces:
                if len(self.partial) > self.keep:   # a piece that never came: forget the oldest tags
                    for old in sorted(self.partial)[: len(self.partial) - self.keep]:
                        del self.partial[old]
                return False
            value = np.concatenate([got[k] for k in range(self.pieces)], axis=-1)
            del self.partial[tag]
        self.values[tag] = value
        if len(self.values) > self.keep:
            for old in sorted(self.values)[: len(self.values) - self.keep]:
                del self.values[old]
        return True


class SeatEngine:
    """The tasks of one seat, fired per tag as their inputs complete."""

    def __init__(self, table: TaskTable, seat: Seat, load: Callable[[str], Runner],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``load(sha256)`` gives the runner of an artifact (the agent's cache of loaded models)."""
        self.table, self.seat = table, seat
        self.stage: StageSpec = table.stages[seat.stage]
        self._feeds: dict[str, InputSpec] = {i.name: i for i in self.stage.inputs}
        self._runners: dict[str, Runner] = {}
        for task in self.stage.tasks:
            sha = self._sha(task)
            if sha:
                self._runners[task.name] = load(sha)
        self._steps = {t.name: builtin_step(t.builtin) for t in self.stage.tasks if t.builtin}
        keep = table.buffer + max((i.window for i in self.stage.inputs), default=1)
        self._stores: dict[str, _Store] = {}
        for i in self.stage.inputs:
            self._stores.setdefault(i.sent_as, _Store(i.pieces if i.source != seat.stage else 1, keep))
        for task in self.stage.tasks:
            for name in task.outputs:
                self._stores.setdefault(name, _Store(1, keep))
        self._stores.setdefault(CAMERA_FRAME, _Store(1, keep))
        self._done: dict[str, set[int]] = {t.name: set() for t in self.stage.tasks}
        self._pending: set[int] = set()   # owned tags with a task still to run
        self._failures: dict[int, Exception] = {}
        self._lost: dict[str, set[int]] = {}   # tensor -> tags a failed task did not make (a buffer back)
        # A task never runs for the first tags of a stream, whose windows would start before tag 0:
        # a tag is done when the tasks that can run for it have.
        self._first = table.first_tags(seat.stage)
        self._complete_from = max(self._first.values(), default=0)
        self._routes: dict[str, list[Route]] = {}
        for r in self.stage.routes:
            self._routes.setdefault(r.name, []).append(r)
        # The agent's inbox in front of the engine holds up to a buffer of tags more.
        self._horizon = Horizon(2 * table.buffer, clock=clock)
        self.runs = 0        # task runs
        self.tags_run = 0    # owned tags whose tasks have all run: a run of the stage, as the plan counts

    def push(self, name: str, tag: int, value: np.ndarray, piece: int = 0) -> list[Output]:
        """A value (or one piece of it) arrived; returns everything that became ready to send (nothing
        for a tag further ahead than the seat can hold: refused, counted in ``refused``)."""
        if not self._horizon.admit(tag):
            return []
        store = self._stores.get(name)
        if store is None or not store.put(tag, piece, value):
            return []
        # The recorder passes its frames on as they come, besides running its own tasks on them.
        sent = self._emit(name, tag, value) if name == CAMERA_FRAME and self.stage.recorder else []
        return sent + self._fire(tag)

    @property
    def refused(self) -> int:
        """Values refused: their tag was further ahead than the seat can hold."""
        return self._horizon.refused

    def waiting(self) -> int:
        """Owned tags with a task still to run (the queue the back-pressure watches)."""
        return len(self._pending)

    def _owns(self, tag: int) -> bool:
        return self.table.owner(self.seat.stage, tag) == self.seat.replica

    def _fire(self, tag: int) -> list[Output]:
        """Run every task that can now run, for ``tag`` and every later tag still waiting: windows
        (chained through the stage's own tasks) reach forward from any value."""
        if self._owns(tag):
            self._pending.add(tag)
        out: list[Output] = []
        for t in sorted(t for t in self._pending if t >= tag):
            try:
                out += self._run_tag(t)
            except Exception as exc:  # noqa: BLE001 - a bad value fails its own tag, never the seat or later tags
                self._fail(t, exc)
        return out

    def take_failures(self) -> list[tuple[int, Exception]]:
        """The (tag, first error) of every tag a task failed for since the last call (its result is lost)."""
        failures, self._failures = self._failures, {}
        return sorted(failures.items(), key=lambda f: f[0])

    def _fail(self, tag: int, error: Exception) -> None:
        # Given up: left pending, it would be run again (and fail again) by every later push.
        for task in self.stage.tasks:
            if tag not in self._done[task.name]:
                self._lose(task, tag, error)
        self._pending.discard(tag)

    def _lose(self, task: TaskSpec, tag: int, error: Exception) -> None:
        """``task`` failed for ``tag``: done (not run again), its outputs lost (what needs them fails at once)."""
        self._done[task.name].add(tag)
        for name in task.outputs:
            self._lost.setdefault(name, set()).add(tag)
        self._failures.setdefault(tag, error)

    def _run_tag(self, tag: int) -> list[Output]:
        out: list[Output] = []
        for task in self.stage.tasks:
            if tag in self._done[task.name] or tag < self._first[task.name]:
                continue
            try:
                values = [self._input(name, tag) for name in task.inputs]
                ready = [v for v in values if v is not None]
                if len(ready) < len(values):
                    continue
                results = self._run(task, ready)
            except Exception as exc:  # noqa: BLE001 - a bad value fails this task's outputs, not the seat
                self._lose(task, tag, exc)
                continue
            self._done[task.name].add(tag)
            self.runs += 1
            for name, value in zip(task.outputs, results):
                self._stores[name].put(tag, 0, value)
                out += self._emit(name, tag, value)
        if tag in self._pending and all(tag in self._done[t.name] for t in self.stage.tasks
                                        if tag >= self._first[t.name]):
            self._pending.discard(tag)
            # Warm-up tags (windows not full yet) skip tasks: cheap runs would look like a fast stage.
            self.tags_run += tag >= self._complete_from
        self._forget(tag)
        return out

    def _input(self, name: str, tag: int) -> np.ndarray | None:
        feed = self._feeds.get(name)
        stored = feed.sent_as if feed else name
        store = self._stores[stored]
        reach = range(tag - (feed.window if feed else 1) + 1, tag + 1)
        lost = self._lost.get(stored, set()).intersection(reach)
        if lost:   # a value it needs will never come: fail now rather than wait for ever
            raise ValueError(f"{name} of tag {min(lost)} was lost to a failed task (needed for tag {tag})")
        if feed is None or feed.window == 1:
            return store.values.get(tag)
        if tag not in store.values:
            return None
        window = [store.values[t] for t in reach if t in store.values]
        if len(window) < feed.window:
            return None
        return Window(feed.window, feed.stride, feed.mode).assemble(window)

    def _run(self, task: TaskSpec, values: list[np.ndarray]) -> list[np.ndarray]:
        if task.builtin:
            return [self._steps[task.name](values)]
        runner = self._runners[task.name]
        got = runner.run({spec.name: v for spec, v in zip(runner.inputs, values)})
        return [got[spec.name] for spec in runner.outputs]

    def _emit(self, name: str, tag: int, value: np.ndarray) -> list[Output]:
        out = [Output(name, tag, value, self.seat.shard, r, self.table.destinations(r, tag))
               for r in self._routes.get(name, [])]
        if name in self.stage.results:
            out.append(Output(name, tag, value, self.seat.shard, None))
        return out

    def _forget(self, tag: int) -> None:
        """Tags a buffer behind are over: windows no longer reach them."""
        horizon = tag - self.table.buffer
        self._pending = {t for t in self._pending if t >= horizon}
        for lost in self._lost.values():
            lost.difference_update({t for t in lost if t < horizon})
        for done in self._done.values():
            if len(done) > 2 * self.table.buffer:
                done.difference_update({t for t in done if t < horizon})

    def _sha(self, task: TaskSpec) -> str:
        """This seat's artifact for ``task``: its shard's, when the task is the split one."""
        shards = self.stage.shard_sha256
        if shards and task.sha256 == shards[0]:
            return shards[self.seat.shard]
        return task.sha256


__all__ = ["CAMERA_FRAME", "Output", "SeatEngine"]
