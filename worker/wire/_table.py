"""The task table (the paper's "IP table"): a plan bound to concrete devices, with an epoch.

The master builds it (``orchestrator.master.bind``) and sends it in an Assign; every agent
reads its own seats from it and finds its peers in it. Tensors are named ``block/tensor``
(unique in the model); a block's input is named after its source (``fusion/spatial``) and is
fed by that source's output (``spatial/fc1s``), which is why an input has both names.

Tags go to replicas by ``tag % replicas``; a value that feeds a window of W tags goes to every
replica that owns one of the tags ``t .. t+W-1``; a split stage gets its inputs on every shard
and its consumers concatenate the shards' pieces on the last axis, in shard order.
"""

from __future__ import annotations

from dataclasses import dataclass

CAMERA_FRAME = "camera/frame"   # what the recorder's camera gives its stage, whatever the model calls it


@dataclass(frozen=True)
class Peer:
    """A device (or the master) and where it listens."""

    device: str
    host: str
    port: int


@dataclass(frozen=True)
class TaskSpec:
    """One task a seat runs for a tag: an artifact by sha256 (or a built-in step), in order."""

    name: str                      # the manifest's task name, e.g. fusion.1
    block: str
    sha256: str                    # the .tflite; a split task: this seat's shard ("" for a built-in step)
    builtin: str                   # e.g. optical_flow, or ""
    inputs: tuple[str, ...]        # qualified tensor names, in the artifact's input order
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class InputSpec:
    """A tensor a stage receives for every tag it runs."""

    name: str                      # as the stage's tasks read it (fusion/spatial)
    sent_as: str                   # as the producer sends it (spatial/fc1s)
    source: int                    # producing stage (stage 0 records); itself for a window of its own values
    window: int = 1                # the last ``window`` values, assembled by ``mode``
    stride: int = 1
    mode: str = "stack"
    pieces: int = 1                # shards of the producer: concatenate on the last axis


@dataclass(frozen=True)
class Route:
    """Where a stage sends one of its outputs."""

    name: str                      # qualified name it is sent as
    stage: int                     # the consuming stage
    window: int = 1                # the consumer keeps a window of this many tags
    codec: str = "raw"             # how tensors travel on this route (worker.wire)


@dataclass(frozen=True)
class StageSpec:
    """A stage of the plan: the same tasks on ``replicas`` x ``shards`` seats."""

    index: int
    name: str
    replicas: int
    shards: int
    recorder: bool                 # stage 0: the camera (and built-in steps) on the recording device
    tasks: tuple[TaskSpec, ...]    # for shard 0; shard k runs the same with ``shard_sha256[k]`` on the split task
    shard_sha256: tuple[str, ...]  # the split task's artifact per shard (empty if not split)
    inputs: tuple[InputSpec, ...]
    routes: tuple[Route, ...]
    results: tuple[str, ...]       # outputs of the model, sent to the master as Result


@dataclass(frozen=True)
class Seat:
    """One place in the plan, taken by one device."""

    device: str
    stage: int
    replica: int
    shard: int


@dataclass(frozen=True)
class TaskTable:
    """Everything every agent needs for one epoch of one stream."""

    epoch: int
    model: str
    stream: str                    # the camera that saw motion
    fps: float
    frame_shape: tuple[int, ...]   # the model input, batch axis first
    master: Peer
    devices: tuple[Peer, ...]
    stages: tuple[StageSpec, ...]
    seats: tuple[Seat, ...]
    buffer: int = 64               # tags a stage may hold waiting
    almost_full: int = 48          # at this many, tell the predecessors to slow down

    def seats_of(self, device: str) -> tuple[Seat, ...]:
        """The seats ``device`` takes (several when the plan gives it several stages)."""
        return tuple(s for s in self.seats if s.device == device)

    def peer(self, device: str) -> Peer:
        """Where ``device`` listens."""
        for p in self.devices:
            if p.device == device:
                return p
        raise KeyError(device)

    def seat(self, stage: int, replica: int, shard: int) -> Seat:
        """The seat of ``stage`` for ``replica`` and ``shard``."""
        for s in self.seats:
            if (s.stage, s.replica, s.shard) == (stage, replica, shard):
                return s
        raise KeyError((stage, replica, shard))

    def owner(self, stage: int, tag: int) -> int:
        """The replica of ``stage`` that runs ``tag``."""
        return tag % self.stages[stage].replicas

    def first_tags(self, stage: int) -> dict[str, int]:
        """For each task of ``stage``, the first tag it can run: a window of W needs W-1 tags before."""
        earliest = {CAMERA_FRAME: 0}
        firsts: dict[str, int] = {}
        for spec in self.stages[: stage + 1]:
            feeds = {i.name: i for i in spec.inputs}
            for task in spec.tasks:
                start = 0
                for name in task.inputs:
                    feed = feeds.get(name)
                    source = feed.sent_as if feed else name
                    start = max(start, earliest.get(source, 0) + (feed.window - 1 if feed else 0))
                for name in task.outputs:
                    earliest[name] = start
                if spec.index == stage:
                    firsts[task.name] = start
        return firsts

    @property
    def sink(self) -> StageSpec:
        """The stage that sends the model's outputs to the master."""
        return next(s for s in self.stages if s.results)

    def first_complete_tag(self, stage: int) -> int:
        """The first tag for which every task of ``stage`` can run."""
        return max(self.first_tags(stage).values(), default=0)

    def destinations(self, route: Route, tag: int) -> tuple[Seat, ...]:
        """The seats a value of ``tag`` goes to along ``route``: the owners of the windows that
        include it, every shard of each."""
        stage = self.stages[route.stage]
        replicas = sorted({self.owner(route.stage, tag + d) for d in range(min(route.window, stage.replicas))})
        return tuple(self.seat(route.stage, r, k) for r in replicas for k in range(stage.shards))


__all__ = ["CAMERA_FRAME", "InputSpec", "Peer", "Route", "Seat", "StageSpec", "TaskSpec", "TaskTable"]
