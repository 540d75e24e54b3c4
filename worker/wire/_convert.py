"""Frozen dataclasses <-> Avro datums, driven by the dataclass type hints (no code per message type).

Supported hints: dataclasses (records), ``tuple[X, ...]`` (arrays, decoded as tuples),
``dict[str, X]`` (maps), ``X | None`` (unions with null), Enum and Literal (enums or strings),
int, float, str, bool, and bytes-like (``bytes``, or a union of bytes/bytearray/memoryview).
Byte strings pass through untouched both ways: memoryviews of arrays go to fastavro as they are,
and views of the received frame come back as memoryviews.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._buffer import unwrap

Convert = Callable[[Any], Any]

_BYTES_TYPES = frozenset({bytes, bytearray, memoryview})
_PRIMITIVES: dict[type, frozenset[str]] = {
    bool: frozenset({"boolean"}), int: frozenset({"int", "long"}), float: frozenset({"float", "double"}),
    str: frozenset({"string"}),
}


def _identity(value: Any) -> Any:
    return value


def _flat_bytes(value: Any) -> Any:
    # fastavro wants one-dimensional unsigned bytes; a memoryview of a float array is recast, not copied.
    if type(value) is memoryview and (value.format != "B" or value.ndim != 1):
        return value.cast("B")
    return value


def _is_bytes(tp: Any) -> bool:
    if tp in _BYTES_TYPES:
        return True
    return _is_union(tp) and all(a in _BYTES_TYPES for a in typing.get_args(tp))


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _optional_arg(tp: Any) -> Any:
    """X for ``X | None``, else None."""
    if not _is_union(tp):
        return None
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1 and len(typing.get_args(tp)) == 2:
        return args[0]
    return None


def _item_type(tp: Any) -> Any:
    """X for ``tuple[X, ...]`` / ``Sequence[X]`` / ``list[X]``, else None."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    if origin in (list, Sequence) and len(args) == 1:
        return args[0]
    return None


def _value_type(tp: Any) -> Any:
    """X for ``dict[str, X]`` / ``Mapping[str, X]``, else None."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (dict, Mapping) and len(args) == 2 and args[0] is str:
        return args[1]
    return None


class Converter:
    """Turns dataclass instances into fastavro datums and back, with converters compiled per type.

    ``localns`` resolves names the dataclass modules only import for type checking (the wire
    passes ``{"TaskTable": worker.wire.TaskTable}``; tests pass a stand-in).
    """

    def __init__(self, localns: Mapping[str, Any] | None = None) -> None:
        self._localns = dict(localns or {})
        self._encoders: dict[Any, Convert] = {}
        self._decoders: dict[Any, Convert] = {}

    def to_datum(self, obj: Any) -> dict[str, Any]:
        """The fastavro datum of a dataclass instance (byte strings are not copied)."""
        return self.encoder(type(obj))(obj)

    def from_datum(self, cls: type, datum: Any) -> Any:
        """An instance of ``cls`` from a fastavro datum (byte strings stay views)."""
        return self.decoder(cls)(datum)

    def hints(self, cls: type) -> list[tuple[str, Any]]:
        """The (name, resolved type) of the dataclass's init fields, in order."""
        resolved = typing.get_type_hints(cls, localns=self._localns)
        return [(f.name, resolved[f.name]) for f in dataclasses.fields(cls) if f.init]

    def encoder(self, tp: Any) -> Convert:
        """The compiled python -> datum conversion of a type (cached)."""
        fn = self._encoders.get(tp)
        if fn is None:
            fn = self._encoders[tp] = self._compile(tp, encode=True)
        return fn

    def decoder(self, tp: Any) -> Convert:
        """The compiled datum -> python conversion of a type (cached)."""
        fn = self._decoders.get(tp)
        if fn is None:
            fn = self._decoders[tp] = self._compile(tp, encode=False)
        return fn

    def _compile(self, tp: Any, *, encode: bool) -> Convert:
        sub = self.encoder if encode else self.decoder
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._record(tp, encode)
        if tp in _PRIMITIVES or typing.get_origin(tp) is typing.Literal:
            return _identity
        if _is_bytes(tp):
            return _flat_bytes if encode else unwrap
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return (lambda v: v.value) if encode else tp
        if (inner := _optional_arg(tp)) is not None:
            fn = sub(inner)
            return lambda v: None if v is None else fn(v)
        if (item := _item_type(tp)) is not None:
            fn = sub(item)
            if fn is _identity:
                return list if encode else tuple
            return (lambda v: [fn(x) for x in v]) if encode else (lambda v: tuple(fn(x) for x in v))
        if (value := _value_type(tp)) is not None:
            fn = sub(value)
            return lambda v: {k: fn(x) for k, x in v.items()}
        raise TypeError(f"no Avro conversion for the type hint {tp!r}")

    def _record(self, cls: type, encode: bool) -> Convert:
        # Placeholder first so a self-referencing dataclass compiles instead of recursing forever.
        cache = self._encoders if encode else self._decoders

        def late(v: Any) -> Any:
            return fn(v)
        cache[cls] = late
        fields = [(name, (self.encoder if encode else self.decoder)(hint)) for name, hint in self.hints(cls)]
        plain = [name for name, f in fields if f is _identity]
        other = [(name, f) for name, f in fields if f is not _identity]
        if encode:
            def fn(obj: Any) -> Any:
                out = {name: getattr(obj, name) for name in plain}
                for name, f in other:
                    out[name] = f(getattr(obj, name))
                return out
        else:
            def fn(obj: Any) -> Any:   # the datum: one signature for both variants
                kwargs = {name: obj[name] for name in plain}
                for name, f in other:
                    kwargs[name] = f(obj[name])
                return cls(**kwargs)
        return fn

    def check(self, tp: Any, schema: Any, path: str = "", named: dict[str, Any] | None = None) -> None:
        """Raise TypeError naming the field where the type hints and a parsed Avro schema disagree."""
        named = {} if named is None else named
        if isinstance(schema, str) and schema in named:
            schema = named[schema]
        avro = schema if isinstance(schema, str) else schema.get("type") if isinstance(schema, dict) else "union"
        if isinstance(schema, dict) and avro in ("record", "enum", "fixed"):
            named.setdefault(schema["name"], schema)

        def fail(expected: str) -> typing.NoReturn:
            raise TypeError(f"{path or tp!s}: the Python type {tp!r} does not match the Avro type "
                            f"{avro!r} (expected {expected})")
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            if avro != "record":
                fail("a record")
            hints = self.hints(tp)
            names = [f["name"] for f in schema["fields"]]
            if names != [n for n, _ in hints]:
                fail(f"fields {[n for n, _ in hints]} in this order, the schema has {names}")
            for (name, hint), field in zip(hints, schema["fields"]):
                self.check(hint, field["type"], f"{path or tp.__name__}.{name}", named)
        elif tp in _PRIMITIVES:
            if avro not in _PRIMITIVES[tp] and not (tp is str and avro == "enum"):
                fail(" or ".join(sorted(_PRIMITIVES[tp])))
        elif _is_bytes(tp):
            if avro not in ("bytes", "fixed"):
                fail("bytes or fixed")
        elif typing.get_origin(tp) is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
            values = [m.value for m in typing.cast("type[enum.Enum]", tp)] if isinstance(tp, type) \
                else list(typing.get_args(tp))
            if avro == "enum" and set(values) - set(schema["symbols"]):
                fail(f"an enum with the symbols {values}")
            if avro not in ("enum", "string"):
                fail("an enum or a string")
        elif (inner := _optional_arg(tp)) is not None:
            rest = [b for b in schema if b != "null"] if isinstance(schema, list) else []
            if not isinstance(schema, list) or len(schema) != 2 or len(rest) != 1:
                fail('a union ["null", X]')
            self.check(inner, rest[0], path, named)
        elif (item := _item_type(tp)) is not None:
            if avro != "array":
                fail("an array")
            self.check(item, schema["items"], f"{path}[]", named)
        elif (value := _value_type(tp)) is not None:
            if avro != "map":
                fail("a map")
            self.check(value, schema["values"], f"{path}{{}}", named)
        else:
            raise TypeError(f"{path}: no Avro conversion for the type hint {tp!r}")
