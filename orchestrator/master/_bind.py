"""Bind a plan to devices: the task table the master sends in an Assign.

The plan says which units go together; the partition (made with the plan's cuts and shards)
says which artifacts hold them; the model says what each block reads and through which window.
Binding only finds, stage by stage, which earlier stage makes each value a stage reads. Devices
take the seats in order, the recording device always the recorder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from worker.errors import UserError
from worker.stream import Window
from worker.wire import CAMERA_FRAME, InputSpec, Peer, Route, Seat, StageSpec, TaskSpec, TaskTable

from ..planner import Plan, StagePlan
from ..toolchain.manifest import Manifest, Task
from ..toolchain.model import Model
from ..toolchain.partition import partition, resolve_cuts, resolve_shards


def bind(plan: Plan, manifest: Manifest, model: Model, devices: Sequence[Peer], recorder: str,
         master: Peer, epoch: int, buffer: int = 64, almost_full: int = 48, fps: float | None = None) -> TaskTable:
    """The task table of ``plan`` on ``devices``; ``recorder`` (one of them) records the stream (at
    ``fps``, else the model's frame rate)."""
    names = _check_devices(plan, devices, recorder)
    stages = _with_routes(_stages(plan, manifest, model), [d.codec for d in plan.details])
    return TaskTable(epoch, manifest.model, recorder, fps or model.input.fps, model.input.shape, master,
                     tuple(devices), tuple(stages), _seats(stages, names, recorder), buffer, almost_full)


def _check_devices(plan: Plan, devices: Sequence[Peer], recorder: str) -> list[str]:
    """The devices' names; UserError unless they are enough, unique, and include the recorder."""
    if plan.metrics.devices > len(devices):
        raise UserError(f"the plan for {plan.n} devices needs {plan.metrics.devices}, {len(devices)} given")
    names = [d.device for d in devices]
    if recorder not in names:
        raise UserError(f"recorder {recorder!r} is not among the devices ({', '.join(names)})")
    if len(set(names)) != len(names):
        raise UserError(f"device names must be unique: {', '.join(names)}")
    return names


def _stages(plan: Plan, manifest: Manifest, model: Model) -> list[StageSpec]:
    """Every stage of ``plan`` without its routes: its tasks, what it receives, the results it makes."""
    producer = {CAMERA_FRAME: 0}     # value -> the first stage that makes it
    stages = []
    for index, detail in enumerate(plan.details):
        tasks = _tasks_of(detail.tasks, detail.units, manifest)
        made = {CAMERA_FRAME} if index == 0 else set()
        feeds = []
        for task in tasks:
            feeds += _feeds(task, index, model, producer, made, plan)
            made.update(f"{task.block}/{ref.name}" for ref in task.outputs)
        for name in made:
            producer.setdefault(name, index)
        stages.append(StageSpec(index, detail.name, detail.replicas, detail.shards, detail.recorder,
                                tuple(_task_spec(t) for t in tasks), _shard_artifacts(tasks),
                                tuple(feeds), (), tuple(sorted(made & model.results))))
    return stages


def _shard_artifacts(tasks: Sequence[Task]) -> tuple[str, ...]:
    """The artifacts of the stage's split task, one per shard (none when no task is split)."""
    split = next((t for t in tasks if t.shards), None)
    return tuple(s.artifact.sha256 for s in split.shards) if split else ()


def _feeds(task: Task, index: int, model: Model, producer: dict[str, int], made: set[str],
           plan: Plan) -> list[InputSpec]:
    """The inputs of ``task`` that stage ``index`` receives from another stage or assembles from a window."""
    feeds = []
    for ref in task.inputs:
        qualified = f"{task.block}/{ref.name}"
        edge = model.block_input(task.block, ref.name)
        sent_as = model.passes(edge.source) if edge else qualified
        source = index if sent_as in made else producer.get(sent_as)
        if source is None:
            raise UserError(f"plan and partition disagree: nothing produces {sent_as} for {task.name}")
        if source != index or edge is not None:
            # Received from another stage, or assembled from a window of our own values.
            window = edge.window if edge else Window()
            feeds.append(InputSpec(qualified, sent_as, source, window.size, window.stride, window.mode,
                                   plan.details[source].shards if source != index else 1))
    return feeds


def _task_spec(task: Task) -> TaskSpec:
    """A task as the table names it: its artifact (a split task: its first shard's, which seats swap)."""
    return TaskSpec(task.name, task.block, _artifact(task, 0), task.builtin,
                    tuple(f"{task.block}/{ref.name}" for ref in task.inputs),
                    tuple(f"{task.block}/{ref.name}" for ref in task.outputs))


def _artifact(task: Task, shard: int) -> str:
    """The sha256 of the artifact shard ``shard`` of ``task`` runs ("" for a built-in step)."""
    if task.shards:
        return task.shards[shard].artifact.sha256
    return task.artifact.sha256 if task.artifact else ""


def seat_artifacts(plan: Plan, manifest: Manifest) -> list[frozenset[str]]:
    """The artifacts each seat of ``plan`` runs (its shard's of a split task), in seat order."""
    out = []
    for stage, _, shard in seat_keys(plan):
        detail = plan.details[stage]
        tasks = _tasks_of(detail.tasks, detail.units, manifest)
        out.append(frozenset(_artifact(t, shard) for t in tasks) - {""})
    return out


def partition_plan(plan: Plan, model: Model, out: Path) -> Manifest:
    """The artifacts of ``plan``: ``model``'s blocks partitioned into ``out`` with the plan's cuts and shards."""
    cuts, shards = plan.partition_args()
    blocks = model.blocks
    return partition(blocks, model.name, out, resolve_cuts(blocks, cuts), resolve_shards(blocks, shards),
                     progress=False)


def _tasks_of(parts: Sequence[tuple[str, str, str]], units: Sequence[str], manifest: Manifest) -> list[Task]:
    """The manifest tasks that run a stage's units, in order."""
    mine = set(units)
    tasks = []
    for block, first, _ in parts:
        if not first:
            tasks += [t for t in manifest.tasks if t.builtin and t.block == block]
            continue
        tasks += [t for t in manifest.tasks if t.block == block and t.layers and set(t.layers) <= mine]
    return tasks


def _with_routes(stages: list[StageSpec], codecs: Sequence[str]) -> list[StageSpec]:
    """Every stage's routes: each input of a later stage, from the stage that produces it, in the codec
    the plan chose for what that stage receives."""
    routes: dict[int, list[Route]] = {s.index: [] for s in stages}
    for s in stages:
        for i in s.inputs:
            if i.source != s.index:
                routes[i.source].append(Route(i.sent_as, s.index, i.window, codecs[s.index]))
    return [StageSpec(s.index, s.name, s.replicas, s.shards, s.recorder, s.tasks, s.shard_sha256, s.inputs,
                      tuple(routes[s.index]), s.results) for s in stages]


def seat_keys(stages: Plan | Sequence[StagePlan] | Sequence[StageSpec]) -> list[tuple[int, int, int]]:
    """(stage, replica, shard) of every seat in seat order: the recorder's, then every later stage's
    replicas, each with its shards."""
    details = stages.details if isinstance(stages, Plan) else stages
    shapes = [(s.replicas, s.shards) for s in details]
    keys = [(0, 0, 0)]
    for index, (replicas, shards) in enumerate(shapes[1:], start=1):
        keys += [(index, r, k) for r in range(replicas) for k in range(shards)]
    return keys


def _seats(stages: Sequence[StageSpec], devices: Sequence[str], recorder: str) -> tuple[Seat, ...]:
    """The recorder's seat to the recording device, the others in order to the rest."""
    others = iter(d for d in devices if d != recorder)
    return tuple(Seat(recorder if key == (0, 0, 0) else next(others), *key) for key in seat_keys(stages))


__all__ = ["bind", "partition_plan", "seat_artifacts", "seat_keys"]
