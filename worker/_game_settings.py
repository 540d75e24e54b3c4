"""The ``game:`` section of cluster.yaml: how the master plays musical chairs (keys declared below)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker._config_keys import Choice, Integer, IntMap, Number, key, parse_section, section

POLICIES = ("equal", "priority")


@dataclass(frozen=True)
class ContentionSettings:
    """When a device counts as slowed by something else running on it, and how often that may re-plan."""

    margin: float = key(0.5, Number(0, above=True),
                        "a device is contended when its stage times are over the expected by more than this fraction")
    heartbeats: int = key(3, Integer(1), "... for this many heartbeats in a row; it is normal again after as many "
                          "heartbeats under half the margin")
    dwell_s: float = key(10.0, Number(0), "at least this long between two re-plans for contention, so the game "
                         "does not flap")
    forget_s: float = key(60.0, Number(0, above=True),
                          "a contended device not measured for this long counts as normal again")


@dataclass(frozen=True)
class GameSettings:
    """How devices are shared among the streams of cameras that see motion."""

    policy: str = key("equal", Choice(POLICIES), "how devices are split among cameras that see motion at once: "
                      "`equal` (split evenly), or `priority` (highest first)")
    # Any integer: negative priorities let a camera yield to every unlisted one.
    priorities: tuple[tuple[str, int], ...] = key((), IntMap(), "camera -> integer priority (higher first; "
                                                  "default 0; negative numbers allowed), e.g. `{door: 2, garden: 1}`")
    heartbeat_timeout_s: float = key(3.0, Number(0, above=True), "a device silent this long is lost, and its "
                                     "streams are re-seated without it. It must be more than `agent.heartbeat_s`")
    contention: ContentionSettings = section(ContentionSettings, "when a device counts as contended")

    def priority(self, camera: str) -> int:
        """The priority of ``camera``'s stream (0 unless listed)."""
        return dict(self.priorities).get(camera, 0)


def parse_game_settings(raw: Any, file: str = "cluster.yaml") -> GameSettings:
    """Validate the ``game:`` mapping (None: all defaults); errors name ``game.KEY``."""
    return parse_section(GameSettings, {} if raw is None else raw, "game", file)


__all__ = ["POLICIES", "ContentionSettings", "GameSettings", "parse_game_settings"]
