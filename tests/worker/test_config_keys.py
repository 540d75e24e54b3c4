"""The declared keys of cluster.yaml: kinds refuse what does not fit, and docs/cluster-yaml.md is made from them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from worker import config_doc
from worker._config_keys import (
    Broken,
    Integer,
    Number,
    Records,
    Rule,
    Section,
    Strings,
    Text,
    declared,
    key,
    parse_section,
    required,
)
from worker.cluster import ClusterConfig
from worker.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cluster-yaml.md"


def test_the_committed_reference_is_the_generated_one() -> None:
    page = PAGE.read_text()
    assert config_doc.with_reference(page) == page, "run: python -m worker.config_doc --write docs/cluster-yaml.md"


def _all_keys(cls: type) -> list[tuple[str, Any]]:
    out = []
    for f, k in declared(cls):
        out.append((f.name, k))
        if isinstance(k.kind, (Section, Records)):
            out += _all_keys(k.kind.cls)
    return out


def test_every_key_has_a_one_line_doc_and_a_row() -> None:
    for name, k in _all_keys(ClusterConfig):
        assert k.doc.strip() and "\n" not in k.doc and k.kind.expected, name
    leaves = list(config_doc.leaf_keys(ClusterConfig))
    assert "agent.port" in leaves and "game.contention.dwell_s" in leaves and "devices[].name" in leaves
    rows = re.findall(r"^\| `([^`]+)` \|", config_doc.reference(), re.M)
    sections = [f.name for f, k in declared(ClusterConfig) if isinstance(k.kind, (Section, Records)) and
                (k.table or isinstance(k.kind, Records))]
    # Each leaf has one row: dotted within its section's table, plus one row per section with a table.
    assert len(rows) == len(leaves) + len(sections)
    for leaf in leaves:
        assert any(leaf.endswith(row) for row in rows), leaf


def _paths(raw: Any, prefix: str = "") -> set[str]:
    if isinstance(raw, dict):
        return {p for k, v in raw.items() for p in {prefix + k} | _paths(v, f"{prefix}{k}.")}
    if isinstance(raw, list):
        return {p for item in raw for p in _paths(item, prefix[:-1] + "[].")}
    return set()


def test_the_examples_of_the_page_show_every_key() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.S)
    shown = set().union(*(_paths(yaml.safe_load(b)) for b in blocks))
    assert [leaf for leaf in config_doc.leaf_keys(ClusterConfig) if leaf not in shown] == []


def test_the_tool_rewrites_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = PAGE.read_text().replace("| `buffer` | `64` |", "| `buffer` | `32` |")
    page = tmp_path / "cluster-yaml.md"
    page.write_text(stale)
    assert config_doc.main(["--write", str(page)]) == 0
    assert page.read_text() == PAGE.read_text()
    page.write_text("no markers")
    assert config_doc.main(["--write", str(page)]) == 2
    assert "markers" in capsys.readouterr().err


def _two_entries(sample: Any) -> Broken | None:
    names = {x.name for x in sample.items}
    return Broken("items", "at least two distinct names", sorted(names)) if len(names) < 2 else None


def _letters(text: str) -> None:
    if not text.isalpha():
        raise ValueError("a word of letters")


@dataclass(frozen=True)
class Entry:
    """An entry of the sample config."""

    name: str = required(Text(), "a name")
    size: int = key(1, Integer(1, 10), "a size")


@dataclass(frozen=True)
class Sample:
    """A sample config."""

    RULES: ClassVar[tuple[Rule, ...]] = (_two_entries,)

    rate: float = key(1.0, Number(0, 100, above=True), "a rate")
    tags: tuple[str, ...] = key((), Strings(check=_letters), "tags")
    items: tuple[Entry, ...] = key((Entry("a"), Entry("b")), Records(Entry), "items")


@pytest.mark.parametrize(("raw", "where", "expected"), [
    ({"rate": math.inf}, "s.rate", "a positive number <= 100, got inf"),
    ({"rate": math.nan}, "s.rate", "got nan"),
    ({"rate": True}, "s.rate", "got True"),
    ({"rate": 0}, "s.rate", "positive"),
    ({"rate": 100.5}, "s.rate", "<= 100"),
    ({"tags": "x"}, "s.tags", "a list of strings"),
    ({"tags": ["ok", "n0"]}, "s.tags", "expected a word of letters, got 'n0'"),
    ({"items": [{"size": 2}]}, "s.items[0].name", "required: a non-empty string"),
    ({"items": [{"name": "a", "size": 11}]}, "s.items[0].size", "an integer >= 1 and <= 10"),
    ({"items": [{"name": "a"}]}, "s.items", "at least two distinct names, got ['a']"),
    ({"items": None}, "s.items", "a list of mappings, got None"),
    ({"rate": "x" * 500}, "s.rate", "... (502 characters)"),
])
def test_kinds_and_rules_refuse_with_the_key_path(raw: dict[str, Any], where: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_section(Sample, raw, "s", "f.yaml")
    assert str(err.value).startswith(f"f.yaml: {where}: ") and expected in str(err.value), str(err.value)
    assert len(str(err.value)) < 200


def test_values_are_converted_and_defaults_kept() -> None:
    got = parse_section(Sample, {"rate": 3, "tags": ["a", "b", "a"], "items": [{"name": "x"}, {"name": "y",
                                                                                              "size": 4}]}, "", "f")
    assert got == Sample(3.0, ("a", "b"), (Entry("x", 1), Entry("y", 4))) and isinstance(got.rate, float)
    assert parse_section(Sample, {}, "", "f") == Sample()
