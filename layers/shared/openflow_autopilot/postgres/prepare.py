"""Prepare a PostgreSQL source for the Openflow CDC connector, with ensure semantics.

Reads the current state (role, publication, privileges), computes the statements needed,
and runs them in one transaction under an advisory lock, so two concurrent runs cannot
interleave. A second run takes no action; adding a table to the request adds just that
table. Every statement is composed with `psycopg.sql`.

The connector's password is sent only as a SCRAM (or md5) verifier computed client-side,
the way psql's \\password does, so the plain text never appears in SQL, server logs or
pg_stat_activity.

The reading is in prepare_state.py and the planning in prepare_plan.py; this module runs the
doctor, then the plan in one transaction under the lock.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from openflow_autopilot.errors import InvalidRequest, PreconditionFailed
from openflow_autopilot.postgres.catalog import ServerFacts, read_server
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.doctor import run_doctor
from openflow_autopilot.postgres.models import DoctorReport, PrepareResult
from openflow_autopilot.postgres.names import (
    TableName,
    as_table_names,
    parse_identifier,
    parse_role_name,
)
from openflow_autopilot.postgres.prepare_plan import Plan, plan_source
from openflow_autopilot.postgres.prepare_state import SHOW_NAMES
from openflow_autopilot.postgres.role_guard import check_name, check_replication_user, read_facts

_LOCK_KEY = zlib.crc32(b"openflow-autopilot:prepare-source")  # one prepare at a time per database
LOCK_WAIT = "30s"  # a rerun waits this long for a run in progress, then is retried later
IDLE_TIMEOUT = "60s"  # the server ends a preparing session whose client went silent mid-transaction


def _verifier(conn: Connection, server: ServerFacts, user: str, password: str) -> str:
    algorithm = b"scram-sha-256" if server.settings.get("password_encryption") == "scram-sha-256" else b"md5"
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), algorithm).decode()


def prepare_source(
    conn: Connection,
    *,
    tables: Sequence[TableName | str] | str,
    publication: str,
    user: str,
    password: str | None = None,
    update_password: bool = False,
    plan_only: bool = False,
    report: DoctorReport | None = None,
    connector_slot: str | None = None,
    use_existing: bool = False,
    exact: bool = False,
) -> PrepareResult:
    """Ensure the connector role, its replication privilege, the publication (exactly `tables`) and
    the grants. Runs the doctor first (unless `report` is given) and changes nothing when it finds
    blocking problems. `password` is needed to create the role, or with `update_password`; it is
    never logged or returned. Names are written as in SQL (unquoted ones fold to lower case; quote
    to keep case); the result holds the resolved names. `conn` must be in autocommit mode.
    The role must be one the workflow may manage (role_guard.py); an existing role it did not create
    is used as it is only with `use_existing`. Publication members nobody requested are removed only
    with `exact` (else listed in `kept_tables`)."""
    parsed = as_table_names(tables)
    pub_name = parse_identifier(publication, "publication")
    role_name = parse_role_name(user, "user")
    check_name(role_name)
    if password is not None and not password:
        raise InvalidRequest("password: empty", fix="generate a password (e.g. secrets.token_urlsafe(32))")
    with translated_errors("reading the replication user"):  # before the doctor: the clearest refusal first
        facts = read_facts(conn, role_name)
    check_replication_user(facts, role_name, use_existing=use_existing, set_password=update_password)
    report = report or run_doctor(conn, parsed, connector_slot=connector_slot)
    blocking = [f for f in report.findings if f.severity == "blocking"]
    if blocking:
        raise PreconditionFailed(
            f"the source has {len(blocking)} blocking finding(s); nothing was changed: "
            + "; ".join(f"{f.id} ({f.subject})" for f in blocking[:SHOW_NAMES]),
            fix=" | ".join(f.fix for f in blocking[:3]),
        )
    with translated_errors("preparing the source database"):
        server = read_server(conn)
        verifier = _verifier(conn, server, role_name, password) if password else None
        if verifier is None and plan_only:
            verifier = "<password>"  # a plan is never executed: no password needed to list the actions

        def current_plan() -> Plan:
            return plan_source(
                conn,
                server,
                tables=parsed,
                publication=pub_name,
                user=role_name,
                verifier=verifier,
                set_password=update_password,
                use_existing=use_existing,
                exact=exact,
            )

        if plan_only:
            plan = current_plan()
        else:
            with conn.transaction():
                # A run whose client vanished mid-transaction must not hold the lock forever: the
                # server ends such a session after IDLE_TIMEOUT, and a waiting rerun gives up after LOCK_WAIT
                # (LockNotAvailable is retried by the state machine).
                conn.execute(
                    "SELECT set_config('idle_in_transaction_session_timeout', %s, true)", [IDLE_TIMEOUT]
                )
                conn.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_WAIT])
                with translated_errors("preparing the source database: waiting for another run's lock"):
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
                plan = current_plan()  # read under the lock, so concurrent runs cannot interleave
                for statement, action in zip(plan.statements, plan.actions, strict=True):
                    # a refusal names the step that was refused, not only the phase
                    with translated_errors(f"preparing the source database: {action}"):
                        conn.execute(statement)
    return PrepareResult(
        database=server.database,
        user=role_name,
        publication=pub_name,
        tables=[str(t) for t in parsed],
        planned=plan_only,
        actions=plan.actions,
        added_tables=[str(t) for t in plan.added],
        removed_tables=[str(t) for t in plan.removed],
        kept_tables=plan.kept,
        warnings=[f for f in report.findings if f.severity == "warning"],
    )
