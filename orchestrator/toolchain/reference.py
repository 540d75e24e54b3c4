"""The single-process stream reference: a whole spec over a frame sequence, tag by tag.

Every distributed run is compared with this, tag by tag. It uses the same windows, joins and
built-in steps as the agents (``worker.stream``), and one executor per block.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from worker.executor import NumpyRunner, Runner, load_model
from worker.stream import BlockJoin, BuiltinStep, builtin_step

from .zoo import BuiltModel


@dataclass(frozen=True)
class StreamResult:
    """The outputs of one output block for one tag."""

    tag: int
    block: str
    outputs: dict[str, np.ndarray]


StreamTap = Callable[[str, str, np.ndarray], "np.ndarray | None"]


class StreamReference:
    """Feeds frames (model input tensors) one tag at a time and yields results as they appear.

    ``tap(block, tensor, value)`` sees every value the stream computes (the model input with block
    ``""``, a built-in step's output as ``(step, step)``, a layer's activation as ``(block, tensor)``)
    and may return a replacement; it runs the blocks on the numpy executor, which can be tapped.
    """

    def __init__(self, model: BuiltModel, backend: str = "auto", threads: int | None = None,
                 tap: StreamTap | None = None) -> None:
        self.model, self.tap = model, tap
        if tap is not None:
            backend = "numpy"
        spec = model.spec
        self._runners: dict[str, Runner] = {}
        self._steps: dict[str, BuiltinStep] = {}
        self._joins: dict[str, BlockJoin] = {}
        self._consumers: dict[str, list[tuple[str, int]]] = {}
        for block in spec.blocks:
            if block.is_builtin:
                self._steps[block.name] = builtin_step(block.builtin)
            else:
                self._runners[block.name] = load_model(model.path(block.name), backend, threads)
            self._joins[block.name] = BlockJoin([e.window for e in block.inputs])
            for i, edge in enumerate(block.inputs):
                self._consumers.setdefault(edge.source, []).append((block.name, i))
        self._outputs = set(spec.outputs)
        self.block_runs = dict.fromkeys(self._joins, 0)
        self.block_seconds = dict.fromkeys(self._joins, 0.0)

    def push(self, tag: int, frame: np.ndarray) -> list[StreamResult]:
        """Process the input tensor of ``tag``; returns the results that it completed."""
        results = []
        if self.tap is not None:
            frame = _tapped(self.tap, "", self.model.spec.input.name, frame)
        pending = deque([(self.model.spec.input.name, tag, frame)])
        while pending:
            source, t, value = pending.popleft()
            for block, edge in self._consumers.get(source, []):
                for ready_tag, inputs in self._joins[block].push(edge, t, value):
                    started = time.perf_counter()
                    outputs = self._run_block(block, inputs)
                    self.block_seconds[block] += time.perf_counter() - started
                    self.block_runs[block] += 1
                    if block in self._outputs:
                        results.append(StreamResult(ready_tag, block, outputs))
                    pending.append((block, ready_tag, outputs[self.model.output_name(block)]))
        return results

    def run(self, frames: Iterable[np.ndarray], first_tag: int = 0) -> Iterator[StreamResult]:
        """Results for a whole sequence of input tensors, tagged from ``first_tag``."""
        for tag, frame in enumerate(frames, first_tag):
            yield from self.push(tag, frame)

    def _run_block(self, name: str, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        tap = self.tap
        if name in self._steps:
            out = self._steps[name](inputs)
            return {name: _tapped(tap, name, name, out) if tap is not None else out}
        art = self.model.blocks[name]
        runner = self._runners[name]
        if tap is not None and isinstance(runner, NumpyRunner):
            return runner.run(dict(zip(art.inputs, inputs)), lambda tensor, value: tap(name, tensor, value))
        return runner.run(dict(zip(art.inputs, inputs)))


def _tapped(tap: StreamTap, block: str, tensor: str, value: np.ndarray) -> np.ndarray:
    replaced = tap(block, tensor, value)
    return value if replaced is None else replaced
