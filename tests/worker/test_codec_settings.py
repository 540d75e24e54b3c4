"""The ``codecs:`` section of cluster.yaml: defaults, what may be chosen, and errors that name the key."""

from __future__ import annotations

import pytest

from worker.cluster import CodecSettings, parse_cluster
from worker.errors import ConfigError


def test_defaults_send_everything_raw() -> None:
    settings = parse_cluster({}).codecs
    assert settings == CodecSettings() and settings.candidates == ("raw",)


def test_lossy_codecs_are_candidates_only_with_a_budget() -> None:
    choose = ["uint8+zstd", "raw+zstd", "fp16"]
    assert parse_cluster({"codecs": {"choose": choose}}).codecs.candidates == ("raw", "raw+zstd")
    with_budget = parse_cluster({"codecs": {"choose": choose, "error_budget": 0.01, "frames": 5}}).codecs
    assert with_budget.candidates == ("raw", "raw+zstd", "uint8+zstd", "fp16")
    assert with_budget.lossy == ("uint8+zstd", "fp16") and with_budget.frames == 5


@pytest.mark.parametrize(("codecs", "key"), [
    ({"choose": ["gzip"]}, "codecs.choose"),
    ({"choose": []}, "codecs.choose"),
    ({"choose": "fp16"}, "codecs.choose"),
    ({"error_budget": -0.1}, "codecs.error_budget"),
    ({"error_budget": 1.5}, "codecs.error_budget"),
    ({"frames": 0}, "codecs.frames"),
    ({"budget": 0.1}, "codecs"),
])
def test_bad_values_name_their_key(codecs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_cluster({"codecs": codecs})


def test_send_mbps_caps_an_agent_and_must_not_be_negative() -> None:
    assert parse_cluster({"agent": {"send_mbps": 62}}).agent.send_mbps == 62
    with pytest.raises(ConfigError, match=r"agent\.send_mbps"):
        parse_cluster({"agent": {"send_mbps": -1}})
