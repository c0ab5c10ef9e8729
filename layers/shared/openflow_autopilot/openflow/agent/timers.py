"""The TIMERS_INACTIVE check: which of the agent's two systemd timers are not active.

It reads the whole units section (`systemctl show`) or, failing that, the timers section
(`systemctl status`), not single entries, so it is no entry matcher: `diagnose` calls it and turns
what it returns (an entry to quote and a `Hit` naming the timer) into the TIMERS_INACTIVE finding.
"""

from __future__ import annotations

import re

from . import markers
from .journal import Section
from .log_entries import Entry
from .matchers import Hit

_TIMERS = ("openflow-sync-images.timer", "openflow-apply-infrastructure.timer")


def inactive_timers(sections: dict[str, Section]) -> list[tuple[Entry, Hit]]:
    """Timers not active, from `systemctl show` (units) or, failing that, `systemctl status` (timers)."""
    units = sections.get(markers.UNITS)
    if units is not None and any(e.message.startswith("Id=") for e in units.entries):
        return _from_show(units)
    timers = sections.get(markers.TIMERS)
    if timers is not None and timers.entries:
        return _from_status(timers)
    return []


def _from_show(section: Section) -> list[tuple[Entry, Hit]]:
    found: list[tuple[Entry, Hit]] = []
    block: dict[str, str] = {}
    anchor: Entry | None = None

    def close() -> None:
        unit = block.get("Id", "")
        if unit in _TIMERS and anchor is not None:
            load, active = block.get("LoadState", ""), block.get("ActiveState", "")
            if load == "not-found" or active not in ("active", "reloading", "activating"):
                keys = ("LoadState", "ActiveState", "SubState", "UnitFileState")
                state = " ".join(f"{k}={block[k]}" for k in keys if k in block)
                found.append((_entry_like(anchor, f"{unit}: {state}"), Hit((unit,))))

    for entry in section.entries:
        key, separator, value = entry.message.partition("=")
        if not separator:
            continue
        if key == "Id":
            close()
            block, anchor = {}, entry
        block[key] = value
    close()
    return found


def _from_status(section: Section) -> list[tuple[Entry, Hit]]:
    found: list[tuple[Entry, Hit]] = []
    unit: str | None = None
    for entry in section.entries:
        text = entry.message
        missing = re.search(r"Unit (\S+\.timer) could not be found", text)
        if missing and missing[1] in _TIMERS:
            found.append((entry, Hit((missing[1],))))
            continue
        header = re.match(r"^[●○\u00d7*]?\s*(\S+\.timer)\b", text)  # the state dot systemctl prints
        if header:
            unit = header[1]
            continue
        active = re.match(r"^Active: (\S+)", text)
        if active and unit in _TIMERS and active[1] not in ("active", "activating", "reloading"):
            found.append((_entry_like(entry, f"{unit}: {text}"), Hit((unit,))))
    return found


def _entry_like(entry: Entry, message: str) -> Entry:
    return Entry(entry.section, entry.index, entry.timestamp, entry.source, entry.level, message)
