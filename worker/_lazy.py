"""Package attributes imported on first use (PEP 562), so that start-up pays only for what a command runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, exports: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``exports`` (submodule -> names) on use."""
    where = {name: module for module, names in exports.items() for name in names}

    def lazy_getattr(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{where[name]}"), name)
        setattr(import_module(package), name, value)   # later look-ups skip this hook
        return value

    return lazy_getattr
