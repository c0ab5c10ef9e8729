"""WAL guard: how long can the connector's slot stay unconsumed before something breaks?

A stopped connector keeps its replication slot, so the source keeps every WAL byte written
since. At the current WAL rate that fills the disk (RDS `FreeStorageSpace`) or crosses
`max_slot_wal_keep_size` (the slot is invalidated). Time is an input: the caller passes
`now` and the previous `WalSample` (state machines carry it between polls), so nothing here
sleeps. `assess` is pure; `read_*` do the I/O; `check_wal` combines them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql
from psycopg.rows import dict_row

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.models import WalLevel, WalReport, WalSample
from openflow_autopilot.postgres.names import check_slot_name

WARN_HOURS = 72.0  # the connector docs ask for disk for ~72 h of peak WAL
CRITICAL_HOURS = 24.0


@dataclass(frozen=True)
class SlotWal:
    name: str
    active: bool
    wal_status: str | None
    retained_bytes: int | None
    safe_wal_size: int | None  # bytes left before max_slot_wal_keep_size; None when unlimited


# --- pure ----------------------------------------------------------------------------------
def wal_rate(earlier: WalSample, later: WalSample) -> float:
    """Bytes of WAL per second between two samples."""
    seconds = (later.at - earlier.at).total_seconds()
    if seconds <= 0:
        raise InvalidRequest(
            "previous WAL sample is not earlier than now", fix="pass the sample from the previous check"
        )
    return max(later.position_bytes - earlier.position_bytes, 0) / seconds


def _hours(bytes_left: int | None, rate: float | None) -> float | None:
    if bytes_left is None or rate is None or rate <= 0:
        return None
    return max(bytes_left, 0) / rate / 3600


def assess(
    *,
    slot_name: str,
    slot: SlotWal | None,
    sample: WalSample,
    rate_bytes_per_second: float | None,
    free_storage_bytes: int | None,
    warn_hours: float = WARN_HOURS,
    critical_hours: float = CRITICAL_HOURS,
) -> WalReport:
    """Turn measurements into a report with a level: critical < critical_hours <= warning < warn_hours."""
    to_full = _hours(free_storage_bytes, rate_bytes_per_second)
    to_limit = _hours(slot.safe_wal_size if slot else None, rate_bytes_per_second)
    known = [h for h in (to_full, to_limit) if h is not None]
    headroom = min(known) if known else None
    level: WalLevel
    if slot is not None and slot.wal_status == "lost":
        level, message = "critical", f"slot {slot_name} was invalidated: the connector must re-snapshot"
    elif slot is not None and free_storage_bytes is not None and free_storage_bytes <= 0:
        level, message = "critical", "the database has no free storage left"
    elif rate_bytes_per_second is None:
        level, message = "unknown", "WAL rate not measured yet: pass this sample back on the next check"
    elif headroom is None:
        level = "ok"
        message = (
            "no WAL growth measured"
            if rate_bytes_per_second <= 0
            else "no limit known (free storage not given, max_slot_wal_keep_size unlimited)"
        )
    else:
        level = "critical" if headroom < critical_hours else "warning" if headroom < warn_hours else "ok"
        which = "the slot limit" if to_limit is not None and headroom == to_limit else "storage is full"
        message = f"{headroom:.1f} h until {which} at {rate_bytes_per_second / 2**20 * 3600:.1f} MiB/h of WAL"
    if slot is None:
        message = f"slot {slot_name} does not exist (yet); " + message
    return WalReport(
        slot=slot_name,
        slot_found=slot is not None,
        active=slot.active if slot else None,
        wal_status=slot.wal_status if slot else None,
        retained_bytes=slot.retained_bytes if slot else None,
        free_storage_bytes=free_storage_bytes,
        rate_bytes_per_second=rate_bytes_per_second,
        hours_until_storage_full=to_full,
        hours_until_slot_limit=to_limit,
        level=level,
        message=message,
        sample=sample,
    )


def fits_off_period(report: WalReport, off_hours: float, *, margin: float = 1.25) -> bool:
    """Whether the slot can stay unconsumed for `off_hours` (with a safety margin). Unknown -> False."""
    if report.level in ("unknown", "critical"):
        return False
    headroom = report.headroom_hours
    return headroom is None or headroom >= off_hours * margin


# --- I/O -----------------------------------------------------------------------------------
def read_wal_sample(conn: Connection, *, now: datetime) -> WalSample:
    with translated_errors("reading the WAL position"):
        row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint").fetchone()
    assert row is not None
    return WalSample(at=now, position_bytes=int(row[0]))


def read_slot_wal(conn: Connection, slot_name: str) -> SlotWal | None:
    slot_name = check_slot_name(slot_name)
    v13 = conn.info.server_version >= 130000
    query = sql.SQL(
        "SELECT active, {ws} AS wal_status, {sw} AS safe_wal_size, "
        "CASE WHEN restart_lsn IS NULL THEN NULL "
        "ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes "
        "FROM pg_replication_slots WHERE slot_name = %s"
    ).format(
        ws=sql.SQL("wal_status" if v13 else "NULL::text"),
        sw=sql.SQL("safe_wal_size" if v13 else "NULL::bigint"),
    )
    with translated_errors("reading the replication slot"), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, [slot_name]).fetchone()
    if row is None:
        return None
    return SlotWal(
        name=slot_name,
        active=row["active"],
        wal_status=row["wal_status"],
        retained_bytes=row["retained_bytes"],
        safe_wal_size=row["safe_wal_size"],
    )


def check_wal(
    conn: Connection,
    slot_name: str,
    *,
    now: datetime,
    previous: WalSample | None = None,
    rate_bytes_per_second: float | None = None,
    free_storage_bytes: int | None = None,
    warn_hours: float = WARN_HOURS,
    critical_hours: float = CRITICAL_HOURS,
) -> WalReport:
    """Measure and assess. The rate comes from `rate_bytes_per_second` or from `previous` and now."""
    sample = read_wal_sample(conn, now=now)
    rate = rate_bytes_per_second
    if rate is None and previous is not None:
        rate = wal_rate(previous, sample)
    return assess(
        slot_name=slot_name,
        slot=read_slot_wal(conn, slot_name),
        sample=sample,
        rate_bytes_per_second=rate,
        free_storage_bytes=free_storage_bytes,
        warn_hours=warn_hours,
        critical_hours=critical_hours,
    )
