"""The schemas of worker/wire/schemas, their fingerprints, and which message class each one carries.

Schemas reference named types from other files (``mchair.Tensor``, ``mchair.TaskTable``). Each
message's schema is made standalone by inlining every referenced type at its first use, so the
fingerprint (CRC-64-AVRO of the Parsing Canonical Form) changes whenever any type it contains
changes: an agent with an older TaskTable rejects a new Assign instead of misreading it.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from fastavro import parse_schema
from fastavro.schema import (
    SchemaParseException,
    UnknownType,
    fingerprint,
    to_parsing_canonical_form,
)

from . import _messages
from ._convert import Converter

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
NAMESPACE = "mchair"
MAGIC = b"\xc3\x01"  # Avro single-object encoding marker

_PARSER_KEYS = ("__fastavro_parsed", "__named_schemas")


@dataclass(frozen=True)
class MessageType:
    """A message class with its standalone parsed schema and single-object header."""

    cls: type
    name: str
    schema: dict[str, Any]
    canonical: str
    fingerprint: bytes  # 8 bytes, little-endian, as in the single-object header
    control: bool

    @property
    def header(self) -> bytes:
        """Marker + fingerprint: the first 10 bytes of every message of this type."""
        return MAGIC + self.fingerprint


def load_schemas(directory: Path) -> dict[str, dict[str, Any]]:
    """Every named type defined in ``directory``/*.avsc, by full name, as a standalone parsed schema.

    Files may reference types from other files in any order. Raises SchemaParseException naming
    the files whose references do not resolve.
    """
    pending = {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.avsc"))}
    named: dict[str, Any] = {}
    while pending:
        progress = False
        for file, raw in list(pending.items()):
            trial = dict(named)  # a failed parse may leave half its names behind: work on a copy
            try:
                parse_schema(raw, named_schemas=trial)
            except UnknownType:
                continue
            named, progress = trial, True
            del pending[file]
        if not progress:
            raise SchemaParseException(f"unresolved named types in {sorted(pending)} under {directory}")
    return {name: cast("dict[str, Any]", parse_schema(inline(name, named))) for name in named}


def inline(name: str, named: Mapping[str, Any]) -> dict[str, Any]:
    """The definition of ``name`` with every referenced named type defined at its first use."""
    seen: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            if node in named and node not in seen:
                return walk(named[node])
            return node
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: v for k, v in node.items() if k not in _PARSER_KEYS}
        if out.get("type") in ("record", "error", "enum", "fixed"):
            seen.add(out["name"])
        if "fields" in out:
            out["fields"] = [dict(f, type=walk(f["type"])) for f in out["fields"]]
        for key in ("items", "values"):
            if key in out:
                out[key] = walk(out[key])
        if isinstance(out.get("type"), (dict, list)) or out.get("type") in named:
            out["type"] = walk(out["type"])
        return out
    return walk(copy.deepcopy(named[name]))


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """CRC-64-AVRO of the schema's Parsing Canonical Form, 8 bytes little-endian."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(dict(schema)), "CRC-64-AVRO"))


class Registry:
    """Message classes bound to their schemas: look up by class to encode, by fingerprint to decode."""

    def __init__(self, schema_dir: Path, classes: Iterable[type], *, control: Iterable[type] = (),
                 localns: Mapping[str, Any] | None = None) -> None:
        self.schema_dir = schema_dir
        self.converter = Converter(localns)
        self._schemas = load_schemas(schema_dir)
        controls = set(control)
        self._by_class: dict[type, MessageType] = {}
        self._by_fingerprint: dict[bytes, MessageType] = {}
        for cls in classes:
            name = f"{NAMESPACE}.{cls.__name__}"
            if name not in self._schemas:
                raise SchemaParseException(f"no schema {name} in {schema_dir}")
            schema = self._schemas[name]
            self.converter.check(cls, schema)  # a dataclass and its .avsc drifting apart fails here
            canonical = to_parsing_canonical_form(schema)
            mt = MessageType(cls, name, schema, canonical, schema_fingerprint(schema), cls in controls)
            if mt.fingerprint in self._by_fingerprint:
                raise SchemaParseException(f"{name} and {self._by_fingerprint[mt.fingerprint].name} "
                                           "have the same fingerprint")
            self._by_class[cls] = self._by_fingerprint[mt.fingerprint] = mt

    @property
    def types(self) -> tuple[MessageType, ...]:
        """Every registered message type."""
        return tuple(self._by_class.values())

    def schema(self, name: str) -> dict[str, Any]:
        """The standalone parsed schema of a named type (``mchair.Tensor``)."""
        return self._schemas[name]

    def by_class(self, cls: type) -> MessageType:
        """The message type of a class; TypeError if it is not a registered message."""
        try:
            return self._by_class[cls]
        except KeyError:
            raise TypeError(f"{cls.__name__} is not a message registered with {self.schema_dir}") from None

    def by_fingerprint(self, fp: bytes) -> MessageType | None:
        """The message type whose schema has this fingerprint, None if unknown."""
        return self._by_fingerprint.get(fp)


def _hint_namespace() -> dict[str, Any]:
    # _messages.py imports TaskTable for type checking only (it must not depend on _table.py at
    # import time); resolve it here, when the first message is encoded or decoded.
    table = importlib.import_module("worker.wire._table")
    return {"TaskTable": table.TaskTable}


@cache
def default_registry() -> Registry:
    """Every message of worker.wire with the schemas shipped in worker/wire/schemas (built once)."""
    return Registry(SCHEMA_DIR, _messages.MESSAGE_TYPES, control=_messages.CONTROL_TYPES,
                    localns=_hint_namespace())


def registry_for(classes: Sequence[type], schema_dir: Path, localns: Mapping[str, Any]) -> Registry:
    """A registry of the standard messages over another schema directory (tests, stand-in types)."""
    return Registry(schema_dir, classes, control=[c for c in classes if c in _messages.CONTROL_TYPES],
                    localns=localns)
