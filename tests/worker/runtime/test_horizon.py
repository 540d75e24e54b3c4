"""A receiver's horizon: tags further ahead than its buffer are refused; after a quiet gap it starts again."""

from __future__ import annotations

from worker.runtime import Horizon


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_far_tags_are_refused_while_the_stream_moves() -> None:
    clock = Clock()
    horizon = Horizon(8, quiet_s=1.0, clock=clock)
    assert horizon.admit(0) and horizon.admit(8) and not horizon.admit(17), "8 past the newest, not 9"
    for tag in range(9, 40):
        clock.now += 0.03
        assert not horizon.admit(10**6 + tag), "a flood while the stream runs: every one refused"
        assert horizon.admit(tag)
    assert horizon.refused == 32 and horizon.newest == 39
    assert horizon.admit(3), "tags behind are not this check's business"


def test_after_a_quiet_gap_the_next_tag_starts_the_window_again() -> None:
    clock = Clock()
    horizon = Horizon(8, quiet_s=1.0, clock=clock)
    assert horizon.admit(5)
    clock.now += 0.5
    assert not horizon.admit(200) and horizon.admit(6), "a late tag does not move the window, a new one does"
    clock.now += 0.9
    assert not horizon.admit(200), "0.9 s since tag 6 moved it"
    clock.now += 0.2
    assert horizon.admit(200) and horizon.newest == 200, "a gap longer than the buffer: the stream resumes"
    assert horizon.admit(205) and not horizon.admit(300)
