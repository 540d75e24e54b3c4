"""cluster.yaml: defaults, the shipped example, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.cluster import AgentSettings, load_cluster, parse_cluster
from worker.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_example_loads() -> None:
    config = load_cluster(ROOT / "cluster.yaml")
    assert config.discovery == "zeroconf" and config.interfaces == ("127.0.0.1",)
    assert config.master.port == 7400 and config.agent == AgentSettings()
    assert config.secret_file == ROOT / "cluster.secret"


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
