"""The statement catalog (statements.yaml): every statement shape the product sends to Snowflake,
each with the docs.snowflake.com page it follows.

A pattern is an anchored regular expression over the whitespace-normalised statement, matched
case-insensitively. `{name}` in a pattern stands for the catalog's fragment of that name (an
identifier, a qualified name, a string literal), so each pattern stays readable; a fragment may use
other fragments. Tests check that the catalog is well formed and that everything the product sends
in the sandbox matches an entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_PATH = Path(__file__).with_name("statements.yaml")
_FRAGMENT = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    pattern: str  # as written in the catalog
    regex: re.Pattern[str]  # with the fragments expanded
    doc: str
    examples: tuple[str, ...] = ()
    note: str | None = None

    def matches(self, statement: str) -> bool:
        return self.regex.match(normalise(statement)) is not None


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]

    def match(self, statement: str) -> CatalogEntry | None:
        text = normalise(statement)
        return next((e for e in self.entries if e.regex.match(text)), None)


def normalise(statement: str) -> str:
    """Whitespace runs become one space; no leading/trailing space or final semicolon."""
    return " ".join(statement.split()).rstrip(";").rstrip()


def expand(pattern: str, fragments: dict[str, str], _depth: int = 0) -> str:
    if _depth > 10:
        raise ValueError(f"fragments nest too deeply in {pattern!r}")

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in fragments:
            raise ValueError(f"unknown fragment {{{m.group(1)}}} in {pattern!r}")
        return expand(fragments[m.group(1)], fragments, _depth + 1)

    return _FRAGMENT.sub(one, pattern)


def parse_catalog(data: Any) -> Catalog:
    if not isinstance(data, dict) or not isinstance(data.get("statements"), list):
        raise ValueError("the catalog must be a mapping with a 'statements' list")
    fragments = {str(k): str(v) for k, v in (data.get("fragments") or {}).items()}
    entries = []
    for raw in data["statements"]:
        if not isinstance(raw, dict):
            raise ValueError(f"catalog entry {raw!r} is not a mapping")
        pattern = str(raw.get("pattern") or "")
        try:
            regex = re.compile(expand(pattern, fragments), re.IGNORECASE)
        except (re.error, ValueError) as exc:
            raise ValueError(f"catalog entry {raw.get('id')!r}: {exc}") from None
        entries.append(
            CatalogEntry(
                id=str(raw.get("id") or ""),
                pattern=pattern,
                regex=regex,
                doc=str(raw.get("doc") or ""),
                examples=tuple(str(e) for e in raw.get("examples") or ()),
                note=str(raw["note"]) if raw.get("note") else None,
            )
        )
    return Catalog(tuple(entries))


@cache
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    return parse_catalog(yaml.safe_load(path.read_text(encoding="utf-8")))
