"""Where shipped config files live (models/, profiles/), and finding one by name or path.

Reading and checking YAML is ``worker._yaml`` (agents read cluster.yaml too)."""

from __future__ import annotations

import sys
from pathlib import Path

from worker._yaml import Validator, read_yaml


def data_dir(kind: str) -> Path:
    """models/ or profiles/: beside the packages in a checkout, under share/ once installed."""
    here = Path(__file__).resolve().parents[1] / kind
    return here if here.is_dir() else Path(sys.prefix) / "share" / "musical-chair" / kind


def shipped(kind: str) -> list[str]:
    """Names of the YAML files that ship in ``kind`` (models, profiles)."""
    return sorted(p.stem for p in data_dir(kind).glob("*.yaml"))


def locate(name_or_path: str, kind: str) -> Path | None:
    """A config file given by path, or by the name of a shipped one in ``kind``; None if neither."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = data_dir(kind) / f"{name_or_path}.yaml"
    return candidate if candidate.exists() else None


__all__ = ["Validator", "data_dir", "locate", "read_yaml", "shipped"]
