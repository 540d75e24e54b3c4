"""YAML config files (model specs, profiles, cluster.yaml): reading, and typed checks whose errors
name the file, the key path and what was expected. In ``worker`` because agents read cluster.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from worker.errors import ConfigError

# libyaml's loader when built: faster, and it refuses deep nesting at once (the Python one recurses).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML of ``path``; a missing file, binary data or bad YAML is a one-line ConfigError."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        return yaml.load(text, Loader=_LOADER)
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"byte {exc.start}", "expected UTF-8 text (is it a YAML file?)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc
        raise ConfigError(str(path), where, f"not valid YAML ({' '.join(str(problem).split())})") from None
    except RecursionError:
        raise ConfigError(str(path), "", "not valid YAML (nested too deeply)") from None


def _show(value: Any, limit: int = 60) -> str:
    """``value``'s repr, shortened: one line of an error must not carry a whole binary file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class Validator:
    """Small typed checks that raise ConfigError with the file and key path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, expected: str, got: Any) -> ConfigError:
        """A ConfigError saying what was expected at ``key`` and what was found."""
        return ConfigError(self.file, key, f"expected {expected}, got {_show(got)}")

    def mapping(self, raw: Any, key: str, allowed: set[str] | None) -> dict[str, Any]:
        """``raw`` as a mapping whose keys are all in ``allowed`` (None: any key)."""
        if not isinstance(raw, dict):
            raise self.fail(key or "top level", "a mapping", raw)
        if allowed is not None:
            for k in raw:
                if k not in allowed:
                    prefix = f"{key}." if key else ""
                    raise ConfigError(self.file, f"{prefix}{k}",
                                      f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return raw

    def string(self, raw: Any, key: str) -> str:
        """``raw`` as a non-empty string."""
        if not isinstance(raw, str) or not raw:
            raise self.fail(key, "a non-empty string", raw)
        return raw

    def integer(self, raw: Any, key: str, minimum: int = 1) -> int:
        """``raw`` as an integer of at least ``minimum``."""
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < minimum:
            raise self.fail(key, f"an integer >= {minimum}", raw)
        return raw

    def number(self, raw: Any, key: str, positive: bool = False) -> float:
        """``raw`` as a float (an int is accepted), optionally > 0."""
        if not isinstance(raw, (int, float)) or isinstance(raw, bool) or (positive and raw <= 0):
            raise self.fail(key, "a positive number" if positive else "a number", raw)
        return float(raw)

    def ints(self, raw: Any, key: str, min_len: int = 1) -> tuple[int, ...]:
        """``raw`` as a tuple of at least ``min_len`` integers."""
        if (not isinstance(raw, list) or len(raw) < min_len
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw)):
            raise self.fail(key, f"a list of at least {min_len} integers", raw)
        return tuple(raw)
