"""Proof that rows replicate, when it fails: what was seen on the way.

The canary row itself (the table, inserting it at the source, looking for it in Snowflake) is in
openflow/canary.py. When the verify phase's budget is spent, `verification_failure` says what was
seen: whether the connector's replication slot moved past the canary (read from
pg_replication_slots), and the connector's status.
"""

from __future__ import annotations

from pydantic import BaseModel

from openflow_autopilot.errors import AutopilotError, BudgetExhausted
from openflow_autopilot.openflow.canary import Canary, lsn_value, slot_position
from openflow_autopilot.openflow.connector_parameters import destination_table
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.snowflake.identifiers import qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql


class VerificationDiagnosis(BaseModel):
    canary_id: str
    destination_table: str
    slot_name: str
    slot_exists: bool
    slot_active: bool | None = None
    canary_lsn: str
    confirmed_flush_lsn_at_insert: str | None = None
    confirmed_flush_lsn_now: str | None = None
    slot_advanced: bool | None = None  # moved at all since the canary was inserted
    slot_passed_canary: bool | None = None  # consumed up to (or beyond) the canary's commit
    retained_wal_bytes: int | None = None
    connector: str | None = None
    connector_status: str | None = None
    message: str


def _connector_status(sql: Sql, connector: str) -> str:
    try:
        name = qualified(*split_qualified(connector, 3, "connector"))
        rows = sql.query(f"DESC OPENFLOW CONNECTOR {name}")
    except AutopilotError as exc:
        return f"unknown ({exc.message})"
    return str(rows[0].get("status") or "unknown").upper() if rows else "missing"


def diagnose_verification(
    pg_conn: Connection,
    sql: Sql,
    *,
    canary: Canary,
    slot_name: str,
    destination_database: str,
    connector: str | None = None,
) -> VerificationDiagnosis:
    """What was seen when the canary did not arrive: the slot's progress and the connector's status."""
    with translated_errors("reading the replication slot"):
        exists, active, confirmed, retained = slot_position(pg_conn, slot_name)
    status = _connector_status(sql, connector) if connector else None
    table = destination_table(destination_database, canary.table)
    advanced = passed = None
    parts: list[str] = [f"canary {canary.id} was not found in {table}."]
    if not exists:
        parts.append(
            f"Replication slot {slot_name} does not exist: the connector never connected to the source "
            "(check the connection URL, the user's replication privilege and the network path from the "
            "runtime)."
        )
    else:
        before = canary.slot_lsn_at_insert
        advanced = confirmed is not None and (before is None or lsn_value(confirmed) > lsn_value(before))
        passed = confirmed is not None and lsn_value(confirmed) >= lsn_value(canary.lsn)
        where = f"confirmed_flush_lsn {before or 'unknown'} at insert, {confirmed or 'none'} now"
        if passed:
            parts.append(
                f"Slot {slot_name} advanced past the canary ({where}; canary at {canary.lsn}): the connector "
                "read the change but the row is not in the destination: check the connector's destination "
                "settings and its errors in the Openflow UI."
            )
        elif advanced:
            parts.append(
                f"Slot {slot_name} advanced but not yet past the canary ({where}; canary at {canary.lsn}): "
                "the connector is behind; a longer wait may be enough."
            )
        else:
            parts.append(
                f"Slot {slot_name} did not advance ({where}; canary at {canary.lsn}; "
                f"{'in use' if active else 'not in use by any connection'}): the connector is not consuming "
                "changes."
            )
        if retained is not None:
            parts.append(f"The slot retains {retained} bytes of WAL.")
    if connector:
        parts.append(f"Connector {connector} is {status}.")
    return VerificationDiagnosis(
        canary_id=canary.id,
        destination_table=table,
        slot_name=slot_name,
        slot_exists=exists,
        slot_active=active,
        canary_lsn=canary.lsn,
        confirmed_flush_lsn_at_insert=canary.slot_lsn_at_insert,
        confirmed_flush_lsn_now=confirmed,
        slot_advanced=advanced,
        slot_passed_canary=passed,
        retained_wal_bytes=retained,
        connector=connector,
        connector_status=status,
        message=" ".join(parts),
    )


def verification_failure(
    pg_conn: Connection,
    sql: Sql,
    *,
    canary: Canary,
    slot_name: str,
    destination_database: str,
    connector: str | None = None,
    polls: int | None = None,
) -> BudgetExhausted:
    """The error that fails the execution when the canary never arrived (raise it)."""
    diagnosis = diagnose_verification(
        pg_conn,
        sql,
        canary=canary,
        slot_name=slot_name,
        destination_database=destination_database,
        connector=connector,
    )
    waited = f" after {polls} polls" if polls is not None else ""
    return BudgetExhausted(
        f"verification failed{waited}: {diagnosis.message}",
        fix="fix what the message names, then start the workflow again with the same request "
        "(finished phases take no action)",
    )
