"""Contention: a device slower than the rest is flagged after enough heartbeats, judged against the
cluster's own speed, re-planned at most every dwell_s, and forgiven when it recovers or goes quiet."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from orchestrator.master._contention import Contention
from worker._game_settings import ContentionSettings

EXPECTED = {"conv": 20.0, "fc": 10.0}


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def heartbeat(c: Contention, clock: Clock, **ratios: float) -> None:
    """One heartbeat of every device, one second after the last, each running ``ratio`` times the profile."""
    clock.now += 1.0
    for device, ratio in ratios.items():
        c.observe(device, {stage: ms * ratio for stage, ms in EXPECTED.items()}, EXPECTED)


def make(**changes: float) -> tuple[Contention, Clock]:
    clock = Clock()
    return Contention(dataclasses.replace(ContentionSettings(), **changes), clock), clock


def test_flagged_after_n_heartbeats_over_the_margin_not_before() -> None:
    c, clock = make()
    for _ in range(2):
        heartbeat(c, clock, a=1.0, b=2.0)
    assert c.scale("b") == 1.0 and c.due() == ()
    heartbeat(c, clock, a=1.0, b=2.0)
    assert c.scale("b") == pytest.approx(2.0) and c.scale("a") == 1.0 and c.due() == ("b",)
    assert c.scales() == {"b": pytest.approx(2.0)}
    # A heartbeat under the margin breaks the run.
    c, clock = make()
    for ratio in (2.0, 2.0, 1.2, 2.0, 2.0):
        heartbeat(c, clock, a=1.0, b=ratio)
    assert c.scale("b") == 1.0
    heartbeat(c, clock, a=1.0, b=2.0)
    assert c.scale("b") == pytest.approx(2.0)


def test_the_ratio_is_time_weighted_over_the_stages_both_name() -> None:
    c, clock = make(heartbeats=1)
    clock.now = 1.0
    c.observe("ref", dict(EXPECTED), EXPECTED)
    # conv (20 ms expected) at 40, fc (10 ms) as seen on ref: 50/30; "flow" has no prediction, "pool" no measure.
    c.observe("a", {"conv": 40.0, "fc": 10.0, "flow": 99.0}, {**EXPECTED, "pool": 5.0})
    assert c.scale("a") == pytest.approx(50 / 30)
    c.observe("b", {"flow": 5.0}, EXPECTED)
    assert c.scale("b") == 1.0


def test_a_cluster_wide_offset_is_not_contention() -> None:
    c, clock = make()
    for _ in range(10):
        heartbeat(c, clock, a=3.0, b=3.3, e=2.9)
    assert c.scales() == {} and c.due() == ()
    for _ in range(3):
        heartbeat(c, clock, a=3.0, b=6.0, e=3.0)
    assert c.scales() == {"b": pytest.approx(2.0, rel=0.05)}
    # The whole cluster slows down together: nobody is singled out.
    c, clock = make()
    for ratio in (1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0):
        heartbeat(c, clock, a=ratio, b=ratio)
    assert c.scales() == {}


def test_a_profile_wrong_for_some_stages_is_not_contention_but_slowing_down_is() -> None:
    c, clock = make()
    for _ in range(10):
        clock.now += 1.0
        c.observe("a", {"dense": 1.0}, {"dense": 100.0})      # a profile 100x too slow for dense layers
        c.observe("b", {"conv": 20.0}, {"conv": 20.0})
    assert c.scales() == {}
    for _ in range(3):
        clock.now += 1.0
        c.observe("a", {"dense": 1.0}, {"dense": 100.0})
        c.observe("b", {"conv": 40.0}, {"conv": 20.0})        # b slower than it was on its own stage
    assert c.scales() == {"b": pytest.approx(2.0)}


def test_a_slowed_device_is_not_cleared_on_stages_only_it_ran() -> None:
    c, clock = make(forget_s=60.0, dwell_s=0.0)
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.0)
    c.replanned()
    # Re-seated on a stage nobody else ran: its own times there prove nothing either way.
    for _ in range(59):
        clock.now += 1.0
        c.observe("a", dict(EXPECTED), EXPECTED)
        c.observe("b", {"light": 5.0}, {"light": 5.0})
    assert c.scale("b") == pytest.approx(2.0) and c.due() == ()
    clock.now += 1.0
    assert c.scale("b") == 1.0 and c.due() == ("b",)


def test_replans_are_at_least_dwell_apart() -> None:
    c, clock = make(dwell_s=10.0)
    c.replanned()
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.0)
    assert c.scale("b") > 1.0 and c.due() == ()
    clock.now = 9.9
    assert c.due() == ()
    clock.now = 10.0
    assert c.due() == ("b",)
    c.replanned()
    assert c.due() == ()
    clock.now = 30.0
    assert c.due() == ()     # nothing changed since


def test_recovery_needs_n_heartbeats_under_half_the_margin() -> None:
    c, clock = make(dwell_s=0.0)
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.0)
    c.replanned()
    # Between 1 + margin/2 and 1 + margin: still contended (no flapping at the edge).
    for _ in range(5):
        heartbeat(c, clock, a=1.0, b=1.4)
    assert c.scale("b") > 1.0 and c.due() == ()
    for _ in range(2):
        heartbeat(c, clock, a=1.0, b=1.1)
    assert c.scale("b") > 1.0
    heartbeat(c, clock, a=1.0, b=1.1)
    assert c.scale("b") == 1.0 and c.due() == ("b",)
    c.replanned()
    assert c.due() == ()


def test_a_small_drift_keeps_the_scale_a_large_one_changes_it() -> None:
    c, clock = make(dwell_s=0.0)
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.0)
    c.replanned()
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.2)
    assert c.scale("b") == pytest.approx(2.0) and c.due() == ()
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=4.0)
    assert c.scale("b") == pytest.approx(4.0) and c.due() == ("b",)


def test_a_device_not_measured_for_forget_s_is_normal_again_and_forget_drops_it() -> None:
    c, clock = make(forget_s=60.0, dwell_s=0.0)
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.0)
    c.replanned()
    for _ in range(59):   # b was last measured at t=3: t=62 is 59 s later
        heartbeat(c, clock, a=1.0)
    assert c.scale("b") > 1.0
    heartbeat(c, clock, a=1.0)
    assert c.scale("b") == 1.0 and c.due() == ("b",)
    c, clock = make(dwell_s=0.0)
    for _ in range(3):
        heartbeat(c, clock, a=1.0, b=2.0)
    c.replanned()
    c.forget("b")
    assert c.scale("b") == 1.0 and c.due() == ()


def test_every_change_is_logged_with_ratio_and_baseline(caplog: pytest.LogCaptureFixture) -> None:
    c, clock = make()
    with caplog.at_level(logging.INFO, logger="mchair.master"):
        for _ in range(3):
            heartbeat(c, clock, a=1.5, b=3.0)
        for _ in range(3):
            heartbeat(c, clock, a=1.5, b=1.5)
    lines = [r.getMessage() for r in caplog.records if r.name == "mchair.master"]
    assert lines == ["device b contended, 2.00x slower (ratio 2.00 of its stages' best, baseline 1.00)",
                     "device b normal again (ratio 1.00 of its stages' best, baseline 1.00)"]
