"""Bind a plan to devices: the task table the master sends in an Assign.

The plan says which units go together; the partition (made with the plan's cuts and shards)
says which artifacts hold them; the spec says which windows join the blocks. Devices take the
seats in order, the recording device always the recorder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from worker.errors import UserError
from worker.runtime import CAMERA_FRAME
from worker.table import InputSpec, Peer, Route, Seat, StageSpec, TaskSpec, TaskTable

from ..planner import Plan, StagePlan
from ..toolchain.manifest import Manifest, Task
from ..toolchain.partition import partition, resolve_cuts, resolve_shards
from ..toolchain.source import SourceBlock
from ..toolchain.spec import ModelSpec


def bind(plan: Plan, manifest: Manifest, spec: ModelSpec | None, devices: Sequence[Peer], recorder: str,
         master: Peer, epoch: int, buffer: int = 64, almost_full: int = 48, fps: float | None = None) -> TaskTable:
    """The task table of ``plan`` on ``devices``; ``recorder`` (one of them) records the stream (at
    ``fps``, else the spec's frame rate)."""
    if plan.metrics.devices > len(devices):
        raise UserError(f"the plan for {plan.n} devices needs {plan.metrics.devices}, {len(devices)} given")
    names = [d.device for d in devices]
    if recorder not in names:
        raise UserError(f"recorder {recorder!r} is not among the devices ({', '.join(names)})")
    if len(set(names)) != len(names):
        raise UserError(f"device names must be unique: {', '.join(names)}")
    input_name = spec.input.name if spec else "frame"
    windows = {(b.name, e.source): e.window for b in spec.blocks for e in b.inputs} if spec else {}
    output_blocks = set(spec.outputs) if spec else {b.name for b in manifest.blocks}
    # What each block passes on (its first output), and what each block reads as its inputs.
    passes = {input_name: CAMERA_FRAME}
    reads: dict[str, set[str]] = {}
    results: set[str] = set()
    # Graph blocks are in the manifest's sources, built-in steps only among its tasks.
    block_io = [(b.name, b.inputs, b.outputs) for b in manifest.blocks]
    block_io += [(t.block, t.inputs, t.outputs) for t in manifest.tasks if t.builtin]
    for block, inputs, outputs in block_io:
        passes[block] = f"{block}/{outputs[0].name}"
        reads[block] = {ref.name for ref in inputs}
        if block in output_blocks:
            results.update(f"{block}/{ref.name}" for ref in outputs)

    producer = {CAMERA_FRAME: 0}
    stages: list[StageSpec] = []
    for index, detail in enumerate(plan.details):
        specs, feeds = [], []
        made = {CAMERA_FRAME} if index == 0 else set()
        tasks = _tasks_of(detail.tasks, detail.units, manifest)
        for task in tasks:
            ins = tuple(f"{task.block}/{ref.name}" for ref in task.inputs)
            outs = tuple(f"{task.block}/{ref.name}" for ref in task.outputs)
            for qualified, ref in zip(ins, task.inputs):
                block_input = ref.name in reads[task.block]
                sent_as = passes[ref.name] if block_input else qualified
                window = windows.get((task.block, ref.name)) if block_input else None
                if sent_as not in producer and sent_as not in made:
                    raise UserError(f"plan and partition disagree: nothing produces {sent_as} for {task.name}")
                source = index if sent_as in made else producer[sent_as]
                if source != index or window is not None:
                    # Received from another stage, or assembled from a window of our own values.
                    feeds.append(InputSpec(qualified, sent_as, source, window.size if window else 1,
                                           window.stride if window else 1, window.mode if window else "stack",
                                           plan.details[source].shards if source != index else 1))
            made.update(outs)
            split = task.shards[0].artifact.sha256 if task.shards else ""
            specs.append(TaskSpec(task.name, task.block, task.artifact.sha256 if task.artifact else split,
                                  task.builtin, ins, outs))
        for name in made:
            producer.setdefault(name, index)
        split_task = next((t for t in tasks if t.shards), None)
        stages.append(StageSpec(index, detail.name, detail.replicas, detail.shards, detail.recorder, tuple(specs),
                                tuple(s.artifact.sha256 for s in split_task.shards) if split_task else (),
                                tuple(feeds), (), tuple(sorted(made & results))))
    stages = _with_routes(stages, [d.codec for d in plan.details])
    frame_shape = tuple(spec.input.shape) if spec else tuple(manifest.blocks[0].inputs[0].shape)
    fps = fps or (spec.input.fps if spec else 30.0)
    return TaskTable(epoch, manifest.model, recorder, fps, frame_shape, master,
                     tuple(devices), tuple(stages), _seats(stages, names, recorder), buffer, almost_full)


def partition_plan(plan: Plan, blocks: Sequence[SourceBlock], model: str, out: Path) -> Manifest:
    """The artifacts of ``plan``: ``blocks`` partitioned into ``out`` with the plan's cuts and shards."""
    cuts, shards = plan.partition_args()
    return partition(blocks, model, out, resolve_cuts(blocks, cuts), resolve_shards(blocks, shards), progress=False)


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
    details: Sequence[StagePlan | StageSpec] = stages.details if isinstance(stages, Plan) else stages
    keys = [(0, 0, 0)]
    for index, s in enumerate(details[1:], start=1):
        keys += [(index, r, k) for r in range(s.replicas) for k in range(s.shards)]
    return keys


def _seats(stages: Sequence[StageSpec], devices: Sequence[str], recorder: str) -> tuple[Seat, ...]:
    """The recorder's seat to the recording device, the others in order to the rest."""
    others = iter(d for d in devices if d != recorder)
    return tuple(Seat(recorder if key == (0, 0, 0) else next(others), *key) for key in seat_keys(stages))


__all__ = ["bind", "partition_plan", "seat_keys"]
