"""Config keys declared once, on the settings dataclasses: kind (type and range), default, one-line doc.

A settings class is a frozen dataclass whose fields are made with ``key()``, ``required()`` or
``section()``. ``parse_section`` reads a YAML mapping into it (unknown keys, nulls, wrong types and
out-of-range values are one-line ConfigErrors naming the key path), and the reference of
docs/cluster-yaml.md is generated from the same declarations (``python -m worker.config_doc``).
Checks that span several keys are the class's ``RULES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from worker._yaml import Validator
from worker.errors import ConfigError

T = TypeVar("T")
_META = "mchair.key"


class Kind(Protocol):
    """What a key holds: ``expected`` says it in words, ``parse`` checks and converts a YAML value."""

    @property
    def expected(self) -> str:
        """What the key holds, as error messages and the docs say it."""
        ...

    def parse(self, raw: Any, path: str, v: Validator) -> Any:
        """``raw`` converted; a ConfigError naming ``path`` when it does not fit."""
        ...


@dataclass(frozen=True)
class Integer:
    """An integer in ``lo``..``hi`` (no upper bound when ``hi`` is None); booleans are not integers."""

    lo: int
    hi: int | None = None

    @property
    def expected(self) -> str:
        """What the key holds."""
        return f"an integer >= {self.lo}" + (f" and <= {self.hi}" if self.hi is not None else "")

    def parse(self, raw: Any, path: str, v: Validator) -> int:
        """``raw`` as an int in range."""
        if (not isinstance(raw, int) or isinstance(raw, bool) or raw < self.lo
                or (self.hi is not None and raw > self.hi)):
            raise v.fail(path, self.expected, raw)
        return raw


@dataclass(frozen=True)
class Number:
    """A finite number (an int is accepted) within optional bounds; ``above``/``below`` exclude the bound."""

    lo: float | None = None
    hi: float | None = None
    above: bool = False
    below: bool = False

    @property
    def expected(self) -> str:
        """What the key holds."""
        finite = "finite " if self.hi is None else ""
        upper = f"{'<' if self.below else '<='} {self.hi:g}" if self.hi is not None else ""
        if self.lo == 0 and self.above:
            return f"a {finite}positive number {upper}".rstrip()
        if self.lo is None:
            return f"a {finite}number {upper}".rstrip()
        lower = f"{'>' if self.above else '>='} {self.lo:g}"
        return f"a {finite}number {lower}" + (f" and {upper}" if upper else "")

    def parse(self, raw: Any, path: str, v: Validator) -> float:
        """``raw`` as a float in range; inf and nan never fit."""
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw)
        if ok and self.lo is not None:
            ok = raw > self.lo if self.above else raw >= self.lo
        if ok and self.hi is not None:
            ok = raw < self.hi if self.below else raw <= self.hi
        if not ok:
            raise v.fail(path, self.expected, raw)
        return float(raw)


@dataclass(frozen=True)
class Text:
    """A string, non-empty unless ``empty`` allows it (an empty one then means "none")."""

    empty: bool = False

    @property
    def expected(self) -> str:
        """What the key holds."""
        return "a string (empty: none)" if self.empty else "a non-empty string"

    def parse(self, raw: Any, path: str, v: Validator) -> str:
        """``raw`` as a string."""
        if self.empty and raw == "":
            return raw
        return v.string(raw, path)


@dataclass(frozen=True)
class FilePath:
    """A file name (relative names are relative to the config file; the section's parser joins them)."""

    expected: str = "a file name"

    def parse(self, raw: Any, path: str, v: Validator) -> Path:
        """``raw`` as a Path."""
        return Path(v.string(raw, path))


@dataclass(frozen=True)
class Choice:
    """One of a few words."""

    options: tuple[str, ...]

    @property
    def expected(self) -> str:
        """What the key holds."""
        return " or ".join(self.options)

    def parse(self, raw: Any, path: str, v: Validator) -> str:
        """``raw`` if it is one of the options."""
        if raw not in self.options:
            raise v.fail(path, self.expected, raw)
        return str(raw)


@dataclass(frozen=True)
class Flag:
    """true or false."""

    expected: str = "true or false"

    def parse(self, raw: Any, path: str, v: Validator) -> bool:
        """``raw`` if it is a YAML boolean."""
        if not isinstance(raw, bool):
            raise v.fail(path, self.expected, raw)
        return raw


@dataclass(frozen=True)
class Strings:
    """A list of strings, each optionally checked by ``check`` (its ValueError says what was expected)."""

    expected: str = "a list of strings"
    min_len: int = 0
    check: Callable[[str], object] | None = None

    def parse(self, raw: Any, path: str, v: Validator) -> tuple[str, ...]:
        """``raw`` as a tuple without repeats, in order."""
        if not isinstance(raw, list) or len(raw) < self.min_len or not all(isinstance(x, str) for x in raw):
            raise v.fail(path, self.expected, raw)
        for item in raw:
            try:
                if self.check is not None:
                    self.check(item)
            except ValueError as exc:
                raise v.fail(path, str(exc), item) from None
        return tuple(dict.fromkeys(raw))


@dataclass(frozen=True)
class IntMap:
    """A mapping of names to integers (any sign), kept as pairs sorted by name so equal configs compare equal."""

    expected: str = "a mapping of names to integers"

    def parse(self, raw: Any, path: str, v: Validator) -> tuple[tuple[str, int], ...]:
        """``raw`` as sorted (name, integer) pairs."""
        mapping = v.mapping(raw, path, None)
        for name, value in mapping.items():
            v.string(name, path)
            if not isinstance(value, int) or isinstance(value, bool):
                raise v.fail(f"{path}.{name}", "an integer", value)
        return tuple(sorted(mapping.items()))


@dataclass(frozen=True)
class Section:
    """A nested mapping read into the settings class ``cls``."""

    cls: type

    @property
    def expected(self) -> str:
        """What the key holds."""
        return "a mapping"

    def parse(self, raw: Any, path: str, v: Validator) -> Any:
        """``raw`` as an instance of ``cls``."""
        return parse_section(self.cls, raw, path, v.file)


@dataclass(frozen=True)
class Records:
    """A list of mappings, each read into the settings class ``cls``."""

    cls: type

    @property
    def expected(self) -> str:
        """What the key holds."""
        return "a list of mappings"

    def parse(self, raw: Any, path: str, v: Validator) -> tuple[Any, ...]:
        """``raw`` as a tuple of ``cls``."""
        if not isinstance(raw, list):
            raise v.fail(path, self.expected, raw)
        return tuple(parse_section(self.cls, item, f"{path}[{i}]", v.file) for i, item in enumerate(raw))


@dataclass(frozen=True)
class Key:
    """One declared key: its kind, its doc, and (sections) whether the docs give it a table of its own."""

    kind: Kind
    doc: str
    table: bool = False


@dataclass(frozen=True)
class Broken:
    """What a rule found wrong: the key (relative to the section), what was expected, what was there."""

    key: str
    expected: str
    got: Any


Rule = Callable[[Any], "Broken | None"]


def key(default: T, kind: Kind, doc: str) -> T:
    """A dataclass field declaring a key with a default."""
    return field(default=default, metadata={_META: Key(kind, doc)})


def required(kind: Kind, doc: str) -> Any:
    """A dataclass field declaring a key that must be given."""
    return field(metadata={_META: Key(kind, doc)})


def section(cls: type[T], doc: str, table: bool = False) -> T:
    """A dataclass field declaring a nested section (its defaults are ``cls()``)."""
    return field(default_factory=cls, metadata={_META: Key(Section(cls), doc, table)})


def declared(cls: type) -> Iterator[tuple[Field[Any], Key]]:
    """The fields of ``cls`` that are keys (other fields are not read from the file)."""
    for f in fields(cls):
        if _META in f.metadata:
            yield f, f.metadata[_META]


def is_required(f: Field[Any]) -> bool:
    """True for a key without a default."""
    return f.default is MISSING and f.default_factory is MISSING


def parse_section(cls: type[T], raw: Any, path: str, file: str) -> T:
    """``raw`` (a YAML mapping) read into ``cls``; errors name ``file`` and ``path.KEY``."""
    v = Validator(file)
    keys = {f.name: (f, k) for f, k in declared(cls)}
    mapping = v.mapping(raw, path, set(keys))
    prefix = f"{path}." if path else ""
    values: dict[str, Any] = {}
    for name, (f, k) in keys.items():
        if name in mapping:
            values[name] = k.kind.parse(mapping[name], prefix + name, v)
        elif is_required(f):
            raise ConfigError(file, prefix + name, f"required: {k.kind.expected}")
    made = cls(**values)
    for rule in getattr(cls, "RULES", ()):
        broken = rule(made)
        if broken is not None:
            raise v.fail(prefix + broken.key, broken.expected, broken.got)
    return made


__all__ = ["Broken", "Choice", "FilePath", "Flag", "IntMap", "Integer", "Key", "Kind", "Number", "Records", "Rule",
           "Section", "Strings", "Text", "declared", "is_required", "key", "parse_section", "required", "section"]
