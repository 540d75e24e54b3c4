"""Camera frame (uint8 RGB, any size) -> model input tensor ([1, H, W, C] float32 in [0, 1])."""

from __future__ import annotations

import cv2
import numpy as np


def preprocess(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Resize (area interpolation) and scale a frame to the model input ``shape`` [1, H, W, C]."""
    _, height, width, channels = shape
    if frame.shape[:2] != (height, width):
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    if channels == 1 and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return (frame.astype(np.float32) / np.float32(255.0)).reshape(1, height, width, channels)
