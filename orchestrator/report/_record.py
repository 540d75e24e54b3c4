"""The record of a ``mchair bench pipeline`` sweep: one ``PipelineRun`` per cluster size, and the
run's header; JSON only at the file boundary (``to_json`` / ``from_json``, ``save`` / ``load``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from worker.errors import ConfigError, UserError

VERSION = 1
BENCHMARK = "pipeline"

# Field annotations are strings (postponed evaluation): what each one accepts in the file.
_EXPECTED = {"int": "an integer", "float": "a number", "str": "a string"}


@dataclass(frozen=True)
class PipelineRun:
    """One cluster size of a sweep: the plan's prediction and what the local cluster measured.

    Times are seconds. Measured latencies are the p50 over the run's results; compute,
    communication and queueing are each a frame's sum along its path, so their p50s need not add
    up to t_forward's. The agents do not measure reloading: it is the plan's prediction for a
    frame's path (zero when every stage fits in memory).
    """

    n: int
    layout: str
    ips_predicted: float
    ips_measured: float
    ips_bound: float                   # n / sum of layer times on the profile
    t_forward_predicted_s: float
    t_forward_p50_s: float
    t_forward_p95_s: float
    compute_p50_s: float
    communication_p50_s: float
    queueing_p50_s: float
    reload_predicted_s: float
    inferences: int
    drops: int
    duplicates: int

    @property
    def ratio(self) -> float:
        """Measured IPS over predicted IPS (nan without a prediction)."""
        return self.ips_measured / self.ips_predicted if self.ips_predicted > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """The run as the JSON file stores it (nan as null: JSON has no NaN)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: object, file: str, where: str) -> PipelineRun:
        """A run read from ``data``; a ConfigError naming ``file`` and the field ``where.name`` if bad."""
        return cls(**_read_fields(cls, data, file, where))


@dataclass(frozen=True)
class PipelineBenchmark:
    """A sweep over cluster sizes of one model on one profile, with the conditions it ran in."""

    model: str
    profile: str
    fps: float                         # camera rate
    seconds: float                     # length of each run
    single_process_ips: float          # one LiteRT process running the whole model, frames back to back
    date: str                          # ISO 8601, UTC
    host_cores: int                    # the agents share them: more agents than cores compete
    runs: tuple[PipelineRun, ...]

    benchmark: ClassVar[str] = BENCHMARK
    version: ClassVar[int] = VERSION

    def to_json(self) -> str:
        """The JSON text of the sweep (``benchmark`` and ``version`` first, then the header, then runs)."""
        head = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "runs"}
        data = {"benchmark": self.benchmark, "version": self.version, **head,
                "runs": [run.to_dict() for run in self.runs]}
        return json.dumps(data, indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, file: str = "<json>") -> PipelineBenchmark:
        """The sweep in ``text``; a ConfigError naming ``file`` and the field when it is not one."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(file, "", f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        if not isinstance(data, dict):
            raise ConfigError(file, "", f"expected a JSON object, got {_kind(data)}")
        if data.get("benchmark") != BENCHMARK:
            raise ConfigError(file, "benchmark", f"expected {BENCHMARK!r} (a `mchair bench pipeline --json` "
                              f"file), got {_shown(data, 'benchmark')}")
        if type(data.get("version")) is not int or data["version"] != VERSION:    # true == 1 to Python
            raise ConfigError(file, "version", f"expected {VERSION}, got {_shown(data, 'version')}")
        head = _read_fields(cls, {k: v for k, v in data.items() if k != "runs"}, file, "", skip=("runs",))
        runs = data.get("runs")
        if not isinstance(runs, list) or not runs:
            raise ConfigError(file, "runs", f"expected a non-empty list of runs, got {_shown(data, 'runs')}")
        return cls(**head, runs=tuple(PipelineRun.from_dict(r, file, f"runs[{i}]") for i, r in enumerate(runs)))

    def save(self, path: Path) -> Path:
        """Write the sweep as JSON at ``path`` (parent folders created); a one-line UserError if it cannot."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.to_json())
        except OSError as exc:
            raise UserError(f"{path}: cannot write it ({exc.strerror or exc})") from None
        return path

    @classmethod
    def load(cls, path: Path) -> PipelineBenchmark:
        """The sweep in the file ``path``; a one-line UserError if it cannot be read or is not one."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(str(path), "", "no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(str(path), "", f"cannot read it ({exc})") from None
        return cls.from_json(text, str(path))


def _read_fields(cls: type, data: object, file: str, where: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of dataclass ``cls`` from the mapping ``data``, each checked against its annotation."""
    if not isinstance(data, Mapping):
        raise ConfigError(file, where, f"expected an object, got {_kind(data)}")
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in skip:
            continue
        key = f"{where}.{f.name}" if where else f.name
        expected = _EXPECTED[str(f.type)]
        if f.name not in data:
            raise ConfigError(file, key, f"missing (expected {expected})")
        out[f.name] = _value(data[f.name], str(f.type), file, key)
    return out


def _value(value: object, kind: str, file: str, key: str) -> Any:
    # bool is an int to Python, never a count or a time here.
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float":
        if value is None:          # how to_dict writes nan (a run with no results)
            return math.nan
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    raise ConfigError(file, key, f"expected {_EXPECTED[kind]}, got {_kind(value)}")


def _plain(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float, str)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."   # one line, even for a long string
    names: dict[type, str] = {dict: "an object", list: "a list"}
    return names.get(type(value), type(value).__name__)


def _shown(data: Mapping[str, Any], key: str) -> str:
    return _kind(data[key]) if key in data else "nothing"


__all__ = ["BENCHMARK", "VERSION", "PipelineBenchmark", "PipelineRun"]
