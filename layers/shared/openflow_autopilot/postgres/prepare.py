"""Prepare a PostgreSQL source for the Openflow CDC connector, with ensure semantics.

Reads the current state (role, publication, privileges), computes the statements needed,
and runs them in one transaction under an advisory lock, so two concurrent runs cannot
interleave. A second run takes no action; adding a table to the request adds just that
table. Every statement is composed with `psycopg.sql`.

The connector's password is sent only as a SCRAM (or md5) verifier computed client-side,
the way psql's \\password does, so the plain text never appears in SQL, server logs or
pg_stat_activity.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from openflow_autopilot.errors import InvalidRequest, PreconditionFailed
from openflow_autopilot.postgres.catalog import ServerFacts, read_server
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.doctor import run_doctor
from openflow_autopilot.postgres.models import DoctorReport, PrepareResult
from openflow_autopilot.postgres.names import (
    TableName,
    as_table_names,
    display_name,
    parse_identifier,
    parse_role_name,
)
from openflow_autopilot.postgres.role_guard import (
    check_name,
    check_replication_user,
    mark_statement,
    read_facts,
)

PUBLISH = "insert, update, delete, truncate"
_LOCK_KEY = zlib.crc32(b"openflow-autopilot:prepare-source")  # one prepare at a time per database
LOCK_WAIT = "30s"  # a rerun waits this long for a run in progress, then is retried later
IDLE_TIMEOUT = "60s"  # the server ends a preparing session whose client went silent mid-transaction
_SHOW_NAMES = 10


@dataclass(frozen=True)
class RoleState:
    exists: bool
    can_login: bool = False
    replication: bool = False
    superuser: bool = False
    rds_replication: bool = False
    can_connect: bool = False


@dataclass(frozen=True)
class ResolvedTable:
    name: TableName
    relid: int
    schema_usage: bool  # the connector role already has USAGE on the schema
    can_select: bool


@dataclass(frozen=True)
class PublicationState:
    exists: bool
    all_tables: bool = False
    publish: frozenset[str] = frozenset()
    via_root: bool | None = None
    members: dict[int, TableName] = field(default_factory=dict)
    filtered: frozenset[int] = frozenset()  # members with a row filter or column list (PG 15+)
    schemas: tuple[str, ...] = ()  # FOR TABLES IN SCHEMA members (PG 15+)


@dataclass
class Plan:
    statements: list[sql.Composed] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    added: list[TableName] = field(default_factory=list)
    removed: list[TableName] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # members not requested, left in place (not `exact`)

    def add(self, statement: sql.Composed, action: str) -> None:
        self.statements.append(statement)
        self.actions.append(action)


def _listed(names: Iterable[object]) -> str:
    items = [str(n) for n in names]
    shown = ", ".join(items[:_SHOW_NAMES])
    return shown + (f" (+{len(items) - _SHOW_NAMES} more)" if len(items) > _SHOW_NAMES else "")


def _idents(tables: Iterable[TableName]) -> sql.Composable:
    return sql.SQL(", ").join(t.identifier() for t in tables)


# --- reading state --------------------------------------------------------------------------
def read_role(conn: Connection, user: str) -> RoleState:
    query = """
        SELECT r.rolcanlogin, r.rolreplication, r.rolsuper,
               EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                        WHERE m.member = r.oid AND g.rolname = 'rds_replication') AS rds_replication,
               has_database_privilege(r.oid, current_database(), 'CONNECT') AS can_connect
        FROM pg_roles r WHERE r.rolname = %s"""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, [user]).fetchone()
    if row is None:
        return RoleState(exists=False)
    return RoleState(
        exists=True,
        can_login=row["rolcanlogin"],
        replication=row["rolreplication"],
        superuser=row["rolsuper"],
        rds_replication=row["rds_replication"],
        can_connect=row["can_connect"],
    )


def resolve_tables(conn: Connection, tables: Sequence[TableName], role: str | None) -> list[ResolvedTable]:
    """Oids and the role's current privileges; raise PreconditionFailed for a missing table."""
    query = """
        SELECT r.ord, c.oid AS relid,
               coalesce(has_schema_privilege(%(role)s::name, n.oid, 'USAGE'), false) AS schema_usage,
               coalesce(has_table_privilege(%(role)s::name, c.oid, 'SELECT'), false) AS can_select
        FROM unnest(%(schemas)s::text[], %(names)s::text[]) WITH ORDINALITY AS r(schema_name, table_name, ord)
        LEFT JOIN pg_namespace n ON n.nspname = r.schema_name
        LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.table_name
                             AND c.relkind IN ('r', 'p')
        ORDER BY r.ord"""
    params = {"role": role, "schemas": [t.schema for t in tables], "names": [t.name for t in tables]}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    missing = [t for t, r in zip(tables, rows, strict=True) if r["relid"] is None]
    if missing:
        raise PreconditionFailed(
            f"tables not found: {_listed(missing)}", fix="run the doctor; check names, schemas and quoting"
        )
    return [
        ResolvedTable(name=t, relid=r["relid"], schema_usage=r["schema_usage"], can_select=r["can_select"])
        for t, r in zip(tables, rows, strict=True)
    ]


def read_publication(conn: Connection, name: str, version_num: int) -> PublicationState:
    via_root = sql.SQL("pubviaroot" if version_num >= 130000 else "NULL::boolean")
    query = sql.SQL(
        "SELECT oid, puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, {} AS via_root "
        "FROM pg_publication WHERE pubname = %s"
    ).format(via_root)
    with conn.cursor(row_factory=dict_row) as cur:
        pub = cur.execute(query, [name]).fetchone()
        if pub is None:
            return PublicationState(exists=False)
        filtered = sql.SQL(
            "(pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL)" if version_num >= 150000 else "false"
        )
        members = cur.execute(
            sql.SQL(
                "SELECT pr.prrelid AS relid, n.nspname, c.relname, {} AS filtered FROM pg_publication_rel pr "
                "JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE pr.prpubid = %s ORDER BY n.nspname, c.relname"
            ).format(filtered),
            [pub["oid"]],
        ).fetchall()
        schemas: list[dict[str, Any]] = []
        if version_num >= 150000:
            schemas = cur.execute(
                "SELECT n.nspname FROM pg_publication_namespace pn JOIN pg_namespace n ON n.oid = pn.pnnspid "
                "WHERE pn.pnpubid = %s ORDER BY n.nspname",
                [pub["oid"]],
            ).fetchall()
    ops = {
        "insert": pub["pubinsert"],
        "update": pub["pubupdate"],
        "delete": pub["pubdelete"],
        "truncate": pub["pubtruncate"],
    }
    return PublicationState(
        exists=True,
        all_tables=pub["puballtables"],
        publish=frozenset(op for op, on in ops.items() if on),
        via_root=pub["via_root"],
        members={m["relid"]: TableName(m["nspname"], m["relname"]) for m in members},
        filtered=frozenset(m["relid"] for m in members if m["filtered"]),
        schemas=tuple(s["nspname"] for s in schemas),
    )


# --- planning -------------------------------------------------------------------------------
def _plan_role(
    plan: Plan,
    server: ServerFacts,
    role: RoleState,
    user: str,
    verifier: str | None,
    set_password: bool,
    use_existing: bool = False,
) -> None:
    ident, shown = sql.Identifier(user), display_name(user)
    if not role.exists:
        if verifier is None:
            raise InvalidRequest(
                f"password: required to create role {shown}", fix="pass the connector's password"
            )
        plan.add(
            sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(ident, sql.Literal(verifier)),
            f"create role {shown} (LOGIN, password set)",
        )
        plan.add(mark_statement(user), f"mark role {shown} as created by openflow-autopilot")
    elif use_existing:
        pass  # used as it is (role_guard.py): no LOGIN change, no password
    else:
        if not role.can_login:
            plan.add(sql.SQL("ALTER ROLE {} WITH LOGIN").format(ident), f"allow role {shown} to log in")
        if set_password:
            if verifier is None:
                raise InvalidRequest("password: required to update the password", fix="pass the new password")
            plan.add(
                sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(ident, sql.Literal(verifier)),
                f"set the password of role {shown}",
            )
    if server.is_rds:
        if not role.rds_replication:
            plan.add(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier("rds_replication"), ident),
                f"grant rds_replication to {shown}",
            )
    elif not (role.replication or role.superuser):
        plan.add(sql.SQL("ALTER ROLE {} WITH REPLICATION").format(ident), f"give role {shown} REPLICATION")
    if not role.can_connect:
        plan.add(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(server.database), ident),
            f"grant CONNECT on database {display_name(server.database)} to {shown}",
        )


def _plan_publication(
    plan: Plan,
    server: ServerFacts,
    pub: PublicationState,
    name: str,
    tables: list[ResolvedTable],
    exact: bool = False,
) -> None:
    """Create the publication, or add the requested tables to it. Members nobody requested (other
    tables, TABLES IN SCHEMA) are removed only with `exact`: the publication may be shared."""
    ident, shown = sql.Identifier(name), display_name(name)
    via_root = server.version_num >= 130000
    if not pub.exists:
        with_clause = sql.SQL(" WITH (publish_via_partition_root = true)" if via_root else "")
        plan.add(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}{}").format(
                ident, _idents(t.name for t in tables), with_clause
            ),
            f"create publication {shown} for {len(tables)} table(s): {_listed(t.name for t in tables)}"
            + (" (publish_via_partition_root = true)" if via_root else ""),
        )
        plan.added += [t.name for t in tables]
        return
    if pub.all_tables:
        raise PreconditionFailed(
            f"publication {shown} exists and is FOR ALL TABLES; it cannot be narrowed to the requested ones",
            fix=f"choose another publication name, or DROP PUBLICATION {shown}; if nothing else uses it",
        )
    if pub.schemas and not exact:
        plan.kept += [f"TABLES IN SCHEMA {display_name(s)}" for s in pub.schemas]
    elif pub.schemas:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} DROP TABLES IN SCHEMA {}").format(
                ident, sql.SQL(", ").join(sql.Identifier(s) for s in pub.schemas)
            ),
            f"remove TABLES IN SCHEMA {_listed(display_name(s) for s in pub.schemas)} from {shown}",
        )
    wanted = {t.relid for t in tables}
    extra = [table for relid, table in pub.members.items() if relid not in wanted]
    if extra and not exact:
        plan.kept += [str(t) for t in extra]
    elif extra:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(ident, _idents(extra)),
            f"remove {len(extra)} table(s) from publication {shown}: {_listed(extra)}",
        )
        plan.removed += extra
    refilter = [t.name for t in tables if t.relid in pub.filtered]
    if refilter:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(ident, _idents(refilter)),
            f"drop the row filter / column list of {_listed(refilter)} in publication {shown}",
        )
    missing = [t.name for t in tables if t.relid not in pub.members or t.relid in pub.filtered]
    if missing:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(ident, _idents(missing)),
            f"add {len(missing)} table(s) to publication {shown}: {_listed(missing)}",
        )
        plan.added += [t for t in missing if t not in refilter]
    options: list[sql.Composable] = []
    if pub.publish != frozenset(PUBLISH.split(", ")):
        options.append(sql.SQL("publish = {}").format(sql.Literal(PUBLISH)))
    if via_root and not pub.via_root:
        options.append(sql.SQL("publish_via_partition_root = true"))
    if options:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} SET ({})").format(ident, sql.SQL(", ").join(options)),
            f"set publication {shown} options: "
            + ", ".join(o.as_string(None) for o in options),  # fixed option texts, no input
        )


def _plan_grants(plan: Plan, user: str, tables: list[ResolvedTable]) -> None:
    ident, shown = sql.Identifier(user), display_name(user)
    schemas = list(dict.fromkeys(t.name.schema for t in tables if not t.schema_usage))
    if schemas:
        plan.add(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(s) for s in schemas), ident
            ),
            f"grant USAGE on schema(s) {_listed(display_name(s) for s in schemas)} to {shown}",
        )
    unreadable = [t.name for t in tables if not t.can_select]
    if unreadable:
        plan.add(
            sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(_idents(unreadable), ident),
            f"grant SELECT on {len(unreadable)} table(s) to {shown}: {_listed(unreadable)}",
        )


def _verifier(conn: Connection, server: ServerFacts, user: str, password: str) -> str:
    algorithm = b"scram-sha-256" if server.settings.get("password_encryption") == "scram-sha-256" else b"md5"
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), algorithm).decode()


def plan_source(
    conn: Connection,
    server: ServerFacts,
    *,
    tables: list[TableName],
    publication: str,
    user: str,
    verifier: str | None,
    set_password: bool,
    use_existing: bool = False,
    exact: bool = False,
) -> Plan:
    """Read the current state and compute the statements that bring it to the requested one."""
    check_replication_user(read_facts(conn, user), user, use_existing=use_existing, set_password=set_password)
    role = read_role(conn, user)
    resolved = resolve_tables(conn, tables, user if role.exists else None)
    plan = Plan()
    _plan_role(plan, server, role, user, verifier, set_password, use_existing)
    _plan_publication(
        plan, server, read_publication(conn, publication, server.version_num), publication, resolved, exact
    )
    _plan_grants(plan, user, resolved)
    return plan


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
            + "; ".join(f"{f.id} ({f.subject})" for f in blocking[:_SHOW_NAMES]),
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
