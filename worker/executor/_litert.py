"""LiteRT (ai-edge-litert) executor, falling back to the older tflite_runtime package."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from worker.errors import UserError

from ._base import TensorSpec, check_feeds


def interpreter_class() -> Any:
    """The Interpreter class of the installed LiteRT, or None when neither package is present."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # needs numpy < 2
        except ImportError:
            return None
    return Interpreter


def litert_available() -> bool:
    """True when a LiteRT interpreter can be imported on this host."""
    return interpreter_class() is not None


class LiteRTRunner:
    """A .tflite model in a LiteRT interpreter; tensors addressed by name."""

    def __init__(self, model: str | os.PathLike[str] | bytes, threads: int | None = None) -> None:
        cls = interpreter_class()
        if cls is None:
            raise UserError("backend litert: LiteRT is not installed (pip install ai-edge-litert on x86_64 and "
                            "aarch64, or tflite-runtime with numpy < 2; docs/troubleshooting.md)")
        if isinstance(model, bytes):
            self.path = "<bytes>"
            self._interp = cls(model_content=model, num_threads=threads)
        else:
            self.path = str(model)
            self._interp = cls(model_path=self.path, num_threads=threads)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self.inputs = [_spec(d) for d in self._in]
        self.outputs = [_spec(d) for d in self._out]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; returns fresh arrays (the interpreter's buffers are reused by the next run)."""
        check_feeds(self.path, self.inputs, feeds)
        for spec, detail in zip(self.inputs, self._in):
            self._interp.set_tensor(detail["index"], np.asarray(feeds[spec.name], spec.dtype))
        self._interp.invoke()
        return {spec.name: self._interp.get_tensor(d["index"]) for spec, d in zip(self.outputs, self._out)}


def _spec(detail: Mapping[str, Any]) -> TensorSpec:
    return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]))
