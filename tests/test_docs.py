"""The docs stay true to the code: every YAML example parses (and validates as what it shows), every
``mchair`` command they mention exists, their links resolve, and the shipped cluster.yaml loads."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.cli import build_parser
from orchestrator.toolchain.spec import parse_spec
from worker.agent._systemd import systemd_unit
from worker.cluster import load_cluster, parse_cluster

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [*DOCS, ROOT / "README.md"]
# A top-level key that only a cluster config has.
CLUSTER_KEYS = {"secret_file", "master", "discovery"}
# Every top-level key of cluster.yaml: a block made only of these is a cluster config too.
CLUSTER_TOP = CLUSTER_KEYS | {"name", "interfaces", "devices", "agent", "motion", "game", "metrics", "security"}
_FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page."""

    page: Path
    line: int          # of the opening fence, 1-based
    lang: str
    text: str

    @property
    def where(self) -> str:
        """``docs/page.md:LINE``, for failure messages."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced code block of ``page``, dedented by its fence's indent (blocks inside list items)."""
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _blocks(lang: str | None = None) -> list[Block]:
    return [b for page in PAGES for b in fenced_blocks(page) if lang is None or b.lang == lang]


def _ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


YAML_BLOCKS = _blocks("yaml")


def test_the_docs_have_yaml_examples() -> None:
    # The collection itself must work: a broken fence regex would pass every test below vacuously.
    assert len(YAML_BLOCKS) >= 8
    assert any(b.page.name == "cluster-yaml.md" for b in YAML_BLOCKS)


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=_ids(YAML_BLOCKS))
def test_yaml_examples_parse_and_validate(block: Block) -> None:
    try:
        raw: Any = yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        pytest.fail(f"{block.where}: not valid YAML: {exc}")
    partial = block.text.lstrip().startswith("# partial")
    if not isinstance(raw, dict) or partial:
        return
    if CLUSTER_KEYS & raw.keys() or raw.keys() <= CLUSTER_TOP or block.page.name == "cluster-yaml.md":
        parse_cluster(raw, block.where)
    if "blocks" in raw:
        parse_spec(raw, block.where)


def test_the_shipped_cluster_yaml_loads() -> None:
    cluster = load_cluster(ROOT / "cluster.yaml")
    assert cluster.secret_file == ROOT / "cluster.secret"


def _subcommands() -> dict[str, set[str] | None]:
    """Every ``mchair`` sub-command, with its own sub-commands (None: it takes none)."""

    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return None

    top = choices(build_parser())
    assert top is not None
    out: dict[str, set[str] | None] = {}
    for name, sub in top.items():
        nested = choices(sub)
        out[name] = set(nested) if nested is not None else None
    return out


_MCHAIR = re.compile(r"\bmchair\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?")
_INLINE = re.compile(r"`([^`\n]+)`")


def _mentions() -> list[tuple[str, str, str | None]]:
    """(where, sub-command, next word) of every ``mchair X`` in a code block or inline code of the docs."""
    found = []
    for page in PAGES:
        texts = [(b.where, b.text) for b in fenced_blocks(page)]
        prose = page.read_text()
        texts += [(f"{page.relative_to(ROOT)} (inline)", m.group(1)) for m in _INLINE.finditer(prose)]
        for where, text in texts:
            for m in _MCHAIR.finditer(text):
                found.append((where, m.group(1), m.group(2)))
    return found


def test_every_mchair_command_in_the_docs_exists() -> None:
    commands = _subcommands()
    mentions = _mentions()
    assert any(cmd == "agent" for _, cmd, _ in mentions)
    for where, cmd, word in mentions:
        assert cmd in commands, f"{where}: `mchair {cmd}` is not a sub-command ({', '.join(sorted(commands))})"
        nested = commands[cmd]
        if nested is not None and word is not None:
            assert word in nested, f"{where}: `mchair {cmd} {word}`: expected one of {', '.join(sorted(nested))}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    in_code, out = False, set()
    for line in page.read_text().splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            out.add(_slug(line.lstrip("#")))
    return out


def test_links_between_pages_resolve() -> None:
    checked = 0
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue   # http(s), mailto: not checked offline
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.relative_to(ROOT)}: link to {target}: no such file"
            if anchor and file.suffix == ".md":
                assert anchor in _anchors(file), f"{page.relative_to(ROOT)}: link to {target}: no such heading"
            checked += 1
    assert checked > 10


def test_the_unit_shown_in_install_pi_is_the_one_written(tmp_path: Path) -> None:
    """docs/install-pi.md shows the unit ``--print-systemd`` writes for user pi (paths under /home/pi)."""
    shown = [b for b in fenced_blocks(ROOT / "docs" / "install-pi.md") if b.lang == "ini"]
    assert len(shown) == 1
    (tmp_path / "cluster.yaml").write_text("{}\n")
    unit = systemd_unit("pi1", tmp_path / "cluster.yaml", camera="picamera",
                        python="/home/pi/mchair-venv/bin/python", user="pi")
    assert shown[0].text == unit.replace(str(tmp_path), "/home/pi")
