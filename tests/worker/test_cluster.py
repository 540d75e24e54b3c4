"""cluster.yaml: defaults, the shipped example, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker._game_settings import ContentionSettings, GameSettings, parse_game_settings
from worker.cluster import AgentSettings, load_cluster, parse_cluster
from worker.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_example_loads() -> None:
    config = load_cluster(ROOT / "cluster.yaml")
    assert config.discovery == "zeroconf" and config.interfaces == ("127.0.0.1",)
    assert config.master.port == 7400 and config.agent == AgentSettings()
    assert config.secret_file == ROOT / "cluster.secret"
    assert config.game == GameSettings()


def test_defaults_and_a_static_cluster(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"0123456789abcdef0123")
    config = parse_cluster({"secret_file": "key", "discovery": "static",
                            "devices": [{"name": "pi1", "host": "10.0.0.11", "port": 7401, "camera": True}],
                            "agent": {"port": 0, "max_frame_mb": 1}}, str(tmp_path / "c.yaml"))
    assert config.devices[0].camera and config.agent.port == 0 and config.agent.buffer == 64
    assert config.agent.max_frame_bytes == 1024 * 1024
    assert config.secret() == b"0123456789abcdef0123"


@pytest.mark.parametrize(("raw", "key", "expected"), [
    ({"discovery": "mdns"}, "discovery", "zeroconf or static"),
    ({"discovery": "static"}, "devices", "at least one device"),
    ({"devices": [{"name": "a", "host": "h", "port": 0}]}, "devices[0].port", "integer >= 1"),
    ({"devices": [{"name": "a", "host": "h", "port": 1, "camera": "yes"}]}, "devices[0].camera", "true or false"),
    ({"devices": [{"name": "a", "host": "h", "port": 1}, {"name": "a", "host": "g", "port": 2}]}, "devices", "unique"),
    ({"agent": {"buffer": 8, "almost_full": 8}}, "agent.almost_full", "less than agent.buffer"),
    ({"agent": {"speed": 3}}, "agent.speed", "unknown key"),
    ({"master": {"host": "", "port": 1}}, "master.host", "non-empty string"),
    ({"colour": "red"}, "colour", "unknown key"),
])
def test_bad_cluster_files_name_the_key(raw: dict, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_cluster(raw, "c.yaml")
    assert str(err.value).startswith(f"c.yaml: {key}: ") and expected in str(err.value)


def test_a_short_or_missing_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"short")
    with pytest.raises(ConfigError, match="secret_file: .* holds 5 bytes, expected at least 16"):
        parse_cluster({"secret_file": "key"}, str(tmp_path / "c.yaml")).secret()
    with pytest.raises(ConfigError, match="secret_file: cannot read"):
        parse_cluster({"secret_file": "absent"}, str(tmp_path / "c.yaml")).secret()


def test_motion_settings_are_part_of_the_cluster() -> None:
    config = parse_cluster({"motion": {"start_frames": 5}}, "c.yaml")
    assert config.motion.start_frames == 5 and config.motion.quiet_frames == 15
    with pytest.raises(ConfigError, match=r"^c.yaml: motion.threshold: "):
        parse_cluster({"motion": {"threshold": -3}}, "c.yaml")


def test_game_settings_defaults_and_values() -> None:
    assert parse_cluster({}, "c.yaml").game == parse_game_settings(None) == GameSettings()
    game = parse_cluster({"game": {"policy": "priority", "priorities": {"garden": 1, "door": 2, "attic": -1},
                                   "heartbeat_timeout_s": 5, "contention": {"margin": 1, "dwell_s": 0}}},
                         "c.yaml").game
    assert game.policy == "priority" and game.heartbeat_timeout_s == 5.0
    assert game.priorities == (("attic", -1), ("door", 2), ("garden", 1))
    assert (game.priority("door"), game.priority("attic"), game.priority("porch")) == (2, -1, 0)
    assert game.contention == ContentionSettings(margin=1.0, heartbeats=3, dwell_s=0.0, forget_s=60.0)


@pytest.mark.parametrize(("raw", "key", "expected"), [
    ("equal", "game", "a mapping"),
    ({"policy": "fair"}, "game.policy", "equal or priority"),
    ({"rules": 1}, "game.rules", "unknown key"),
    ({"priorities": ["door"]}, "game.priorities", "a mapping"),
    ({"priorities": {"door": "high"}}, "game.priorities.door", "an integer"),
    ({"priorities": {"door": True}}, "game.priorities.door", "an integer"),
    ({"priorities": {"door": 1.5}}, "game.priorities.door", "an integer"),
    ({"priorities": {3: 1}}, "game.priorities", "non-empty string"),
    ({"heartbeat_timeout_s": 0}, "game.heartbeat_timeout_s", "positive number"),
    ({"heartbeat_timeout_s": 1}, "game.heartbeat_timeout_s", "more than agent.heartbeat_s (1)"),
    ({"contention": 3}, "game.contention", "a mapping"),
    ({"contention": {"margin": 0}}, "game.contention.margin", "positive number"),
    ({"contention": {"margin": "big"}}, "game.contention.margin", "positive number"),
    ({"contention": {"heartbeats": 0}}, "game.contention.heartbeats", "integer >= 1"),
    ({"contention": {"heartbeats": 2.5}}, "game.contention.heartbeats", "integer >= 1"),
    ({"contention": {"dwell_s": -1}}, "game.contention.dwell_s", "number >= 0"),
    ({"contention": {"forget_s": 0}}, "game.contention.forget_s", "positive number"),
    ({"contention": {"patience": 2}}, "game.contention.patience", "unknown key"),
])
def test_bad_game_settings_name_the_key(raw: object, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_cluster({"game": raw}, "c.yaml")
    message = str(err.value)
    assert message.startswith(f"c.yaml: {key}: ") and expected in message and "\n" not in message


def test_security_data_is_aead_by_default_and_cannot_turn_authentication_off() -> None:
    assert parse_cluster({}).security.data == "aead"
    assert parse_cluster({"security": {"data": "mac"}}).security.data == "mac"
    for off in ("none", "off", False):
        with pytest.raises(ConfigError, match="security.data: expected aead or mac"):
            parse_cluster({"security": {"data": off}})
