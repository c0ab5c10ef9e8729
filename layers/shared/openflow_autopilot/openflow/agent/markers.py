"""The collected output's layout: a header line, sections between begin/end marker lines, notes, a trailer.

The collection script writes it on the agent and `journal.parse_collected` reads it back. Marker
lines start at column 0 and journal lines always start with a timestamp, so a journal line cannot
be taken for a marker. `render_collected_output` writes the same layout from Python (for tests and
for anything that simulates an agent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final

FORMAT_VERSION: Final = 1

# Section names, in the order the script prints them: small, decisive sections first, so a
# truncated inline output still holds them.
HIGHLIGHTS: Final = "highlights"
TIMERS: Final = "timers"
UNITS: Final = "units"
SYNC_IMAGES: Final = "sync-images"
APPLY_INFRASTRUCTURE: Final = "apply-infrastructure"
DOCKER: Final = "docker"
CLOUD_INIT: Final = "cloud-init"
UNLABELLED: Final = "output"  # text without markers that still looks like a log

SECTION_ORDER: Final = (HIGHLIGHTS, TIMERS, UNITS, SYNC_IMAGES, APPLY_INFRASTRUCTURE, DOCKER, CLOUD_INIT)
LOG_SECTIONS: Final = frozenset({SYNC_IMAGES, APPLY_INFRASTRUCTURE, DOCKER, CLOUD_INIT, UNLABELLED})
STATUS_SECTIONS: Final = frozenset({TIMERS, UNITS})

HEADER_PREFIX: Final = f"==== openflow-autopilot agent collect v{FORMAT_VERSION}"
TRAILER: Final = "==== openflow-autopilot agent collect end ===="
HIGHLIGHT_SEPARATOR: Final = "| "

HEADER_RE: Final = re.compile(
    r"^==== openflow-autopilot agent collect v(?P<version>\d+)(?P<attrs>.{0,300}?) ====$"
)
MARKER_RE: Final = re.compile(
    r"^==== (?P<kind>begin|end) section (?P<name>[a-z0-9-]{1,40})(?: exit=(?P<exit>-?\d{1,5}))? ====$"
)
NOTE_RE: Final = re.compile(r"^==== note: (?P<text>.{1,500}) ====$")


def begin_line(name: str) -> str:
    return f"==== begin section {name} ===="


def end_line(name: str, exit_code: int | str) -> str:
    return f"==== end section {name} exit={exit_code} ===="


def note_line(text: str) -> str:
    """A note the reader of the output adds (e.g. 'inline output truncated'); kept on one line."""
    flat = " ".join(text.split())[:500]
    return f"==== note: {flat} ===="


def header_line(host: str, time: str) -> str:
    return f"{HEADER_PREFIX} host={host} time={time} ===="


def render_collected_output(
    sections: Mapping[str, str],
    *,
    exit_codes: Mapping[str, int] | None = None,
    host: str = "agent",
    time: datetime | None = None,
    complete: bool = True,
) -> str:
    """Write sections in the collection script's layout (sections in the given order)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ") if time else "unknown"
    lines = [header_line(host, stamp)]
    for name, body in sections.items():
        lines.append(begin_line(name))
        lines.extend(body.splitlines())
        lines.append(end_line(name, (exit_codes or {}).get(name, 0)))
    if complete:
        lines.append(TRAILER)
    return "\n".join(lines) + "\n"
