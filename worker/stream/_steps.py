"""Built-in steps of a model that are not TFLite graphs (they run on the recorder)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import cv2
import numpy as np


class BuiltinStep(Protocol):
    """A per-tag function of the block's assembled inputs."""

    def output_shape(self, input_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """Shape of the result for inputs of these shapes."""
        ...

    def __call__(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Compute the result for one tag."""
        ...


class OpticalFlow:
    """Dense Farneback optical flow between two frames: [1, 2, H, W, C] -> [1, H, W, 2] (dx, dy).

    The two-stream model stacks ten of these for its temporal CNN. Frames are float in [0, 1];
    they are turned to 8-bit grey first, as OpenCV's Farneback expects.
    """

    # Tuned for the tiny (12x16) frames of the action model: one pyramid level, small window.
    PARAMS: dict[str, Any] = dict(pyr_scale=0.5, levels=1, winsize=5, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)

    def output_shape(self, input_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """[1, 2, H, W, C] -> [1, H, W, 2]."""
        (shape,) = input_shapes
        if len(shape) != 5 or shape[:2] != (1, 2):
            raise ValueError(f"optical_flow needs a window of 2 frames [1, 2, H, W, C], got {list(shape)}")
        return (1, shape[2], shape[3], 2)

    def __call__(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Flow from the older to the newer frame of the window."""
        (pair,) = inputs
        prev, nxt = (_grey(pair[0, i]) for i in range(2))
        flow = cv2.calcOpticalFlowFarneback(prev, nxt, None, **self.PARAMS)
        return flow[np.newaxis].astype(np.float32)


def _grey(frame: np.ndarray) -> np.ndarray:
    img = np.clip(frame * 255.0, 0, 255).astype(np.uint8)
    if img.shape[-1] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img[..., 0]


BUILTIN_STEPS: dict[str, type] = {"optical_flow": OpticalFlow}


def builtin_step(name: str) -> BuiltinStep:
    """A new instance of the built-in step called ``name``."""
    return BUILTIN_STEPS[name]()
