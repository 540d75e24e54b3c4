"""A seeded synthetic camera: coloured shapes moving and bouncing over a textured background."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np


def _rgb(values: np.ndarray) -> tuple[int, int, int]:
    """Three numbers as an (r, g, b) colour."""
    return int(values[0]), int(values[1]), int(values[2])


@dataclass
class _Shape:
    x: float
    y: float
    vx: float
    vy: float
    radius: float
    colour: tuple[int, int, int]
    round: bool


class SyntheticCamera:
    """Frames of ``height`` x ``width`` RGB (uint8), the same for the same seed."""

    def __init__(self, height: int = 120, width: int = 160, seed: int = 0, shapes: int = 4) -> None:
        self.height, self.width = height, width
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width]
        base = 40 + 30 * np.sin(xx / 9.0) * np.cos(yy / 7.0) + rng.normal(0, 6, (height, width))
        self._background = np.clip(np.stack([base, base * 0.8 + 20, base * 0.6 + 40], -1), 0, 255).astype(np.uint8)
        scale = min(height, width)
        self._shapes = [_Shape(rng.uniform(0, width), rng.uniform(0, height),
                               rng.uniform(-0.04, 0.04) * scale, rng.uniform(-0.04, 0.04) * scale,
                               rng.uniform(0.08, 0.2) * scale,
                               _rgb(rng.integers(80, 256, 3)), bool(rng.integers(2)))
                        for _ in range(shapes)]

    def read(self) -> np.ndarray:
        """The next frame."""
        frame = self._background.copy()
        for s in self._shapes:
            s.x, s.vx = _bounce(s.x + s.vx, s.vx, self.width)
            s.y, s.vy = _bounce(s.y + s.vy, s.vy, self.height)
            centre, r = (int(s.x), int(s.y)), max(int(s.radius), 1)
            if s.round:
                cv2.circle(frame, centre, r, s.colour, -1)
            else:
                cv2.rectangle(frame, (centre[0] - r, centre[1] - r), (centre[0] + r, centre[1] + r), s.colour, -1)
        return frame

    def frames(self, count: int | None = None) -> Iterator[np.ndarray]:
        """``count`` frames (endless when None)."""
        n = 0
        while count is None or n < count:
            yield self.read()
            n += 1


def _bounce(pos: float, vel: float, limit: int) -> tuple[float, float]:
    if pos < 0 or pos >= limit:
        vel = -vel
        pos = min(max(pos, 0.0), limit - 1.0)
    return pos, vel
