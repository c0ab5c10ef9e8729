"""One log section's cleaned lines as entries: the `Entry` type, timestamps, logfmt and multi-line blocks.

Reads journalctl `short-iso` and classic (`Jun 23 06:12:24 host unit[pid]: msg`) timestamps,
cloud-init's `2025-06-23 06:05:12,345 - ` prefix, docker's logfmt (`time="..." level=error msg="..."`)
and multi-line entries (indented continuation lines, Python tracebacks, terraform's boxed
diagnostics, the Snowflake CLI's error panels). `journal` cuts the output into sections and cleans
their lines first. Never raises on any input text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from . import markers

MAX_BLOCK_LINES: Final = 30

_JOURNAL_META: Final = re.compile(r"^-- .* --$")

_ISO: Final = r"(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CLASSIC: Final = (
    rf"(?P<classic>(?P<mon>{'|'.join(_MONTHS)}) (?P<day>[ \d]\d) "
    r"(?P<clock>\d{2}:\d{2}:\d{2})(?:\.\d+)?)"
)
# The host is optional (`journalctl --no-hostname`); it cannot hold [ ] or :, so an identifier
# like `sync-images.sh[123]:` is never taken for a host.
_JOURNAL_LINE: Final = re.compile(
    rf"^(?:{_ISO}|{_CLASSIC}) (?:(?P<host>[^\s\[\]:]+) )?"
    r"(?P<ident>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$"
)
_CLOUD_INIT_LINE: Final = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:,\d+)? - "
    r"(?P<ident>[\w.-]+)\[(?P<level>[A-Z]+)\]: ?(?P<msg>.*)$"
)
_LOGFMT_PAIR: Final = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


@dataclass(frozen=True, slots=True)
class Entry:
    section: str
    index: int  # position in its section: the order when timestamps are missing
    timestamp: datetime | None
    source: str  # the journal identifier (dockerd, sync-images.sh, systemd) or cloud-init's module
    level: str | None  # docker's level=..., cloud-init's [WARNING]; None when the line has none
    message: str  # cleaned; several lines for multi-line entries

    @property
    def first_line(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def text(self) -> str:
        """The message for display: each line without its leading blanks."""
        return "\n".join(line.strip() for line in self.message.split("\n"))


def parse_timestamp(text: str, *, reference: datetime) -> datetime | None:
    """ISO (journalctl short-iso, docker), cloud-init's `YYYY-MM-DD HH:MM:SS` and classic syslog
    `Jun 23 06:12:24` (no year: the latest one not after `reference`). Naive times are UTC."""
    text = text.strip()
    try:
        if text[:1].isdigit():
            stamp = datetime.fromisoformat(text.replace(",", "."))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        classic = re.match(rf"^{_CLASSIC}$", text)
        if classic is None:
            return None
        month = _MONTHS.index(classic["mon"]) + 1
        hour, minute, second = (int(part) for part in classic["clock"].split(":"))
        stamp = datetime(reference.year, month, int(classic["day"]), hour, minute, second, tzinfo=UTC)
        if stamp > reference + timedelta(days=2):
            stamp = stamp.replace(year=reference.year - 1)
        return stamp
    except ValueError:
        return None


def _logfmt(message: str) -> tuple[str | None, str, str | None]:
    """docker's `time="..." level=error msg="..."`: (level, msg[: error], time) or (None, message, None)."""
    if "level=" not in message:
        return None, message, None
    pairs = {key: value for key, value in _LOGFMT_PAIR.findall(message)}
    if "level" not in pairs or ("msg" not in pairs and "time" not in pairs):
        return None, message, None

    def unquote(value: str) -> str:
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return value

    text = unquote(pairs.get("msg", message))
    if "error" in pairs:
        text = f"{text}: {unquote(pairs['error'])}"
    return unquote(pairs["level"]).lower(), text, unquote(pairs["time"]) if "time" in pairs else None


def _parse_line(name: str, line: str, index: int, reference: datetime) -> Entry | None:
    journal = _JOURNAL_LINE.match(line)
    if journal:
        level, message, docker_time = _logfmt(journal["msg"])
        stamp = parse_timestamp(journal["iso"] or journal["classic"], reference=reference)
        if stamp is None and docker_time:
            stamp = parse_timestamp(docker_time, reference=reference)
        # Leading blanks stay: they tell a traceback's frames from its exception line.
        return Entry(name, index, stamp, journal["ident"], level, message.rstrip())
    cloud = _CLOUD_INIT_LINE.match(line)
    if cloud:
        stamp = parse_timestamp(cloud["ts"], reference=reference)
        return Entry(name, index, stamp, cloud["ident"], cloud["level"].lower(), cloud["msg"].rstrip())
    return None


def parse_log_lines(name: str, lines: list[str], *, reference: datetime) -> list[Entry]:
    """Entries of one log section: one per line, with indented continuation lines joined to a
    timestamped entry, then tracebacks and terraform boxes joined into one entry each."""
    entries: list[Entry] = []
    continuations = 0
    for line in lines:
        if not line.strip() or _JOURNAL_META.match(line.strip()):
            continue
        entry = _parse_line(name, line, len(entries), reference)
        if entry is not None:
            entries.append(entry)
            continuations = 0
            continue
        previous = entries[-1] if entries else None
        if (
            previous is not None
            and line[:1] in (" ", "\t")
            and previous.timestamp is not None
            and continuations < MAX_BLOCK_LINES
        ):
            entries[-1] = replace(previous, message=f"{previous.message}\n{line.strip()}")
            continuations += 1
            continue
        level, message, docker_time = _logfmt(line.strip())
        stamp = parse_timestamp(docker_time, reference=reference) if docker_time else None
        entries.append(Entry(name, len(entries), stamp, "", level, message))
        continuations = 0
    return _join_blocks(entries)


# Blocks the journal stores one line per entry: a Python traceback, terraform's `╷ │ ╵`
# diagnostics, and the Snowflake CLI's `╭ │ ╰` error panels.
_BOX_END: Final = {"terraform": "╵", "panel": "╰"}


def _opens_block(message: str) -> str | None:
    if message.startswith("Traceback (most recent call last)"):
        return "traceback"
    if message.startswith("╷"):
        return "terraform"
    if message.startswith("╭"):
        return "panel"
    return None


def _continues_block(kind: str, message: str, raw_indent: bool) -> bool:
    if kind in _BOX_END:
        return message.startswith(("│", _BOX_END[kind]))
    return raw_indent or message.startswith("File ")


def _join_blocks(entries: list[Entry]) -> list[Entry]:
    """Join each block (a traceback through its exception line, a box through its closing
    corner) into a single entry."""
    joined: list[Entry] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        kind = _opens_block(entry.message)
        if kind is None:
            joined.append(replace(entry, index=len(joined)))
            i += 1
            continue
        lines = [entry.message]
        j = i + 1
        while j < len(entries) and len(lines) < MAX_BLOCK_LINES and entries[j].source == entry.source:
            message = entries[j].message
            if _continues_block(kind, message, message[:1] in (" ", "\t")):
                lines.append(message)
                j += 1
                if kind in _BOX_END and message.startswith(_BOX_END[kind]):
                    break
                continue
            if kind == "traceback":  # the exception line ends a traceback
                lines.append(message)
                j += 1
            break
        joined.append(replace(entry, index=len(joined), message="\n".join(lines)))
        i = j
    return joined


def cloud_init_entries(lines: list[str], reference: datetime) -> list[Entry]:
    # cloud-init-output.log is mostly plain program output: one entry per line, indented lines
    # included (dnf's transaction lists), tracebacks joined.
    entries: list[Entry] = []
    for line in lines:
        if not line.strip():
            continue
        entry = _parse_line(markers.CLOUD_INIT, line, len(entries), reference)
        if entry is None:
            entry = Entry(markers.CLOUD_INIT, len(entries), None, "", None, line.rstrip())
        entries.append(entry)
    return _join_blocks(entries)
