"""The canary row that proves rows replicate: a row inserted at the source must appear in Snowflake.
The workflow owns a small canary table in the source (created here, added to the publication and to
the connector's table list); `insert_canary` writes one row and remembers where the WAL and the
connector's slot were, `find_canary` looks for it in the destination (one SELECT per call: no
sleeping here), `canary_report` gives the latency, `remove_canary` deletes it at the source. The
provisioning's verify phase, the power workflow's start check and the watch's heartbeat all use it.
Destination naming is data in openflow/connector_parameters.py: the connector creates a table named
like the source one (case kept) in the destination database: DB."public"."openflow_autopilot_canary".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg import sql as pgsql
from pydantic import BaseModel

from openflow_autopilot.errors import AutopilotError, PreconditionFailed
from openflow_autopilot.openflow.connector_parameters import destination_identifier, destination_table
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.names import TableName, check_slot_name, parse_identifier, parse_table_name
from openflow_autopilot.snowflake.identifiers import literal
from openflow_autopilot.snowflake.session import Sql

CANARY_TABLE = TableName("public", "openflow_autopilot_canary")
_CREATE = """CREATE TABLE IF NOT EXISTS {table} (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    note text
)"""


class Canary(BaseModel):
    """One inserted canary row (small, JSON-able: it travels in the state machine's payload)."""

    id: str
    schema_name: str
    table_name: str
    inserted_at: str  # ISO 8601, the source's clock
    lsn: str  # the source's WAL position once the insert was committed
    slot_lsn_at_insert: str | None = None  # the connector slot's confirmed_flush_lsn at that moment

    @property
    def table(self) -> TableName:
        return TableName(self.schema_name, self.table_name)


class FoundCanary(BaseModel):
    id: str
    destination_table: str
    seen_at: str
    latency_seconds: float


def lsn_value(lsn: str) -> int:
    """'16/B374D848' -> an integer that orders like the WAL position."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


# -- source side ------------------------------------------------------------------------------------
def _table_name(table: TableName | str) -> TableName:
    return table if isinstance(table, TableName) else parse_table_name(table, "canary table")


def ensure_canary_table(
    pg_conn: Connection,
    *,
    publication: str,
    table: TableName | str = CANARY_TABLE,
    grant_select_to: str | None = None,
) -> list[str]:
    """Create the canary table, add it to the publication, let the connector's role read it.
    Returns what was done (empty on a second run)."""
    t = _table_name(table)
    pub = parse_identifier(publication, "publication")
    done: list[str] = []
    with translated_errors("preparing the canary table"):
        exists = pg_conn.execute("SELECT to_regclass(%s) IS NOT NULL", [t.identifier().as_string(pg_conn)])
        row = exists.fetchone()
        if not (row and row[0]):
            pg_conn.execute(pgsql.SQL(_CREATE).format(table=t.identifier()))
            done.append(f"created table {t}")
        published = pg_conn.execute(
            "SELECT p.puballtables OR EXISTS (SELECT 1 FROM pg_publication_tables pt "
            "WHERE pt.pubname = p.pubname AND pt.schemaname = %s AND pt.tablename = %s) "
            "FROM pg_publication p WHERE p.pubname = %s",
            [t.schema, t.name, pub],
        ).fetchone()
        if published is None:
            raise PreconditionFailed(
                f"publication {pub} does not exist in the source database", fix="run the source phase first"
            )
        if not published[0]:
            pg_conn.execute(
                pgsql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(pgsql.Identifier(pub), t.identifier())
            )
            done.append(f"added {t} to publication {pub}")
        if grant_select_to:
            role = parse_identifier(grant_select_to, "connector user")
            allowed = pg_conn.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT')", [role, t.identifier().as_string(pg_conn)]
            ).fetchone()
            if not (allowed and allowed[0]):
                pg_conn.execute(
                    pgsql.SQL("GRANT SELECT ON {} TO {}").format(t.identifier(), pgsql.Identifier(role))
                )
                done.append(f"granted SELECT on {t} to {role}")
    return done


def create_canary_table(pg_conn: Connection, table: TableName | str = CANARY_TABLE) -> list[str]:
    """Only the table (no publication yet): the source phase then publishes it with the others."""
    t = _table_name(table)
    with translated_errors("creating the canary table"):
        row = pg_conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [t.identifier().as_string(pg_conn)]
        ).fetchone()
        if row and row[0]:
            return []
        pg_conn.execute(pgsql.SQL(_CREATE).format(table=t.identifier()))
    return [f"created table {t}"]


def slot_position(pg_conn: Connection, slot_name: str) -> tuple[bool, bool | None, str | None, int | None]:
    """(exists, active, confirmed_flush_lsn, retained WAL bytes) of a replication slot."""
    row = pg_conn.execute(
        "SELECT active, confirmed_flush_lsn::text, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
        "FROM pg_replication_slots WHERE slot_name = %s",
        [check_slot_name(slot_name, "slot_name")],
    ).fetchone()
    if row is None:
        return False, None, None, None
    return True, bool(row[0]), row[1], None if row[2] is None else int(row[2])


def insert_canary(
    pg_conn: Connection,
    *,
    table: TableName | str = CANARY_TABLE,
    slot_name: str | None = None,
    note: str = "openflow-autopilot verification",
) -> Canary:
    """Insert one canary row (autocommit connection) and remember where the WAL and the slot were."""
    t = _table_name(table)
    canary_id = str(uuid.uuid4())
    with translated_errors("inserting the canary row"):
        slot_lsn = slot_position(pg_conn, slot_name)[2] if slot_name else None
        row = pg_conn.execute(
            pgsql.SQL("INSERT INTO {} (id, note) VALUES (%s, %s) RETURNING created_at").format(
                t.identifier()
            ),
            [canary_id, note],
        ).fetchone()
        lsn = pg_conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    if row is None or lsn is None:
        raise PreconditionFailed(f"inserting into {t} returned nothing")
    created: datetime = row[0]
    return Canary(
        id=canary_id,
        schema_name=t.schema,
        table_name=t.name,
        inserted_at=created.astimezone(UTC).isoformat(),
        lsn=str(lsn[0]),
        slot_lsn_at_insert=slot_lsn,
    )


def remove_canary(pg_conn: Connection, canary: Canary) -> str:
    """Delete the canary row at the source (the connector replicates the delete)."""
    with translated_errors("removing the canary row"):
        done = pg_conn.execute(
            pgsql.SQL("DELETE FROM {} WHERE id = %s").format(canary.table.identifier()), [canary.id]
        )
    return f"deleted {done.rowcount} canary row(s) {canary.id} from {canary.table}"


# -- destination side -------------------------------------------------------------------------------
def _missing_object(exc: AutopilotError) -> bool:
    return isinstance(exc, PreconditionFailed) and "does not exist" in exc.message


def find_canary(
    sql: Sql, *, destination_database: str, canary: Canary, now: datetime | None = None
) -> FoundCanary | None:
    """One look for the canary in the destination; None while it (or its table) is not there yet."""
    table = destination_table(destination_database, canary.table)
    canary_id = str(uuid.UUID(canary.id))  # only a well-formed UUID reaches the SQL
    # identifiers are quoted by one helper, the value is a parsed UUID: nothing raw reaches the SQL
    id_column = destination_identifier("id")
    statement = f"SELECT {id_column} AS canary_id FROM {table} WHERE {id_column} = {literal(canary_id)}"  # noqa: S608
    try:
        rows = sql.query(statement)
    except AutopilotError as exc:
        if _missing_object(exc):
            return None
        raise
    if not rows:
        return None
    seen = (now or datetime.now(UTC)).astimezone(UTC)
    latency = (seen - datetime.fromisoformat(canary.inserted_at)).total_seconds()
    return FoundCanary(
        id=canary.id, destination_table=table, seen_at=seen.isoformat(), latency_seconds=round(latency, 3)
    )


def canary_report(canary: Canary, found: FoundCanary, *, polls: int | None = None) -> dict[str, Any]:
    """What the verify phase reports: where the row went and how long it took."""
    report: dict[str, Any] = {
        "canary_id": canary.id,
        "source_table": str(canary.table),
        "destination_table": found.destination_table,
        "inserted_at": canary.inserted_at,
        "seen_at": found.seen_at,
        "latency_seconds": found.latency_seconds,
    }
    if polls is not None:
        report["polls"] = polls
    return report
