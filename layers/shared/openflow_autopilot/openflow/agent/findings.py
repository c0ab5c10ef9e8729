"""Matched journal entries accumulated into findings, with deduplicated evidence.

Each signature that matched gets a `Seen`: how often it matched and when, what the lines name, and
its distinct lines (numbers and ids aside), of which a `Finding` quotes the most recent few from
every journal that shows them. `plain_finding` builds a finding that no journal line backs (an
unreadable or truncated output, repositories only ECR reports missing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from .log_entries import Entry
from .matchers import Hit
from .models import Evidence, Finding
from .signatures import Signature

MAX_EVIDENCE: Final = 5
MAX_UNKNOWN_EVIDENCE: Final = 25
MAX_EVIDENCE_CHARS: Final = 600
_OLDEST: Final = datetime.min.replace(tzinfo=UTC)


def _line_key(text: str) -> str:
    text = re.sub(r"\b[0-9a-f]{12,}\b|\d+", "#", text.lower())
    return " ".join(text.split())[:200]


@dataclass
class Seen:
    signature: Signature
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    lines: dict[str, tuple[int, tuple[datetime, int], Entry]] = field(default_factory=dict)
    subjects: dict[str, None] = field(default_factory=dict)
    notes: dict[str, None] = field(default_factory=dict)
    sections: set[str] = field(default_factory=set)

    def add(self, entry: Entry, hit: Hit, order: int) -> None:
        self.count += 1
        self.sections.add(entry.section)
        stamp = entry.timestamp
        if stamp is not None:
            self.first = stamp if self.first is None or stamp < self.first else self.first
            self.last = stamp if self.last is None or stamp > self.last else self.last
        key = _line_key(entry.message)
        previous = self.lines.get(key)
        self.lines[key] = ((previous[0] if previous else 0) + 1, (stamp or _OLDEST, order), entry)
        self.subjects.update(dict.fromkeys(hit.subjects))
        if hit.note:
            self.notes[hit.note] = None

    def evidence(self, limit: int) -> tuple[list[Evidence], int]:
        """Up to `limit` distinct lines, the most recent of each section first (so every journal
        that shows the failure is quoted), in time order; and how many distinct lines were left out."""
        by_section: dict[str, list[tuple[int, tuple[datetime, int], Entry]]] = {}
        for item in sorted(self.lines.values(), key=lambda item: item[1], reverse=True):
            by_section.setdefault(item[2].section, []).append(item)
        picked: list[tuple[int, tuple[datetime, int], Entry]] = []
        while len(picked) < limit and any(by_section.values()):
            for items in by_section.values():
                if items and len(picked) < limit:
                    picked.append(items.pop(0))
        kept = sorted(picked, key=lambda item: item[1])
        return [
            Evidence(
                section=entry.section,
                timestamp=entry.timestamp,
                source=entry.source,
                text=entry.text[:MAX_EVIDENCE_CHARS],
                count=count,
            )
            for count, _, entry in kept
        ], len(self.lines) - len(kept)


def to_finding(seen: Seen, *, limit: int = MAX_EVIDENCE) -> Finding:
    signature = seen.signature
    evidence, left_out = seen.evidence(limit)
    explanation = " ".join([signature.explanation, *seen.notes])
    if left_out:
        explanation += f" {left_out} more distinct line(s) are not shown; the full output has them."
    return Finding(
        id=signature.id,
        severity=signature.severity,
        title=signature.title,
        explanation=explanation,
        evidence=evidence,
        count=seen.count,
        first_seen=seen.first,
        last_seen=seen.last,
        remediation=signature.remediation,
        subjects=list(seen.subjects),
    )


def plain_finding(signature: Signature, explanation: str, evidence: list[Evidence]) -> Finding:
    return Finding(
        id=signature.id,
        severity=signature.severity,
        title=signature.title,
        explanation=explanation,
        evidence=evidence,
        count=max(len(evidence), 1),
        first_seen=None,
        last_seen=None,
        remediation=signature.remediation,
    )
