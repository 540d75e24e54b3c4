"""The ``game:`` section of cluster.yaml: how the master plays musical chairs.

Every key, with its default::

    game:
      policy: equal            # how devices are split among cameras that see motion at once: equal, or priority
      priorities: {}           # camera -> integer priority (higher first; default 0), e.g. {door: 2, garden: 1}
      heartbeat_timeout_s: 3.0 # a device silent this long is lost: its streams are re-seated without it
      contention:
        margin: 0.5            # contended: stage times over the expected by more than this fraction
        heartbeats: 3          # ... for this many heartbeats in a row
        dwell_s: 10.0          # at least this long between two re-plans for contention (no flapping)
        forget_s: 60.0         # a contended device not measured for this long counts as normal again
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from worker._yaml import Validator

POLICIES = ("equal", "priority")


@dataclass(frozen=True)
class ContentionSettings:
    """When a device counts as slowed by something else running on it, and how often that may re-plan."""

    margin: float = 0.5
    heartbeats: int = 3
    dwell_s: float = 10.0
    forget_s: float = 60.0


@dataclass(frozen=True)
class GameSettings:
    """How devices are shared among the streams of cameras that see motion."""

    policy: str = "equal"
    priorities: tuple[tuple[str, int], ...] = ()
    heartbeat_timeout_s: float = 3.0
    contention: ContentionSettings = field(default_factory=ContentionSettings)

    def priority(self, camera: str) -> int:
        """The priority of ``camera``'s stream (0 unless listed)."""
        return dict(self.priorities).get(camera, 0)


def parse_game_settings(raw: Any, file: str = "cluster.yaml") -> GameSettings:
    """Validate the ``game:`` mapping (None: all defaults); errors name ``game.KEY``."""
    v = Validator(file)
    g = v.mapping(raw if raw is not None else {}, "game", {f.name for f in fields(GameSettings)})
    d = GameSettings()
    policy = g.get("policy", d.policy)
    if policy not in POLICIES:
        raise v.fail("game.policy", " or ".join(POLICIES), policy)
    return GameSettings(
        policy, _priorities(v, g.get("priorities")),
        v.number(g.get("heartbeat_timeout_s", d.heartbeat_timeout_s), "game.heartbeat_timeout_s", positive=True),
        _contention(v, g.get("contention")))


def _priorities(v: Validator, raw: Any) -> tuple[tuple[str, int], ...]:
    """``game.priorities`` as (camera, priority) pairs sorted by camera, so equal configs compare equal."""
    p = v.mapping(raw if raw is not None else {}, "game.priorities", None)
    for camera, priority in p.items():
        v.string(camera, "game.priorities")
        # Any integer: negative priorities let a camera yield to every unlisted one.
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise v.fail(f"game.priorities.{camera}", "an integer", priority)
    return tuple(sorted(p.items()))


def _contention(v: Validator, raw: Any) -> ContentionSettings:
    """``game.contention``."""
    c = v.mapping(raw if raw is not None else {}, "game.contention", {f.name for f in fields(ContentionSettings)})
    d = ContentionSettings()
    dwell = v.number(c.get("dwell_s", d.dwell_s), "game.contention.dwell_s")
    if dwell < 0:
        raise v.fail("game.contention.dwell_s", "a number >= 0", c.get("dwell_s"))
    return ContentionSettings(
        v.number(c.get("margin", d.margin), "game.contention.margin", positive=True),
        v.integer(c.get("heartbeats", d.heartbeats), "game.contention.heartbeats", minimum=1),
        dwell,
        v.number(c.get("forget_s", d.forget_s), "game.contention.forget_s", positive=True))


__all__ = ["POLICIES", "ContentionSettings", "GameSettings", "parse_game_settings"]
