"""Split the collected output into sections and clean their lines; `log_entries` makes them entries.

Copes with what real agent output holds: ANSI colour codes, NUL bytes and binary garbage (lines
that are mostly undecodable are dropped and counted), sections cut off from their markers, error
lines recovered from the highlights section, and sizes far beyond what is useful (only the start
and the end of a huge output are analysed, with a note saying so). The timestamp formats, docker's
logfmt and multi-line entries are read in `log_entries`. Never raises on any input text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from . import markers
from .log_entries import Entry, cloud_init_entries, parse_log_lines, parse_timestamp

MAX_ANALYSED_CHARS: Final = 4_000_000
HEAD_CHARS: Final = 256_000  # the start of a cut output: header, highlights, timers and units
MAX_SECTION_LINES: Final = 20_000
MAX_LINE_CHARS: Final = 4_000

_CUT: Final = "\x00cut\x00"  # NULs are removed first, so no input line can equal this
_ANSI: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
    r"|#033\[[0-9;]*[A-Za-z]"  # rsyslog's escaped form
)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLOB: Final = re.compile(r"\[[\d.]+[KMGT]?B? blob data\]$")


@dataclass
class Section:
    name: str
    entries: list[Entry] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)
    begun: bool = False
    complete: bool = False  # both its begin and end markers were seen
    exit_code: int | None = None
    read_error: str | None = None  # the reading command failed; its message instead of a log
    unreadable_lines: int = 0
    blob_lines: int = 0
    cut_lines: int = 0
    from_highlights: int = 0

    @property
    def line_count(self) -> int:
        return len(self.raw_lines)


@dataclass
class Collected:
    sections: dict[str, Section]
    notes: list[str]
    recognised: bool  # the output has the collection layout, or at least log lines
    complete: bool  # the trailer was seen: nothing was cut at the end
    cut: bool  # part of the output was not analysed
    agent_time: datetime | None
    unreadable_reason: str | None  # set when nothing could be read: no log entry in any section

    def log_sections(self) -> list[Section]:
        return [s for name, s in self.sections.items() if name in markers.LOG_SECTIONS]


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _mostly_binary(raw_lines: list[str]) -> bool:
    text = strip_ansi("\n".join(raw_lines))
    visible = len(text) - text.count("\n") - text.count(" ")
    bad = text.count("\ufffd") + len(_CONTROL.findall(text))
    return visible > 0 and bad * 10 > visible


def _clean_lines(raw_lines: list[str], section: Section) -> list[str]:
    """Lines without ANSI codes or control characters. Undecodable lines are dropped and counted;
    a section that is mostly undecodable is dropped whole (its few ASCII runs are not a log)."""
    if _mostly_binary(raw_lines):
        section.unreadable_lines += len(raw_lines)
        return []
    lines: list[str] = []
    for raw in raw_lines:
        line = strip_ansi(raw)
        bad = line.count("\ufffd") + len(_CONTROL.findall(line))
        if bad and bad * 3 > max(len(line.strip()), 1):  # mostly undecodable: binary, not a log line
            section.unreadable_lines += 1
            continue
        line = _CONTROL.sub("", line).replace("\ufffd", "?").rstrip()
        if _BLOB.search(line):  # journalctl without --all hides messages with control characters
            section.blob_lines += 1
        lines.append(line[:MAX_LINE_CHARS])
    return lines


def _status_entries(name: str, lines: list[str]) -> list[Entry]:
    texts = [line.strip() for line in lines if line.strip()]
    return [Entry(name, i, None, "systemctl", None, text) for i, text in enumerate(texts)]


def _split(text: str, notes: list[str]) -> tuple[dict[str, Section], bool, bool, datetime | None, list[str]]:
    """Sections by marker lines. Lines cut off from their begin marker (after a cut) belong to the
    section whose end marker follows them."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    orphans: list[str] = []
    recognised = complete = False
    agent_time: datetime | None = None

    def section(name: str) -> Section:
        return sections.setdefault(name, Section(name))

    for line in text.splitlines():
        if line.startswith("===="):
            stripped = line.rstrip()
            marker = markers.MARKER_RE.match(stripped)
            if marker:
                recognised = True
                name = marker["name"]
                if marker["kind"] == "begin":
                    current = section(name)
                    current.begun = True
                    orphans = []
                    continue
                target = current if current is not None and current.name == name else section(name)
                if target is not current:  # the begin marker was cut off: these lines are its end
                    target.raw_lines.extend(orphans)
                    target.cut_lines += 1
                else:
                    target.complete = target.begun
                target.exit_code = int(marker["exit"]) if marker["exit"] else None
                current, orphans = None, []
                continue
            note = markers.NOTE_RE.match(stripped)
            if note:
                notes.append(note["text"])
                continue
            header = markers.HEADER_RE.match(stripped)
            if header:
                recognised = True
                stamp = re.search(r"time=(\S+)", header["attrs"])
                if stamp:
                    agent_time = parse_timestamp(stamp[1], reference=datetime.now(UTC))
                continue
            if stripped == markers.TRAILER:
                complete = True
                continue
        if line == _CUT:
            if current is not None:
                current.cut_lines += 1
                current, orphans = None, []
            elif recognised:
                orphans = []
            continue
        if current is not None:
            current.raw_lines.append(line)
        else:
            orphans.append(line)
    if current is None and orphans and not recognised:
        section(markers.UNLABELLED).raw_lines.extend(orphans)
        orphans = []
    return sections, recognised, complete, agent_time, orphans


def _cap(text: str, max_chars: int, notes: list[str]) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    head_size = min(HEAD_CHARS, max_chars // 4)
    head = text[:head_size].rpartition("\n")[0]
    tail = text[-(max_chars - head_size) :].partition("\n")[2]
    notes.append(
        f"the output is {len(text):,} characters; analysed its first {len(head):,} and last {len(tail):,}"
    )
    return f"{head}\n{_CUT}\n{tail}", True


def _fill_from_highlights(sections: dict[str, Section], reference: datetime) -> None:
    """Sections cut short (SSM's inline limit) get back the error lines the script listed first."""
    highlights = sections.get(markers.HIGHLIGHTS)
    if highlights is None:
        return
    by_section: dict[str, list[str]] = {}
    for line in highlights.raw_lines:
        name, separator, rest = strip_ansi(line).partition(markers.HIGHLIGHT_SEPARATOR)
        if separator and name in markers.LOG_SECTIONS:
            by_section.setdefault(name, []).append(rest)
    for name, lines in by_section.items():
        target = sections.setdefault(name, Section(name))
        if target.complete:
            continue
        seen = {strip_ansi(line).rstrip()[:300] for line in target.raw_lines}
        missing = [line for line in lines if line.rstrip() not in seen]
        if not missing:
            continue
        cleaned = _clean_lines(missing, target)
        extra = (
            parse_log_lines(name, cleaned, reference=reference)
            if name != markers.CLOUD_INIT
            else cloud_init_entries(cleaned, reference)
        )
        start = len(target.entries)
        target.entries.extend(replace(entry, index=start + i) for i, entry in enumerate(extra))
        target.from_highlights += len(extra)


def parse_collected(
    text: str, *, now: datetime | None = None, max_chars: int = MAX_ANALYSED_CHARS
) -> Collected:
    notes: list[str] = []
    text = text.replace("\x00", "")
    text, cut = _cap(text, max_chars, notes)
    sections, layout, complete, agent_time, orphans = _split(text, notes)
    recognised = layout
    reference = now or agent_time or datetime.now(UTC)
    if orphans:
        notes.append(f"{len(orphans)} line(s) outside any section were ignored")

    for name, section in sections.items():
        if name == markers.HIGHLIGHTS:
            continue
        if len(section.raw_lines) > MAX_SECTION_LINES:
            dropped = len(section.raw_lines) - MAX_SECTION_LINES
            section.raw_lines = section.raw_lines[-MAX_SECTION_LINES:]
            notes.append(f"section {name}: only its last {MAX_SECTION_LINES:,} lines were analysed")
            section.cut_lines += dropped
            cut = True
        lines = _clean_lines(section.raw_lines, section)
        if name in markers.STATUS_SECTIONS:
            section.entries = _status_entries(name, lines)
            continue
        if section.exit_code not in (None, 0, 124) and name in markers.LOG_SECTIONS:
            # The reading command itself failed (e.g. no cloud-init log): its message is not a log.
            first = next((line.strip() for line in lines if line.strip()), "")
            section.read_error = f"exit {section.exit_code}" + (f": {first[:200]}" if first else "")
            continue
        if name == markers.CLOUD_INIT:
            section.entries = cloud_init_entries(lines, reference)
        else:
            section.entries = parse_log_lines(name, lines, reference=reference)

    if markers.UNLABELLED in sections and not any(
        e.timestamp for e in sections[markers.UNLABELLED].entries
    ):  # text without markers counts only if it looks like a log
        sections.pop(markers.UNLABELLED)
    else:
        recognised = recognised or markers.UNLABELLED in sections
    _fill_from_highlights(sections, reference)
    if layout and not complete:
        notes.append("the output ends before the collection script's last line: it was cut or interrupted")
        cut = True
    collected = Collected(sections, notes, recognised, complete or not layout, cut, agent_time, None)
    collected.unreadable_reason = _unreadable_reason(text, collected)
    return collected


def _unreadable_reason(text: str, collected: Collected) -> str | None:
    logs = collected.log_sections()
    if any(section.entries for section in logs):
        return None
    garbage = sum(section.unreadable_lines for section in collected.sections.values())
    if not text.strip():
        return "the command returned no output"
    if not collected.recognised:
        if garbage or _looks_binary(text):
            return "the output is not text (binary data)"
        return "the output has none of the collection script's sections and no recognisable log line"
    if garbage:
        return "the journals hold only unreadable (binary) data"
    errors = [f"{s.name} ({s.read_error})" for s in logs if s.read_error]
    if errors:
        return "reading the journals failed: " + "; ".join(errors)
    if not logs:
        return "the output holds no journal section (it was cut before the first one)"
    return "the journals are empty: the agent has not logged anything yet"


def _looks_binary(text: str) -> bool:
    sample = text[:65_536]
    bad = sample.count("\ufffd") + len(_CONTROL.findall(sample))
    return bad * 10 > len(sample)
