"""Freshness: a heartbeat row written at the source each run, looked for in Snowflake.

The row goes into the canary table the provisioning workflow owns (openflow/canary.py: it is in the
publication and in the connector's table list), so it travels the same path as the data, and it
keeps the slot advancing on an idle database. Heartbeats older than a day are deleted at the
source (the connector replicates the delete). A heartbeat not seen within one run stays pending
and is looked for again next run; its latency is then measured to that run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import sql as pgsql

from openflow_autopilot.openflow.canary import CANARY_TABLE, Canary, find_canary, insert_canary
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.snowflake.session import Sql
from openflow_autopilot.watch.models import Finding, Heartbeat

NOTE = "openflow-autopilot heartbeat"
KEEP_AT_SOURCE = timedelta(days=1)
MAX_PENDING = 48  # heartbeats remembered while none arrives (the oldest ones are dropped)


def write_heartbeat(conn: Connection) -> Heartbeat:
    canary = insert_canary(conn, note=NOTE)
    with translated_errors("deleting old heartbeat rows"):
        conn.execute(
            pgsql.SQL("DELETE FROM {} WHERE note = %s AND created_at < now() - %s").format(
                CANARY_TABLE.identifier()
            ),
            [NOTE, KEEP_AT_SOURCE],
        )
    return Heartbeat(id=canary.id, written_at=datetime.fromisoformat(canary.inserted_at))


def look_for(sql: Sql, destination_database: str, beat: Heartbeat, *, now: datetime) -> Heartbeat:
    """One look; the heartbeat comes back with seen_at and latency_seconds when it is there."""
    canary = Canary(
        id=beat.id,
        schema_name=CANARY_TABLE.schema,
        table_name=CANARY_TABLE.name,
        inserted_at=beat.written_at.isoformat(),
        lsn="0/0",
    )
    found = find_canary(sql, destination_database=destination_database, canary=canary, now=now)
    if found is None:
        return beat
    return beat.model_copy(
        update={"seen_at": datetime.fromisoformat(found.seen_at), "latency_seconds": found.latency_seconds}
    )


def freshness(
    seen: list[Heartbeat], pending: list[Heartbeat], *, now: datetime, slo_seconds: int, breaches: int
) -> tuple[Finding, int]:
    """(the finding, breaches in a row). A breach: a heartbeat seen later than the SLO, or one still
    pending for longer than it. Breached twice in a row alerts; once is recorded."""
    late = [b for b in seen if (b.latency_seconds or 0) > slo_seconds]
    overdue = [b for b in pending if (now - b.written_at).total_seconds() > slo_seconds]
    if late or overdue:
        breaches += 1
        worst = max(
            [b.latency_seconds or 0 for b in late] + [(now - b.written_at).total_seconds() for b in overdue]
        )
        what = (
            f"{len(overdue)} heartbeat(s) not in Snowflake after {worst:.0f} s"
            if overdue
            else f"a heartbeat took {worst:.0f} s"
        )
        return (
            Finding(
                kind="freshness",
                severity="warning" if breaches >= 2 else "info",
                message=f"{what} (SLO {slo_seconds} s; breached {breaches} run(s) in a row)",
                fix="look at the connector's lag and errors (event table), and at the slot below",
            ),
            breaches,
        )
    latest = max(seen, key=lambda b: b.written_at) if seen else None
    message = (
        f"heartbeat arrived in {latest.latency_seconds:.1f} s"
        if latest is not None and latest.latency_seconds is not None
        else f"{len(pending)} heartbeat(s) on the way (within the {slo_seconds} s SLO)"
    )
    return Finding(kind="freshness", severity="ok", message=message), 0
