"""A model over synthetic camera frames on the numpy executor, every value it computes tapped.

What the tensor codecs do to a model is measured on its own activations: ``mchair model inspect
--codec`` records them to size the cuts, the planner (``planner._codec_facts``) encodes the values
crossing a cut on their way to measure the output error. Frames come from the synthetic camera
(seed 0), preprocessed to the model input as the recorder does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from worker.camera import SyntheticCamera, preprocess
from worker.executor import NumpyRunner
from worker.wire import encode_tensor

from .analysis import cut_tensors
from .model import FILE_INPUT, Model
from .reference import StreamReference
from .source import SourceBlock

MAX_FRAMES = 400     # a model whose first result needs more frames is measured on what it gave by then
Key = tuple[str, str]   # (block, tensor) as the stream reference taps it; block "" for the model input
Tap = Callable[[str, str, np.ndarray], "np.ndarray | None"]


class ModelStream:
    """A model (spec or .tflite) over synthetic camera frames on the numpy executor, tapped.

    ``identity`` names the model's content: the built spec's directory, a .tflite's sha256."""

    def __init__(self, model: Model) -> None:
        self.spec = model.spec
        self.built = model.built
        if self.built is not None:
            self.identity = self.built.directory.name
        else:
            self.file = Path(model.blocks[0].file)
            self.identity = model.blocks[0].sha256

    def run(self, results: int, tap: Tap, frames: int | None = None) -> tuple[list[dict[str, np.ndarray]], int]:
        """The outputs of the first ``results`` results (or of ``frames`` frames) and the frames it took."""
        out: list[dict[str, np.ndarray]] = []
        used = 0
        for used, outputs in enumerate(self._outputs(tap), 1):
            out += outputs
            if (frames is None and len(out) >= results) or used == (frames or MAX_FRAMES):
                break
        return out, used

    def _outputs(self, tap: Tap) -> Iterator[list[dict[str, np.ndarray]]]:
        """Per camera frame, the results it completed (each: output name -> value)."""
        camera = SyntheticCamera(seed=0)
        if self.spec is not None and self.built is not None:
            reference = StreamReference(self.built, tap=tap)
            for tag in range(MAX_FRAMES):
                frame = preprocess(camera.read(), tuple(self.spec.input.shape))
                yield [{f"{r.block}/{k}": v for k, v in r.outputs.items()} for r in reference.push(tag, frame)]
            return
        runner = NumpyRunner(self.file)
        for _ in range(MAX_FRAMES):
            feeds = {}
            for spec in runner.inputs:
                x = _camera_tensor(camera, spec.shape).astype(spec.dtype)
                # The planning problem names a .tflite's camera value "frame", whatever its inputs are called.
                feeds[spec.name] = x if (y := tap("", FILE_INPUT, x)) is None else y
            yield [runner.run(feeds, lambda tensor, value: tap(self.file.stem, tensor, value))]


def _camera_tensor(camera: SyntheticCamera, shape: Sequence[int]) -> np.ndarray:
    """A camera frame resized to an image-shaped input, else seeded values of ``shape``."""
    if len(shape) == 4 and shape[-1] in (1, 3):
        return preprocess(camera.read(), tuple(shape))
    return np.random.default_rng(0).random(tuple(shape), dtype=np.float32)




def record_activations(model: Model, results: int) -> tuple[dict[Key, list[np.ndarray]], int]:
    """Every value ``model`` computes (as the stream taps it) over the frames of its first ``results``
    results, and how many frames that took."""
    seen: dict[Key, list[np.ndarray]] = {}

    def record(block: str, tensor: str, value: np.ndarray) -> None:
        seen.setdefault((block, tensor), []).append(np.array(value))

    _, frames = ModelStream(model).run(results, record)
    return seen, frames


class CutSizes:
    """Bytes on the wire of every cut of a model's blocks in one codec, measured on its activations."""

    def __init__(self, model: Model, codec: str, results: int = 3) -> None:
        self.codec = codec
        self._seen, self.frames = record_activations(model, results)
        camera = self._seen.get(("", model.input.name), [])
        # A .tflite's inputs are all "frame" (see ModelStream): per frame, their sum.
        self.frame_bytes = sum(x.nbytes for x in camera) / max(1, self.frames)

    def cut_bytes(self, block: SourceBlock, after_layer: int) -> float:
        """Mean encoded bytes per run of ``block`` of the tensors crossing a cut after ``after_layer``
        (a tensor never computed in the measured frames counts raw)."""
        graph = block.graph
        assert graph is not None
        total = 0.0
        for t in cut_tensors(graph, after_layer):
            values = self._seen.get((block.name, graph.tensors[t].name))
            if not values:
                total += graph.tensors[t].nbytes
                continue
            total += sum(encode_tensor("x", x, self.codec).nbytes for x in values) / len(values)
        return total


__all__ = ["MAX_FRAMES", "CutSizes", "Key", "ModelStream", "Tap", "record_activations"]
