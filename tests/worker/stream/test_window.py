"""Windows and joins: which tag a block runs at, with what values, whatever the arrival skew."""

from __future__ import annotations

import numpy as np
import pytest

from worker.stream import BlockJoin, Window


def _v(tag: int, shape: tuple[int, ...] = (1, 2)) -> np.ndarray:
    return np.full(shape, float(tag), np.float32)


def test_window_shapes_and_assembly() -> None:
    stack, concat = Window(3, 1, "stack"), Window(3, 1, "concat")
    values = [_v(t, (1, 4, 5, 2)) for t in range(3)]
    assert stack.assemble(values).shape == stack.shape((1, 4, 5, 2)) == (1, 3, 4, 5, 2)
    assert concat.assemble(values).shape == concat.shape((1, 4, 5, 2)) == (1, 4, 5, 6)
    assert list(concat.assemble(values)[0, 0, 0]) == [0, 0, 1, 1, 2, 2]  # oldest first
    assert Window().assemble([values[0]]) is values[0]


def test_single_input_window_fires_once_full_then_every_tag() -> None:
    join = BlockJoin([Window(3)])
    fired = [t for tag in range(6) for t, _ in join.push(0, tag, _v(tag))]
    assert fired == [2, 3, 4, 5]


def test_stride_fires_on_every_stride_th_value() -> None:
    join = BlockJoin([Window(4, stride=3)])
    out = [(t, x) for tag in range(12) for t, x in join.push(0, tag, _v(tag))]
    assert [t for t, _ in out] == [3, 6, 9]
    assert out[1][1][0][0, :, 0].tolist() == [3, 4, 5, 6]


def test_two_inputs_join_on_the_same_tag_whatever_the_order() -> None:
    # Input 1 runs ahead of input 0 by three tags; the block must still run at each tag once,
    # with the windows ending at that tag.
    join = BlockJoin([Window(2), Window(3)])
    ready = []
    for tag in range(3):
        ready += join.push(1, tag, _v(tag))
    for tag in range(3, 8):
        ready += join.push(1, tag, _v(tag))
        ready += join.push(0, tag - 3, _v(tag - 3))
    for tag in range(5, 8):
        ready += join.push(0, tag, _v(tag))
    tags = [t for t, _ in ready]
    assert tags == sorted(tags) and len(set(tags)) == len(tags)
    assert tags == [2, 3, 4, 5, 6, 7]
    for t, (a, b) in ready:
        assert a[0, :, 0].tolist() == [t - 1, t]
        assert b[0, :, 0].tolist() == [t - 2, t - 1, t]


def test_a_missing_tag_on_one_input_skips_only_that_tag() -> None:
    join = BlockJoin([Window(1), Window(2)])
    ready = []
    for tag in range(6):
        if tag != 3:  # dropped upstream on input 0
            ready += join.push(0, tag, _v(tag))
        ready += join.push(1, tag, _v(tag))
    assert [t for t, _ in ready] == [1, 2, 4, 5]


def test_out_of_order_input_is_refused() -> None:
    join = BlockJoin([Window(2)])
    join.push(0, 5, _v(5))
    with pytest.raises(ValueError, match="tag order"):
        join.push(0, 4, _v(4))
