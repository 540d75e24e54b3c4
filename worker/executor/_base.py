"""What every executor gives the runtime: a loaded model that maps named inputs to named outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


class Runner(Protocol):
    """A model loaded by an executor, ready to run one tag at a time."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``feeds`` maps every input name to its value; returns output name -> value."""
        ...


def check_feeds(path: str, specs: list[TensorSpec], feeds: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError naming the model and the input when ``feeds`` does not match ``specs``."""
    for spec in specs:
        if spec.name not in feeds:
            raise ValueError(f"{path}: input {spec.name!r} not given (have {sorted(feeds)})")
        value = feeds[spec.name]
        if tuple(value.shape) != spec.shape:
            raise ValueError(f"{path}: input {spec.name!r} has shape {list(value.shape)}, "
                             f"expected {list(spec.shape)}")
