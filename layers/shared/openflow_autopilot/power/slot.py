"""After a start: does the connector consume its replication slot again?

The baseline is read before the connector starts; afterwards the slot's confirmed_flush_lsn must
move past it within a budget (the lag the off period built up shrinks). A slot with (almost)
nothing to catch up cannot show progress and passes with a note.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel

from openflow_autopilot.errors import BudgetExhausted, PreconditionFailed
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.models import WalSample
from openflow_autopilot.postgres.names import check_slot_name

NOTHING_TO_CATCH_UP = 1 * 2**20  # bytes of lag too small to prove anything by


class SlotPosition(BaseModel):
    slot: str
    found: bool
    active: bool | None = None
    confirmed_bytes: int | None = None  # confirmed_flush_lsn as a byte position
    current_bytes: int  # pg_current_wal_lsn() as a byte position
    at: AwareDatetime

    @property
    def lag_bytes(self) -> int | None:
        return None if self.confirmed_bytes is None else max(self.current_bytes - self.confirmed_bytes, 0)

    def sample(self) -> WalSample:
        return WalSample(at=self.at, position_bytes=self.current_bytes)


class SlotCheck(BaseModel):
    attempt: int = 0
    done: bool = False
    baseline: SlotPosition
    latest: SlotPosition | None = None
    note: str | None = None


def read_position(conn: Connection, slot: str, *, at: datetime) -> SlotPosition:
    slot = check_slot_name(slot)
    with translated_errors("reading the replication slot"):
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
            "(SELECT active FROM pg_replication_slots WHERE slot_name = %(s)s), "
            "(SELECT pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint FROM pg_replication_slots "
            " WHERE slot_name = %(s)s), "
            "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %(s)s)",
            {"s": slot},
        ).fetchone()
    assert row is not None
    return SlotPosition(
        slot=slot,
        found=bool(row[3]),
        active=row[1],
        confirmed_bytes=None if row[2] is None else int(row[2]),
        current_bytes=int(row[0]),
        at=at,
    )


def progress(baseline: SlotPosition, latest: SlotPosition) -> tuple[bool, str]:
    """(advanced?, what was seen)."""
    if not latest.found:
        raise PreconditionFailed(
            f"replication slot {latest.slot} does not exist any more: the connector must re-snapshot",
            fix="look at the connector in the Openflow UI; it recreates its slot when it starts",
        )
    if not baseline.found:
        return True, f"slot {latest.slot} was created by the connector (lag {latest.lag_bytes} bytes)"
    lag = baseline.lag_bytes or 0
    if lag <= NOTHING_TO_CATCH_UP:
        return True, f"slot {latest.slot} had only {lag} bytes to catch up: nothing to prove"
    if (latest.confirmed_bytes or 0) > (baseline.confirmed_bytes or 0):
        moved = (latest.confirmed_bytes or 0) - (baseline.confirmed_bytes or 0)
        return True, (
            f"slot {latest.slot} advances: confirmed {moved} bytes since the start, lag {lag} -> "
            f"{latest.lag_bytes} bytes"
        )
    return (
        False,
        f"slot {latest.slot} has not advanced yet (lag {latest.lag_bytes} bytes, active={latest.active})",
    )


def check_slot(latest: SlotPosition, state: SlotCheck, *, max_checks: int) -> SlotCheck:
    attempt = state.attempt + 1
    advanced, note = progress(state.baseline, latest)
    if not advanced and attempt >= max_checks:
        raise BudgetExhausted(
            f"the connector is RUNNING but its replication slot did not advance within {attempt} "
            f"checks: {note}",
            fix="look at the connector's bulletins in the Openflow UI (credentials, network to the source)",
        )
    return SlotCheck(attempt=attempt, done=advanced, baseline=state.baseline, latest=latest, note=note)
