"""Executors: LiteRT for real work, a numpy reference for tests and hosts without LiteRT."""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import TYPE_CHECKING

from worker._lazy import lazy_attributes

from ._base import Runner, TensorSpec
from ._litert import LiteRTRunner, litert_available

# The numpy executor reads .tflite files with the `tflite` package, which an agent with LiteRT does not
# install (setup.cfg): imported when a NumpyRunner is first made.
if TYPE_CHECKING:
    from ._numpy import NumpyRunner
__getattr__ = lazy_attributes(__name__, {"_numpy": ("NumpyRunner",)})

BACKENDS = ("auto", "litert", "numpy")
log = logging.getLogger("mchair.executor")


def load_model(model: str | os.PathLike[str] | bytes, backend: str = "auto",
               threads: int | None = None) -> Runner:
    """Load a .tflite (path or bytes) with ``backend``: litert, numpy, or auto (LiteRT if present)."""
    if backend not in BACKENDS:
        raise ValueError(f"executor backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "litert" or (backend == "auto" and litert_available()):
        return LiteRTRunner(model, threads)
    if backend == "auto":
        _say_numpy_fallback()
    from ._numpy import NumpyRunner

    return NumpyRunner(model)


@cache
def _say_numpy_fallback() -> None:
    # Once per process: a Pi quietly running the reference executor is 10-100x slower than planned.
    log.warning("LiteRT is not installed: models run on the numpy reference executor (slow); "
                "pip install ai-edge-litert (docs/troubleshooting.md)")


__all__ = ["BACKENDS", "LiteRTRunner", "NumpyRunner", "Runner", "TensorSpec", "litert_available",
           "load_model"]
