"""Contention: devices slowed by something else running on them (ApproxNet's "contention"), found
from the stage times agents report in their heartbeats.

A profile is rarely right about the cluster it plans for: it may come from another machine, or
be off by different factors for different layers (a crafted profile, the Pi profile on a PC). So
a device is never judged by the profile alone:

* each stage (by name: the same units in every plan) is calibrated by its best showing: the lowest
  measured/expected ratio any device not flagged slow had on it (smoothed over a few heartbeats)
  within ``forget_s``. A device's ratio is its measured time over the calibrated prediction for
  its stages, time-weighted: how much slower it runs them than they have been seen to run;
* that ratio is judged against a baseline, the lowest recent ratio among devices measured in the
  last few heartbeats when there are at least two (else 1), which cancels a slowdown of the whole
  cluster.

So a device is found slow against another device on the same stage (replicas, shards, an earlier
epoch), or against itself before; a device slowed from the very start, on stages no other device
ever ran, cannot be told from a wrong profile and is not flagged (nor is a flagged device cleared
on stages only it ran: it waits for ``forget_s``). A device more than ``margin``
over the baseline for ``heartbeats`` heartbeats in a row gets a scale (how many times slower it
runs, smoothed over those heartbeats) that the game uses to give it lighter seats or none; it is
normal again after as many heartbeats under half the margin (hysteresis: no flapping at the
edge), or when it has not been measured for ``forget_s``. Re-plans are at least ``dwell_s`` apart.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from worker._game_settings import ContentionSettings

log = logging.getLogger("mchair.master")

RECENT = 3   # heartbeats: how far back measures count for the baseline, a stage's best and a period


@dataclass(frozen=True)
class _Showing:
    """One device's recent measured/expected ratios on one stage, and the best smoothed one."""

    seen: float
    ratios: tuple[float, ...]
    best: float
    best_at: float


@dataclass(frozen=True)
class _Speed:
    """What is known of one device's speed."""

    seen: float                      # clock of its last measure
    ratios: tuple[float, ...]        # its last RECENT calibrated ratios
    relative: tuple[float, ...]      # its last ``heartbeats`` ratios over the baseline of their time
    gaps: tuple[float, ...] = ()     # its last RECENT seconds between two measures
    scale: float = 1.0
    over: int = 0                    # heartbeats in a row over the margin
    under: int = 0                   # heartbeats in a row under half the margin

    def recent(self, now: float) -> bool:
        """Measured within its last few heartbeat periods (1 s until two measures give a period)."""
        return now - self.seen <= RECENT * max(self.gaps, default=1.0)


class Contention:
    """Which devices run slower than the rest of the cluster, and whether that calls for a re-plan."""

    def __init__(self, settings: ContentionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._speeds: dict[str, _Speed] = {}
        self._showings: dict[str, dict[str, _Showing]] = {}   # stage -> device -> its showing
        self._planned: dict[str, float] = {}                  # the scales the last re-plan used
        self._replanned_at: float | None = None

    def observe(self, device: str, measured_ms: Mapping[str, float], expected_ms: Mapping[str, float]) -> None:
        """One heartbeat of ``device``: mean compute ms per run of its stages, and the profile's
        (unscaled) prediction for them."""
        stages = sorted(s for s in measured_ms if expected_ms.get(s, 0.0) > 0.0 and measured_ms[s] >= 0.0)
        if not stages:
            return
        now = self.clock()
        old = self._speeds.get(device)
        # A slowed device would calibrate its stages slow, then look normal on them.
        trusted = old is None or old.scale == 1.0
        best = {s: self._show(s, device, measured_ms[s] / expected_ms[s], now, trusted) for s in stages}
        known = [s for s in stages if best[s] < math.inf]
        if not known:
            return
        # Time-weighted: the stage that takes most of the device's time says most about its speed.
        ratio = sum(measured_ms[s] for s in known) / sum(expected_ms[s] * best[s] for s in known)
        speed = (_Speed(now, (ratio,), ()) if old is None else
                 replace(old, seen=now, ratios=(*old.ratios, ratio)[-RECENT:],
                         gaps=(*old.gaps, now - old.seen)[-RECENT:]))
        self._speeds[device] = speed
        self._speeds[device] = self._judge(device, speed, ratio, self._baseline(now))

    def _show(self, stage: str, device: str, ratio: float, now: float, trusted: bool) -> float:
        """Record ``device``'s ratio on ``stage`` (its best: the lowest smoothed one within forget_s,
        none while it is slowed); the stage's calibration: the best of every device measured on it
        within forget_s (inf: none)."""
        showings = self._showings.setdefault(stage, {})
        old = showings.get(device)
        ratios = (*(old.ratios if old else ()), ratio)[-RECENT:]
        smoothed = sum(ratios) / len(ratios) if trusted else math.inf
        if old is None or smoothed <= old.best or now - old.best_at >= self.settings.forget_s:
            showings[device] = _Showing(now, ratios, smoothed, now)
        else:
            showings[device] = replace(old, seen=now, ratios=ratios)
        for gone in [d for d, s in showings.items() if now - s.seen >= self.settings.forget_s]:
            del showings[gone]
        return min(s.best for s in showings.values())

    def _baseline(self, now: float) -> float:
        """The lowest recent ratio among devices measured lately, if at least two were; else 1."""
        recent = [sum(s.ratios) / len(s.ratios) for s in self._speeds.values() if s.recent(now)]
        return min(recent) if len(recent) >= 2 else 1.0

    def _judge(self, device: str, speed: _Speed, ratio: float, baseline: float) -> _Speed:
        """``speed`` after its latest ``ratio``: its scale flagged, updated or cleared."""
        s = self.settings
        relative = ratio / baseline
        speed = replace(speed, relative=(*speed.relative, relative)[-s.heartbeats:],
                        over=speed.over + 1 if relative > 1 + s.margin else 0,
                        under=speed.under + 1 if relative < 1 + s.margin / 2 else 0)
        smoothed = sum(speed.relative) / len(speed.relative)
        if speed.scale == 1.0 and speed.over >= s.heartbeats:
            return self._rescaled(device, speed, smoothed, ratio, baseline)
        if speed.scale != 1.0 and speed.under >= s.heartbeats:
            return self._rescaled(device, speed, 1.0, ratio, baseline)
        if speed.scale != 1.0 and speed.over >= s.heartbeats and abs(smoothed / speed.scale - 1) > s.margin / 2:
            # Still contended, by clearly more or less than its scale says; small drifts would only re-plan.
            return self._rescaled(device, speed, smoothed, ratio, baseline)
        return speed

    @staticmethod
    def _rescaled(device: str, speed: _Speed, scale: float, ratio: float, baseline: float) -> _Speed:
        """``speed`` with a new scale, said in the log."""
        what = f"contended, {scale:.2f}x slower" if scale != 1.0 else "normal again"
        log.info("device %s %s (ratio %.2f of its stages' best, baseline %.2f)", device, what, ratio, baseline)
        return replace(speed, scale=scale)

    def _expire(self) -> None:
        """Clear the scale of contended devices not measured for ``forget_s``."""
        now = self.clock()
        for device, speed in list(self._speeds.items()):
            if speed.scale != 1.0 and now - speed.seen >= self.settings.forget_s:
                log.info("device %s normal again (not measured for %.0f s)", device, now - speed.seen)
                self._speeds[device] = replace(speed, scale=1.0, relative=(), over=0, under=0)

    def scale(self, device: str) -> float:
        """How many times slower than planned ``device`` runs (1.0: normal)."""
        self._expire()
        speed = self._speeds.get(device)
        return speed.scale if speed else 1.0

    def scales(self) -> dict[str, float]:
        """The scale of every device that is not normal."""
        self._expire()
        return {d: s.scale for d, s in sorted(self._speeds.items()) if s.scale != 1.0}

    def due(self) -> tuple[str, ...]:
        """Devices whose scale changed since the last re-plan, once ``dwell_s`` has passed since it
        (else none)."""
        now = self.clock()
        if self._replanned_at is not None and now - self._replanned_at < self.settings.dwell_s:
            return ()
        now_scales = self.scales()
        return tuple(sorted(d for d in {*now_scales, *self._planned}
                            if now_scales.get(d, 1.0) != self._planned.get(d, 1.0)))

    def replanned(self) -> None:
        """A re-plan happened now, with the current scales."""
        self._replanned_at = self.clock()
        self._planned = self.scales()

    def forget(self, device: str) -> None:
        """``device`` left the cluster."""
        self._speeds.pop(device, None)
        self._planned.pop(device, None)
        for showings in self._showings.values():
            showings.pop(device, None)


__all__ = ["Contention"]
