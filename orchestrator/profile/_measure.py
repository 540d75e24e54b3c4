"""Time a model on this host, layer by layer: every layer (and shards of it) as its own task.

Each layer is cut out of its block with the toolchain's ``extract``, written with our own
.tflite writer and run in the executor the agents use (LiteRT), exactly as a one-layer task of
a partition would run. The MACs and weight bytes recorded are those of ``layer_stats``, which
the planner checks against the model it plans.
"""

from __future__ import annotations

import ctypes
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

import numpy as np
import psutil

from worker.camera import SyntheticCamera, preprocess
from worker.executor import LiteRTRunner, Runner, litert_available, load_model
from worker.graph import Graph
from worker.stream import builtin_step

from ..toolchain.analysis import layer_stats, shard_units, why_not_partitionable, why_not_shardable
from ..toolchain.manifest import TensorRef
from ..toolchain.model import open_model
from ..toolchain.partition import extract, shard_graph
from ..toolchain.source import SourceBlock
from ..toolchain.tflite_writer import write_tflite
from ._device import rss_mb
from ._model import MB, LayerTiming, ModelTimings, TaskTiming

_LIBC: ctypes.CDLL | None
try:  # glibc only; elsewhere RSS deltas are just less precise
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim  # noqa: B018 - fail here, not at the first trim, when it is missing
except (OSError, AttributeError):
    _LIBC = None

MAX_RUNS = 10_000   # a cap on the adaptive repetitions of a very fast op
CAMERA_FRAMES = 20  # frames the camera figure is taken over


@dataclass(frozen=True)
class MeasureOptions:
    """How hard to measure: each figure is the median of at least ``repeat`` runs, and of as many
    more as fit in ``budget_s`` seconds."""

    repeat: int = 3
    budget_s: float = 0.2
    loads: int = 3              # load time = median of this many loads
    max_shards: int = 4
    backend: str = "auto"
    threads: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Measurement:
    """What one ``measure_model`` found: the model's timings and the host figures beside them."""

    timings: ModelTimings
    executor: str               # "litert" or "numpy": what actually ran
    base_mb: float              # RSS of this process with the runtime imported and no model loaded
    camera_s: float | None      # capture + preprocess of one frame to the model's input, if it takes images
    skipped: tuple[str, ...] = ()   # layers that could not be measured, with the reason


@dataclass(frozen=True)
class _Figures:
    time_s: float
    load_s: float
    memory_mb: float


class Progress:
    """``[i/N] what`` lines on stderr; redrawn in place on a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()
        self._width = 0

    def step(self, what: str) -> None:
        """Announce the next unit of work."""
        self.done += 1
        if not self.enabled:
            return
        line = f"[{self.done}/{self.total}] {what}"
        if self._tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        """A message that must stay on screen (a skipped layer)."""
        if self.enabled:
            self.close()
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the redrawn line."""
        if self.enabled and self._tty and self._width:
            self.stream.write("\n")
            self._width = 0


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS, so that RSS growth is real growth.

    Without the trim, a layer loaded after a bigger one fits in the freed heap and seems to take
    no memory at all.
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def too_big(nbytes: float) -> str:
    """Why loading ``nbytes`` (the bytes and the runtime's copy) would exhaust this host, or ""."""
    available = psutil.virtual_memory().available
    if nbytes <= available * 0.9:
        return ""
    return f"needs about {nbytes / MB:.0f} MB to load, only {available / MB:.0f} MB available"


def layer_task(graph: Graph, li: int) -> Graph:
    """Layer ``li`` as a standalone graph; its outputs are what the rest of the block reads of it."""
    ops = graph.layers[li].ops
    mine = set(ops)
    needed = set(graph.outputs) | {t for o in ops if o not in graph.constant_ops for t in graph.operators[o].outputs
                                   if any(c not in mine for c in graph.consumers.get(t, ()))}
    return extract(graph, list(ops), needed, graph.layers[li].name)


def shard_counts(graph: Graph, li: int, max_shards: int) -> list[int]:
    """The shard counts k >= 2 a layer is timed at (none when it cannot be sharded)."""
    if why_not_shardable(graph, li):
        return []
    return list(range(2, min(max_shards, shard_units(graph, li)) + 1))


def random_feeds(runner: Runner, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs of the right shapes: uniform [0, 1) floats (image-like), zeros for other types."""
    return {s.name: rng.random(s.shape, np.float32).astype(s.dtype) if s.dtype.kind == "f"
            else np.zeros(s.shape, s.dtype) for s in runner.inputs}


def time_call(fn: Callable[[], object], repeat: int, budget_s: float) -> float:
    """Median seconds of ``fn()`` after one warm-up run: at least ``repeat`` runs, more within the budget."""
    fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - started < budget_s and len(times) < MAX_RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class _Timer:
    """Loads and times graphs with one executor and one seeded random source."""

    def __init__(self, options: MeasureOptions) -> None:
        self.options = options
        self.rng = np.random.default_rng(options.seed)
        self.executor = ""

    def load(self, data: bytes) -> Runner:
        runner = load_model(data, self.options.backend, self.options.threads)
        self.executor = "litert" if isinstance(runner, LiteRTRunner) else "numpy"
        return runner

    def time(self, runner: Runner) -> float:
        feeds = random_feeds(runner, self.rng)
        return time_call(lambda: runner.run(feeds), self.options.repeat, self.options.budget_s)

    def figures(self, make: Callable[[], bytes]) -> _Figures:
        """Memory (RSS growth over building the bytes, loading and one run), run time, load time."""
        release_memory()
        before = rss_mb()
        data = make()
        runner = self.load(data)
        runner.run(random_feeds(runner, self.rng))
        memory = max(0.0, rss_mb() - before)
        seconds = self.time(runner)
        del runner
        loads = []
        for _ in range(max(1, self.options.loads)):
            t0 = time.perf_counter()
            runner = self.load(data)
            loads.append(time.perf_counter() - t0)
            del runner
        return _Figures(seconds, statistics.median(loads), memory)

    def warm_up(self, graph: Graph) -> None:
        """Load the lightest layer once: the first interpreter pays the runtime's one-time setup."""
        li = min(range(len(graph.layers)), key=lambda i: graph.weight_bytes(graph.layers[i].ops))
        try:
            self.load(write_tflite(layer_task(graph, li)))
        except (RuntimeError, ValueError):
            pass  # that layer will be reported when it is measured

    def run_time(self, graph: Graph) -> float:
        return self.time(self.load(write_tflite(graph)))


def measure_model(model: str, options: MeasureOptions | None = None, progress: bool = True,
                  stream: TextIO | None = None) -> Measurement:
    """Time every layer, shard, block and built-in step of ``model`` (a name, spec or .tflite)."""
    options = options or MeasureOptions()
    litert_available()  # import the runtime first: the base memory is an agent's with it loaded
    release_memory()
    base = rss_mb()  # before the model's graphs (all its weights) are read into this process
    loaded = open_model(model, seed=options.seed)
    name, blocks = loaded.name, list(loaded.blocks)
    timer = _Timer(options)
    graphs = [b.graph for b in blocks if b.graph is not None]
    total = sum(1 + len(shard_counts(g, li, options.max_shards))
                for g in graphs for li in range(len(g.layers))) + len(blocks) + 1
    bar = Progress(total, stream, progress)
    bar.note(f"profiling {name}: {sum(len(g.layers) for g in graphs)} layers in {len(blocks)} blocks, "
             f"{total} measurements")
    if graphs:
        timer.warm_up(graphs[0])
    layers: dict[str, LayerTiming] = {}
    tasks: list[TaskTiming] = []
    steps: dict[str, float] = {}
    skipped: list[str] = []
    for block in blocks:
        if block.graph is None:
            bar.step(f"{block.name}: built-in step {block.builtin}")
            try:
                steps[block.builtin] = _time_step(block, options)
            except ValueError as exc:  # a step whose inputs are not camera frames
                skipped.append(f"{block.name} (built-in step): {exc}")
                bar.note(f"skipped {skipped[-1]}")
            continue
        _measure_block(block, timer, options, bar, layers, tasks, skipped)
    bar.step("camera: capture and preprocess")
    camera = _time_camera(blocks, options)
    bar.close()
    return Measurement(ModelTimings(name, layers, tuple(tasks), steps), timer.executor or "litert", base, camera,
                       tuple(skipped))


def _measure_block(block: SourceBlock, timer: _Timer, options: MeasureOptions, bar: Progress,
                   layers: dict[str, LayerTiming], tasks: list[TaskTiming], skipped: list[str]) -> None:
    graph = block.graph
    assert graph is not None
    for stats in layer_stats(graph):
        li, lname = stats.index, stats.name
        ks = shard_counts(graph, li, options.max_shards)
        start = bar.done
        bar.step(f"{block.name}/{lname} ({'+'.join(dict.fromkeys(stats.ops))})")
        reason = why_not_partitionable(graph, li) or too_big(2 * stats.weight_bytes)
        try:
            if reason:
                raise ValueError(reason)
            task = layer_task(graph, li)
            fig = timer.figures(partial(write_tflite, task))
            shards = {}
            for k in ks:
                bar.step(f"{block.name}/{lname}: 1 of {k} shards")
                shards[k] = timer.run_time(shard_graph(task, k)[0][2])
        except (RuntimeError, ValueError) as exc:
            # One op the runtime cannot run alone must not lose the rest of the model's figures.
            message = f"{block.name}/{lname}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
            skipped.append(message)
            bar.note(f"skipped {message}")
            bar.done = start + 1 + len(ks)  # the shards of a skipped layer are skipped too
            continue
        layers[lname] = LayerTiming(block.name, lname, tuple(stats.ops), stats.macs, stats.weight_bytes,
                                    stats.output_bytes, fig.time_s, fig.load_s, round(fig.memory_mb, 3), shards)
    bar.step(f"{block.name}: whole block")
    try:
        reason = too_big(2 * graph.weight_bytes(range(len(graph.operators))))
        if reason:
            raise ValueError(reason)
        fig = timer.figures(lambda: Path(block.file).read_bytes() if block.file else write_tflite(graph))
    except (RuntimeError, ValueError) as exc:
        skipped.append(f"{block.name} (whole block): {exc}")
        bar.note(f"skipped {block.name} (whole block): {exc}")
        return
    tasks.append(TaskTiming(block.name, graph.layers[0].name, graph.layers[-1].name, fig.time_s, fig.load_s,
                            round(fig.memory_mb, 3)))


def frames_for(shape: Sequence[int], camera: SyntheticCamera) -> np.ndarray:
    """A tensor of ``shape`` made of camera frames: [1, H, W, C], or a window [1, T, H, W, C]."""
    if len(shape) == 4:
        return preprocess(camera.read(), tuple(shape))
    if len(shape) == 5:
        frame = (1, *shape[2:])
        return np.stack([preprocess(camera.read(), frame)[0] for _ in range(shape[1])])[np.newaxis]
    raise ValueError(f"cannot make camera frames of shape {list(shape)}")


def _time_step(block: SourceBlock, options: MeasureOptions) -> float:
    step = builtin_step(block.builtin)
    camera = SyntheticCamera(seed=options.seed)
    inputs = [frames_for(ref.shape, camera) for ref in block.inputs]
    return time_call(lambda: step(inputs), options.repeat, options.budget_s)


def camera_shape(blocks: Sequence[SourceBlock]) -> tuple[int, ...] | None:
    """Shape [1, H, W, C] of the model input a camera feeds, or None when it takes no images."""
    produced = {b.name for b in blocks}
    refs: list[TensorRef] = [r for b in blocks for r in b.inputs if r.name not in produced]
    for ref in refs:
        if len(ref.shape) >= 4 and ref.shape[-1] in (1, 3):
            return (1, *ref.shape[-3:])
    return None


def _time_camera(blocks: Sequence[SourceBlock], options: MeasureOptions) -> float | None:
    shape = camera_shape(blocks)
    if shape is None:
        return None
    camera = SyntheticCamera(seed=options.seed)
    return time_call(lambda: preprocess(camera.read(), shape), max(options.repeat, CAMERA_FRAMES),
                     options.budget_s)


__all__ = ["MeasureOptions", "Measurement", "Progress", "camera_shape", "frames_for", "layer_task",
           "measure_model", "random_feeds", "release_memory", "shard_counts", "time_call", "too_big"]
