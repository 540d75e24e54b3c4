"""One model as every later step sees it: the stream graph of blocks, values and windows, made once.

``open_model`` turns what the commands take as MODEL (a built-in name, a spec file or a .tflite)
into a :class:`Model`; the planner, the binder, the partitioner and the master read it instead of
resolving the name again. A *value* is what a block passes on per tag (its first output), or the
camera frame; a block reads each of its sources through a window.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worker.stream import Window
from worker.wire import CAMERA_FRAME

from .analysis import LayerStats, layer_stats
from .source import SourceBlock, blocks_of_file, blocks_of_model
from .spec import InputSpec, ModelSpec
from .zoo import BuiltModel, build_model, find_spec

FILE_INPUT = "frame"   # what a .tflite's camera input is called (it has no spec to name it)


@dataclass(frozen=True)
class BlockInput:
    """An input of a block: the block's tensor, the source it reads (a block or the camera input), the window."""

    tensor: str
    source: str
    window: Window = Window()


@dataclass(frozen=True)
class Model:
    """The stream graph of a model: blocks in dependency order, what each reads, which are results.

    ``source`` is MODEL as it was given (a name or a path); ``spec`` and ``built`` are None for a
    .tflite, which is one block fed by the camera and whose output is the result.
    """

    name: str
    source: str
    input: InputSpec                              # the camera-side input: one tensor per tag
    blocks: tuple[SourceBlock, ...]
    inputs: Mapping[str, tuple[BlockInput, ...]]   # block -> what it reads
    outputs: tuple[str, ...]                       # blocks whose outputs are the results
    frame_bytes: int                               # one tag's camera input
    spec: ModelSpec | None = None
    built: BuiltModel | None = field(default=None, compare=False, repr=False)
    _layers: dict[str, list[LayerStats]] = field(default_factory=dict, init=False, compare=False, repr=False)

    def block(self, name: str) -> SourceBlock:
        """The block called ``name``; KeyError if there is none."""
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def passes(self, source: str) -> str:
        """The value ``source`` (a block or the camera input) passes on, as the task table names it."""
        if source == self.input.name:
            return CAMERA_FRAME
        return f"{source}/{self.block(source).outputs[0].name}"

    def block_input(self, block: str, tensor: str) -> BlockInput | None:
        """The input of ``block`` whose tensor is ``tensor``; None for a tensor made inside the block."""
        return next((i for i in self.inputs[block] if i.tensor == tensor), None)

    def stride(self, block: str) -> int:
        """Every how many values of its sources ``block`` runs (the largest stride of its windows)."""
        return max((i.window.stride for i in self.inputs[block]), default=1)

    @functools.cached_property
    def producers(self) -> dict[str, str]:
        """Every value passed between blocks -> the block that makes it (the camera input for the frame)."""
        return {self.passes(s): s for s in (self.input.name, *(b.name for b in self.blocks))}

    @functools.cached_property
    def consumers(self) -> dict[str, tuple[str, ...]]:
        """Every value passed between blocks -> the blocks that read it, in block order."""
        out: dict[str, tuple[str, ...]] = dict.fromkeys(self.producers, ())
        for b in self.blocks:
            for i in self.inputs[b.name]:
                out[self.passes(i.source)] += (b.name,)
        return out

    @functools.cached_property
    def results(self) -> frozenset[str]:
        """Every output of the result blocks, as the task table names them."""
        return frozenset(f"{b}/{ref.name}" for b in self.outputs for ref in self.block(b).outputs)

    def layers(self, block: str) -> list[LayerStats]:
        """Per-layer figures of a graph block (ops, MACs, weight and output bytes); [] for a built-in step."""
        if block not in self._layers:
            graph = self.block(block).graph
            self._layers[block] = layer_stats(graph) if graph is not None else []
        return self._layers[block]


def open_model(name_or_path: str | Path, weights: str | Path | None = None, seed: int = 0) -> Model:
    """MODEL as the commands take it (a .tflite path, a spec path, or a built-in name), built if needed."""
    source = str(name_or_path)
    path = Path(source)
    if path.suffix == ".tflite" or (path.is_file() and path.suffix not in (".yaml", ".yml")):
        return _from_file(path)
    return model_of(build_model(find_spec(source), seed=seed, weights=weights), source)


def model_of(built: BuiltModel, source: str = "") -> Model:
    """The Model of a built spec (``source``: how it was named, default its spec file)."""
    spec = built.spec
    inputs = {b.name: tuple(BlockInput(e.source, e.source, e.window) for e in b.inputs) for b in spec.blocks}
    return Model(spec.name, source or spec.source, spec.input, tuple(blocks_of_model(built)), inputs, spec.outputs,
                 4 * int(np.prod(spec.input.shape)), spec, built)


def _from_file(path: Path) -> Model:
    """A single .tflite: one block named after the file, every input of it the camera's."""
    (block,) = blocks_of_file(path)
    camera = InputSpec(FILE_INPUT, tuple(block.inputs[0].shape) if block.inputs else ())
    inputs = {block.name: tuple(BlockInput(ref.name, FILE_INPUT) for ref in block.inputs)}
    return Model(path.stem, str(path), camera, (block,), inputs, (block.name,),
                 sum(ref.nbytes for ref in block.inputs))


__all__ = ["FILE_INPUT", "BlockInput", "Model", "model_of", "open_model"]
