"""The WAL guard's verdict on a stop: a stopped connector keeps its replication slot, so the source
keeps all WAL written while it is off. Stop only if the headroom (hours until the disk fills or
the slot hits max_slot_wal_keep_size, at the measured WAL rate) covers the off period with a
margin; otherwise refuse, or, if the request allows (`schedule.shorten_stops`), stop for only as
long as is safe and start again early. Pure: the report and the times are inputs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from openflow_autopilot.postgres.models import WalReport, WalSample
from openflow_autopilot.postgres.wal_guard import fits_off_period

Verdict = Literal["allow", "refuse", "shorten", "measure"]
MARGIN = 1.25
DEFAULT_OFF_HOURS = 72.0  # no schedule: assume the connector docs' 72 hours
MIN_STOP_HOURS = 1.0  # a shortened stop shorter than this is not worth it: refuse instead
MAX_SAMPLE_AGE = timedelta(days=14)  # an older sample says little about today's WAL rate
_GIB = 2**30
_MIB = 2**20


class WalVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Verdict
    reason: str
    off_hours: float
    needed_hours: float
    headroom_hours: float | None = None
    restart_at: AwareDatetime | None = None
    level: str | None = None
    first_sample: WalSample | None = None  # carried between measuring polls
    attempt: int = 0


def usable_sample(previous: WalSample | None, at: datetime, window_seconds: float) -> bool:
    """A previous sample gives a rate if it is at least `window_seconds` old (a short window on an
    idle database reads as zero growth) and not older than MAX_SAMPLE_AGE."""
    if previous is None:
        return False
    age = at - previous.at
    return timedelta(seconds=max(window_seconds, 1)) <= age <= MAX_SAMPLE_AGE


def _numbers(report: WalReport) -> str:
    parts = []
    if report.free_storage_bytes is not None:
        parts.append(f"free storage {report.free_storage_bytes / _GIB:.1f} GiB")
    if report.retained_bytes is not None:
        parts.append(f"retained by the slot {report.retained_bytes / _GIB:.2f} GiB")
    if report.rate_bytes_per_second is not None:
        parts.append(f"WAL rate {report.rate_bytes_per_second * 3600 / _MIB:.0f} MiB/h")
    return ", ".join(parts)


def judge(
    report: WalReport,
    *,
    off_hours: float | None,
    at: datetime,
    allow_shorten: bool,
    margin: float = MARGIN,
    min_stop_hours: float = MIN_STOP_HOURS,
    attempt: int = 1,
) -> WalVerdict:
    """The verdict for a stop at `at` lasting `off_hours` (None: unknown, DEFAULT_OFF_HOURS)."""
    off = off_hours if off_hours is not None else DEFAULT_OFF_HOURS
    needed = off * margin
    assumed = "" if off_hours is not None else f" (no schedule: {DEFAULT_OFF_HOURS:.0f} h assumed)"
    common = {"off_hours": off, "needed_hours": needed, "level": report.level, "attempt": attempt}
    if not report.slot_found:
        return WalVerdict(
            decision="allow",
            reason=f"slot {report.slot} does not exist, so no WAL is kept for the connector",
            **common,
        )
    headroom = report.headroom_hours
    if fits_off_period(report, off, margin=margin):
        if headroom is None:
            why = f"no limit on the WAL the slot may keep is known ({report.message})"
        else:
            why = f"{headroom:.1f} h of WAL headroom covers the {off:.1f} h off period x {margin}{assumed}"
        return WalVerdict(decision="allow", reason=why, headroom_hours=headroom, **common)
    if report.level == "unknown":
        why = f"the WAL rate could not be measured ({report.message}), so the stop is not safe to judge"
    elif report.level == "critical":
        why = f"the slot's WAL is already critical: {report.message}"
    else:
        why = (
            f"the source can keep the slot's WAL for {headroom:.1f} h, but the {off:.1f} h off period"
            f"{assumed} x {margin} needs {needed:.1f} h"
            if headroom is not None
            else report.message
        )
    numbers = _numbers(report)
    if numbers:
        why += f" ({numbers})"
    if allow_shorten and headroom is not None and report.level != "unknown":
        safe = headroom / margin
        if safe >= min_stop_hours and report.level != "critical":
            restart = at + timedelta(hours=safe)
            return WalVerdict(
                decision="shorten",
                reason=f"stopping for {safe:.1f} h only, until {restart.isoformat(timespec='minutes')}: "
                f"{why}",
                headroom_hours=headroom,
                restart_at=restart,
                **common,
            )
    return WalVerdict(
        decision="refuse",
        reason=f"not stopped: {why}. Fix: add storage to the source, consume the slot, shorten the off "
        "period, or allow shortened stops (schedule.shorten_stops)",
        headroom_hours=headroom,
        **common,
    )
