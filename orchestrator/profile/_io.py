"""Profiles on disk (``profiles/*.yaml``): validated loading, saving, and finding them by name."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from worker.errors import ConfigError, UserError
from worker.wire import parse_codec

from .._config import Validator, data_dir, locate, read_yaml, shipped
from ._model import (
    MEDIA,
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
)

_SECTIONS = {"device": DeviceFacts, "power": Power, "link": LinkModel, "memory": MemoryModel, "load": LoadModel}


def profiles_dir() -> Path:
    """The directory of the profiles that ship with musical-chair."""
    return data_dir("profiles")


def builtin_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return shipped("profiles")


def find_profile(name_or_path: str) -> Profile:
    """A profile by file path or by the name of a shipped one (``rpi3``)."""
    path = locate(name_or_path, "profiles")
    if path is not None:
        return load_profile(path)
    raise UserError(f"--profile {name_or_path}: no such file and no shipped profile of that name "
                    f"(shipped: {', '.join(builtin_profiles()) or 'none'})")


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file."""
    return parse_profile(read_yaml(path), str(path))


def parse_profile(raw: Any, file: str = "<profile>") -> Profile:
    """Validate a profile already loaded from YAML."""
    v = Validator(file)
    top = v.mapping(raw, "", {"name", "notes", "task_overhead_s", "camera_s", "steps", "ops", "models", "codecs",
                              *_SECTIONS})
    sections = {}
    for key, cls in _SECTIONS.items():
        if key not in top:
            raise ConfigError(file, key, f"missing (expected the {key} section)")
        sections[key] = _record(v, top[key], key, cls)
    if sections["link"].medium not in MEDIA:
        raise v.fail("link.medium", " or ".join(MEDIA), sections["link"].medium)
    if sections["device"].usable_memory_mb > sections["device"].memory_mb:
        raise v.fail("device.usable_memory_mb", "at most device.memory_mb", sections["device"].usable_memory_mb)
    ops = {}
    for op, body in v.mapping(top.get("ops", {}), "ops", None).items():
        ops[op] = _record(v, {"op": op, **v.mapping(body, f"ops.{op}", None)}, f"ops.{op}", OpModel)
    codecs = {}
    for codec, body in v.mapping(top.get("codecs", {}) or {}, "codecs", None).items():
        try:
            parse_codec(str(codec))
        except ValueError as exc:
            raise ConfigError(file, f"codecs.{codec}", str(exc)) from None
        codecs[str(codec)] = _record(v, body, f"codecs.{codec}", CodecTiming)
    models = {}
    for model, body in v.mapping(top.get("models", {}) or {}, "models", None).items():
        key = f"models.{model}"
        body = v.mapping(body, key, {"layers", "tasks", "steps"})
        layers = {}
        for lname, lraw in v.mapping(body.get("layers", {}) or {}, f"{key}.layers", None).items():
            layers[lname] = _record(v, {"layer": lname, **v.mapping(lraw, f"{key}.layers.{lname}", None)},
                                    f"{key}.layers.{lname}", LayerTiming)
        tasks = body.get("tasks", []) or []
        if not isinstance(tasks, list):
            raise v.fail(f"{key}.tasks", "a list", tasks)
        models[model] = ModelTimings(model, layers,
                                     tuple(_record(v, t, f"{key}.tasks[{i}]", TaskTiming) for i, t in enumerate(tasks)),
                                     _seconds(v, body.get("steps", {}), f"{key}.steps"))
    return Profile(v.string(top.get("name"), "name"), ops=ops, models=models, codecs=codecs, source=file,
                   notes=str(top.get("notes", "") or ""),
                   task_overhead_s=v.number(top.get("task_overhead_s", 0.0), "task_overhead_s"),
                   camera_s=v.number(top.get("camera_s", 0.0), "camera_s"),
                   steps=_seconds(v, top.get("steps", {}), "steps"), **sections)


def dump_profile(profile: Profile) -> str:
    """The YAML text of ``profile`` (what ``load_profile`` reads back)."""
    out: dict[str, Any] = {"name": profile.name}
    if profile.notes:
        out["notes"] = profile.notes
    for key in _SECTIONS:
        out[key] = dataclasses.asdict(getattr(profile, key))
    out["task_overhead_s"] = profile.task_overhead_s
    out["camera_s"] = profile.camera_s
    out["steps"] = dict(profile.steps)
    out["ops"] = {op: {k: v for k, v in dataclasses.asdict(m).items() if k != "op"} for op, m in profile.ops.items()}
    if profile.codecs:
        out["codecs"] = {c: dataclasses.asdict(t) for c, t in profile.codecs.items()}
    out["models"] = {}
    for name, timings in profile.models.items():
        layers = {}
        for lname, t in timings.layers.items():
            d = {k: v for k, v in dataclasses.asdict(t).items() if k != "layer"}
            d["ops"] = list(t.ops)
            layers[lname] = d
        out["models"][name] = {"steps": dict(timings.steps), "layers": layers,
                               "tasks": [dataclasses.asdict(t) for t in timings.tasks]}
    return yaml.safe_dump(out, sort_keys=False, width=110)


def save_profile(profile: Profile, path: str | Path) -> Path:
    """Write ``profile`` as YAML to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_profile(profile))
    return path


def _seconds(v: Validator, raw: Any, key: str) -> dict[str, float]:
    return {k: v.number(x, f"{key}.{k}") for k, x in v.mapping(raw or {}, key, None).items()}


def _record(v: Validator, raw: Any, key: str, cls: type) -> Any:
    """A dataclass ``cls`` from a mapping, each field checked against its annotation."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    body = v.mapping(raw, key, set(fields))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        fkey = f"{key}.{name}"
        if name not in body:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(v.file, fkey, "missing")
            continue
        hint, value = hints[name], body[name]
        if hint is float:
            values[name] = v.number(value, fkey)
            if values[name] < 0:
                raise v.fail(fkey, "a number >= 0", value)
        elif hint is int:
            values[name] = v.integer(value, fkey, minimum=0)
        elif hint is str:
            values[name] = "" if value in (None, "") else v.string(value, fkey)
        elif hint == tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise v.fail(fkey, "a list of strings", value)
            values[name] = tuple(value)
        elif hint == dict[int, float]:
            shards = v.mapping(value or {}, fkey, None)
            values[name] = {v.integer(int(k) if str(k).isdigit() else k, f"{fkey}.{k}", minimum=2):
                            v.number(s, f"{fkey}.{k}", positive=True) for k, s in shards.items()}
        else:  # pragma: no cover - a field type this reader was not taught
            raise AssertionError(f"{cls.__name__}.{name}: {hint}")
    return cls(**values)


__all__ = ["builtin_profiles", "dump_profile", "find_profile", "load_profile", "parse_profile", "profiles_dir",
           "save_profile"]
