"""Sliding windows over a stream of tagged tensors, and the join of a block's windowed inputs."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WINDOW_MODES = ("stack", "concat")

# How far (in tags) one input of a block may run ahead of another before old values are
# forgotten. Replicated stages deliver out of order; the reorder buffer before the join keeps
# each input in tag order, so only the skew between inputs matters here.
MAX_SKEW = 256


@dataclass(frozen=True)
class Window:
    """The last ``size`` values of an input; the block fires on every ``stride``-th value.

    ``stack`` puts the values on a new axis after the batch axis ([1, W, ...]); ``concat`` joins
    them on the last axis (ten [1, H, W, 2] optical flows -> [1, H, W, 20]).
    """

    size: int = 1
    stride: int = 1
    mode: str = "stack"

    def assemble(self, values: Sequence[np.ndarray]) -> np.ndarray:
        """One tensor from the window's values, oldest first."""
        if self.size == 1:
            return values[0]
        if self.mode == "concat":
            return np.concatenate(values, axis=-1)
        return np.stack(values, axis=1)

    def shape(self, value_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of the assembled tensor for values of ``value_shape`` (batch axis first)."""
        if self.size == 1:
            return value_shape
        if self.mode == "concat":
            return value_shape[:-1] + (value_shape[-1] * self.size,)
        return (value_shape[0], self.size) + value_shape[1:]


@dataclass
class _Edge:
    window: Window
    values: deque[tuple[int, np.ndarray]]
    positions: dict[int, int]  # tag -> how many values came before it, for the stride
    count: int = 0


class BlockJoin:
    """Collects the inputs of one block and says when (for which tag) it can run.

    A block runs at tag t when every input has delivered its value for t and every window
    ending at t is full (and t falls on each input's stride). Each input must arrive in tag
    order; inputs may be skewed against each other by up to MAX_SKEW tags.
    """

    def __init__(self, windows: Sequence[Window]) -> None:
        self._edges = [_Edge(w, deque(maxlen=w.size + MAX_SKEW), {}) for w in windows]
        self._fired: set[int] = set()

    def push(self, edge: int, tag: int, value: np.ndarray) -> list[tuple[int, list[np.ndarray]]]:
        """Add one value; returns the (tag, assembled inputs) that became ready, in tag order."""
        e = self._edges[edge]
        if e.values and tag <= e.values[-1][0]:
            raise ValueError(f"input {edge}: tag {tag} after tag {e.values[-1][0]} "
                             "(each input must arrive in tag order)")
        e.values.append((tag, value))
        e.positions[tag] = e.count
        e.count += 1
        if len(e.positions) > len(e.values):  # forget tags that left the window deque
            oldest = e.values[0][0]
            e.positions = {t: p for t, p in e.positions.items() if t >= oldest}
        if len(self._edges) == 1:
            inputs = self._assemble(tag)
            return [] if inputs is None else [(tag, inputs)]
        # With several inputs, the value can complete an older tag another input was waiting on.
        common = set(e.positions)
        for other in self._edges:
            common &= other.positions.keys()
        ready = []
        for t in sorted(common - self._fired):
            inputs = self._assemble(t)
            if inputs is not None:
                self._fired.add(t)
                ready.append((t, inputs))
        if len(self._fired) > 2 * MAX_SKEW:
            newest = max(self._fired)
            self._fired = {t for t in self._fired if t > newest - MAX_SKEW}
        return ready

    def _assemble(self, tag: int) -> list[np.ndarray] | None:
        out = []
        for e in self._edges:
            pos = e.positions[tag]
            if pos + 1 < e.window.size or (pos + 1 - e.window.size) % e.window.stride:
                return None
            upto = [v for t, v in e.values if t <= tag][-e.window.size:]
            if len(upto) < e.window.size:
                return None
            out.append(e.window.assemble(upto))
        return out
