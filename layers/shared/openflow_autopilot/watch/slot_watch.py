"""The replication slot, seen by the watch: retained WAL, wal_status, whether confirmed_flush_lsn
moved since the last run, and how long the WAL can keep growing.

postgresql.org/docs/15/view-pg-replication-slots.html: wal_status is reserved, extended, unreserved
or lost; "unreserved" means the slot will lose required WAL at the next checkpoint, "lost" that it
already has. The headroom (hours until the free storage, or max_slot_wal_keep_size, is used up at
the measured WAL rate) and its 72 h / 24 h levels are the WAL guard's (postgres/wal_guard.py): the
connector docs ask for 72 hours of WAL on the source.
"""

from __future__ import annotations

from datetime import datetime

from openflow_autopilot.postgres.connection import Connection
from openflow_autopilot.postgres.models import WalReport, WalSample
from openflow_autopilot.postgres.wal_guard import check_wal, fits_off_period
from openflow_autopilot.power.slot import read_position
from openflow_autopilot.watch.models import Finding, SlotReading

GIB = 2**30


def read_slot(
    conn: Connection, slot: str, *, at: datetime, previous: WalSample | None, free_storage_bytes: int | None
) -> tuple[SlotReading, WalReport]:
    usable = previous if previous is not None and previous.at < at else None
    report = check_wal(conn, slot, now=at, previous=usable, free_storage_bytes=free_storage_bytes)
    position = read_position(conn, slot, at=at)
    reading = SlotReading(
        slot=slot,
        found=report.slot_found,
        active=report.active,
        wal_status=report.wal_status,
        retained_bytes=report.retained_bytes,
        confirmed_bytes=position.confirmed_bytes,
        current_bytes=position.current_bytes,
        free_storage_bytes=free_storage_bytes,
        rate_bytes_per_second=report.rate_bytes_per_second,
        hours_until_full=report.headroom_hours,
        at=at,
    )
    return reading, report


def stalled(reading: SlotReading, last: SlotReading | None) -> bool:
    """A whole interval with WAL to consume and nothing confirmed: at the last run there was WAL
    past confirmed_flush_lsn, and confirmed_flush_lsn has not moved since."""
    if last is None or not last.found or not reading.found:
        return False
    if reading.confirmed_bytes is None or last.confirmed_bytes is None or last.current_bytes is None:
        return False
    return reading.confirmed_bytes <= last.confirmed_bytes and last.current_bytes > last.confirmed_bytes


def _size(n: int | None) -> str:
    return "unknown" if n is None else f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / 2**20:.1f} MiB"


def slot_findings(
    reading: SlotReading,
    report: WalReport,
    *,
    last: SlotReading | None,
    pipeline_on: bool,
    warn_bytes: int,
    off_hours_left: float | None = None,
) -> tuple[list[Finding], bool]:
    """(findings, wake early?). `off_hours_left`: while asleep, the hours until the next scheduled
    start; a WAL budget that does not cover them (the WAL guard's rule at stop time) wakes it."""
    slot = reading.slot
    if not reading.found:
        return [
            Finding(
                kind="slot_missing",
                severity="critical",
                message=f"replication slot {slot} does not exist: the connector will re-snapshot its tables",
                fix="start the connector (it creates its slot); look for who dropped it",
            )
        ], False
    findings: list[Finding] = []
    if reading.wal_status in ("lost", "unreserved"):
        findings.append(
            Finding(
                kind=f"slot_{reading.wal_status}",
                severity="critical",
                status=reading.wal_status,
                message=(
                    f"slot {slot} wal_status is {reading.wal_status}: "
                    + (
                        "required WAL was removed, the connector must re-snapshot"
                        if reading.wal_status == "lost"
                        else "it will lose required WAL at the next checkpoint"
                    )
                ),
                fix="start the connector now; raise max_slot_wal_keep_size or storage",
            )
        )
    retained = reading.retained_bytes or 0
    if retained >= warn_bytes:
        findings.append(
            Finding(
                kind="wal_retained",
                severity="warning",
                message=f"slot {slot} retains {_size(retained)} of WAL (warning at {_size(warn_bytes)})",
                fix="make sure the connector runs; look at its lag in the Openflow UI",
            )
        )
    headroom = report.headroom_hours
    if report.level in ("warning", "critical") and headroom is not None:
        findings.append(
            Finding(
                kind="wal_budget",
                severity=report.level,
                message=f"{report.message} ({_size(reading.free_storage_bytes)} free)",
                fix="keep the connector running, add storage, or lower the WAL written",
            )
        )
    wake = False
    if pipeline_on and stalled(reading, last):
        findings.append(
            Finding(
                kind="slot_stalled",
                severity="warning",
                message=(
                    f"slot {slot} confirmed_flush_lsn has not advanced since the last run "
                    f"(lag {_size((reading.current_bytes or 0) - (reading.confirmed_bytes or 0))}, "
                    f"active={reading.active})"
                ),
                fix="look at the connector's errors in the event table and its lag in the Openflow UI",
            )
        )
    asleep = not pipeline_on and off_hours_left is not None and report.level != "unknown"
    if asleep and off_hours_left is not None and not fits_off_period(report, off_hours_left):
        wake = True
        findings = [f for f in findings if f.kind != "wal_budget"]
        findings.append(
            Finding(
                kind="wal_budget",
                severity="critical" if report.level == "critical" else "warning",
                message=(
                    f"asleep for {off_hours_left:.1f} h more, but {report.message}: "
                    "the pipeline is woken early"
                ),
                fix="the power workflow starts it now; shorten the off hours or add storage",
            )
        )
    if not findings:
        findings.append(
            Finding(
                kind="slot",
                severity="ok",
                message=f"slot {slot}: {_size(retained)} retained, wal_status {reading.wal_status}"
                + ("" if reading.advanced is None else f", advanced={reading.advanced}"),
            )
        )
    return findings, wake
