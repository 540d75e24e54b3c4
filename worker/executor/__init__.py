"""Executors: LiteRT for real work, a numpy reference for tests and hosts without LiteRT."""

from __future__ import annotations

import os

from ._base import Runner, TensorSpec
from ._litert import LiteRTRunner, litert_available
from ._numpy import NumpyRunner

BACKENDS = ("auto", "litert", "numpy")


def load_model(model: str | os.PathLike[str] | bytes, backend: str = "auto",
               threads: int | None = None) -> Runner:
    """Load a .tflite (path or bytes) with ``backend``: litert, numpy, or auto (LiteRT if present)."""
    if backend not in BACKENDS:
        raise ValueError(f"executor backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "litert" or (backend == "auto" and litert_available()):
        return LiteRTRunner(model, threads)
    return NumpyRunner(model)


__all__ = ["BACKENDS", "LiteRTRunner", "NumpyRunner", "Runner", "TensorSpec", "litert_available",
           "load_model"]
