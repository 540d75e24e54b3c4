"""Profiles on disk: what is saved loads back equal, and a bad file is one line naming file and key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from orchestrator.profile import (
    CodecTiming,
    DeviceFacts,
    LayerTiming,
    LinkModel,
    LoadModel,
    MemoryModel,
    ModelTimings,
    OpModel,
    Power,
    Profile,
    TaskTiming,
    dump_profile,
    find_profile,
    load_profile,
    parse_profile,
    profiles_dir,
    save_profile,
)
from worker.errors import ConfigError


def sample_profile() -> Profile:
    """A profile with every section and field filled in."""
    layers = {
        "conv1": LayerTiming("net", "conv1", ("CONV_2D",), 1_306_800, 23_296, 14_400, 7.1e-5, 3.0e-4, 0.35,
                             {2: 6.2e-5, 3: 5.5e-5, 4: 5.4e-5}),
        "pool1": LayerTiming("net", "pool1", ("MAX_POOL_2D",), 7056, 0, 3136, 7.3e-6, 1.7e-4, 0.0),
        "pyramid": LayerTiming("fusion", "pyramid", ("STRIDED_SLICE", "REDUCE_MAX", "CONCATENATION"), 448, 256,
                               1792, 4.0e-6),
    }
    timings = ModelTimings("tiny", layers, (TaskTiming("net", "conv1", "pool1", 8.0e-5, 9.0e-4, 0.5),),
                           {"optical_flow": 7.0e-5})
    return Profile(
        name="testdev",
        device=DeviceFacts("testdev", "ARM Cortex-A72", 4, 3906.0, 3500.0, "ai-edge-litert 2.3.0", "measured"),
        power=Power(2.0, 6.0, "assumed"),
        link=LinkModel(8.0e-8, 2.5e-4, "switched", 100.0, "measured by ping-pong"),
        memory=MemoryModel(73.4, 2.0, 1.5, 0.12, "fitted"),
        load=LoadModel(1.4e-4, 2.7e-4, 0.43, "fitted"),
        ops={"CONV_2D": OpModel("CONV_2D", 4.6e-6, 1.9e-5, 1.6e-5, 0.0, 9.5e-5, 0.078, 24, "fitted"),
             "*": OpModel("*", 3.5e-6, s_per_out_mb=8.7e-5, samples=10)},
        task_overhead_s=7.0e-5, camera_s=3.4e-5, steps={"optical_flow": 7.0e-5}, models={"tiny": timings},
        codecs={"uint8+zstd": CodecTiming(2.3e-3, 6.7e-4, "measured"), "fp16": CodecTiming(3.0e-3, 2.3e-3)},
        notes="a test profile")


def test_round_trip_of_every_field(tmp_path: Path) -> None:
    profile = sample_profile()
    path = save_profile(profile, tmp_path / "sub" / "testdev.yaml")
    loaded = load_profile(path)
    assert loaded.source == str(path)
    assert replace(loaded, source="") == profile
    assert dump_profile(loaded) == dump_profile(profile)
    assert loaded.models["tiny"].layers["conv1"].shards == {2: 6.2e-5, 3: 5.5e-5, 4: 5.4e-5}
    assert loaded.op_model("RESHAPE") == profile.ops["*"]


def test_shipped_profile_round_trips(tmp_path: Path) -> None:
    rpi3 = find_profile("rpi3")
    assert rpi3.source == str(profiles_dir() / "rpi3.yaml")
    again = load_profile(save_profile(rpi3, tmp_path / "rpi3.yaml"))
    assert replace(again, source="") == replace(rpi3, source="")


def _raw() -> dict:
    return yaml.safe_load(dump_profile(sample_profile()))


def _parent(raw: dict, path: str) -> tuple[dict, str]:
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        node = node[p]
    return node, last


def _drop(raw: dict, path: str) -> dict:
    node, last = _parent(raw, path)
    del node[last]
    return raw


def _set(raw: dict, path: str, value: object) -> dict:
    node, last = _parent(raw, path)
    node[last] = value
    return raw


BAD = {
    "missing section": (lambda r: _drop(r, "power"), "power", "missing"),
    "missing field": (lambda r: _drop(r, "device.cores"), "device.cores", "missing"),
    "wrong type": (lambda r: _set(r, "device.cores", "four"), "device.cores", "expected an integer"),
    "negative number": (lambda r: _set(r, "load.s_per_mb", -1.0), "load.s_per_mb", "expected a number >= 0"),
    "string for number": (lambda r: _set(r, "ops.CONV_2D.s_per_mmac", "fast"), "ops.CONV_2D.s_per_mmac",
                          "expected a number"),
    "unknown key": (lambda r: _set(r, "device.colour", "red"), "device.colour", "unknown key"),
    "unknown top key": (lambda r: _set(r, "planner", {}), "planner", "unknown key"),
    "bad medium": (lambda r: _set(r, "link.medium", "carrier-pigeon"), "link.medium", "shared or switched"),
    "usable over RAM": (lambda r: _set(r, "device.usable_memory_mb", 99999.0), "device.usable_memory_mb",
                        "at most device.memory_mb"),
    "ops not a list": (lambda r: _set(r, "models.tiny.layers.conv1.ops", "CONV_2D"), "models.tiny.layers.conv1.ops",
                       "a list of strings"),
    "one shard": (lambda r: _set(r, "models.tiny.layers.conv1.shards", {1: 0.1}),
                  "models.tiny.layers.conv1.shards.1", "an integer >= 2"),
    "zero shard time": (lambda r: _set(r, "models.tiny.layers.conv1.shards", {2: 0}),
                        "models.tiny.layers.conv1.shards.2", "a positive number"),
    "tasks not a list": (lambda r: _set(r, "models.tiny.tasks", {"a": 1}), "models.tiny.tasks", "a list"),
    "section not a mapping": (lambda r: _set(r, "memory", [1, 2]), "memory", "expected a mapping"),
    "step time text": (lambda r: _set(r, "steps.optical_flow", "slow"), "steps.optical_flow", "expected a number"),
    "unknown codec": (lambda r: _set(r, "codecs.gzip", {"encode_s_per_mb": 0.1, "decode_s_per_mb": 0.1}),
                      "codecs.gzip", "codec"),
    "codec time text": (lambda r: _set(r, "codecs.fp16.encode_s_per_mb", "fast"), "codecs.fp16.encode_s_per_mb",
                        "expected a number"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_profile_is_one_line_naming_file_and_key(case: str, tmp_path: Path) -> None:
    edit, key, expected = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(edit(_raw()), sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}"), message
    assert expected in message, message


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.yaml: cannot read"):
        load_profile(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml: top level: expected a mapping"):
        load_profile(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="<profile>: name: expected a non-empty string"):
        parse_profile(_set(_raw(), "name", ""))
