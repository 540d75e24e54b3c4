"""The blocks of a model as the toolchain reads them back: from a built spec or from one .tflite."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from worker.graph import Graph, read_graph

from .manifest import TensorRef
from .zoo import BuiltModel


@dataclass(frozen=True)
class SourceBlock:
    """A block to partition: its graph (None for a built-in step) and where it came from."""

    name: str
    graph: Graph | None
    file: str
    sha256: str
    builtin: str = ""
    inputs: tuple[TensorRef, ...] = ()
    outputs: tuple[TensorRef, ...] = ()


def blocks_of_model(model: BuiltModel) -> list[SourceBlock]:
    """The blocks of a built spec, graphs read back from their .tflite files."""
    out = []
    for block in model.spec.blocks:
        art = model.blocks[block.name]
        ins = tuple(TensorRef(n, s, "float32") for n, s in zip(art.inputs, art.input_shapes))
        outs = tuple(TensorRef(n, s, "float32") for n, s in zip(art.outputs, art.output_shapes))
        if block.is_builtin:
            out.append(SourceBlock(block.name, None, "", "", block.builtin, ins, outs))
        else:
            path = model.path(block.name)
            out.append(SourceBlock(block.name, read_graph(path), str(path), art.sha256, "", ins, outs))
    return out


def blocks_of_file(path: Path) -> list[SourceBlock]:
    """A single .tflite file as one block named after the file."""
    graph = read_graph(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return [SourceBlock(path.stem, graph, str(path), sha, "", tuple(tensor_refs(graph, graph.inputs)),
                        tuple(tensor_refs(graph, graph.outputs)))]


def tensor_refs(graph: Graph, tensors: Sequence[int]) -> list[TensorRef]:
    """TensorRefs (name, shape, dtype) of tensors of ``graph``."""
    return [TensorRef(graph.tensors[t].name, list(graph.tensors[t].shape), graph.tensors[t].dtype.name)
            for t in tensors]
