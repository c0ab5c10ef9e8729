"""Planning the preparation of a PostgreSQL source: from the state prepare_state.py read, the
statements (each with the action it reports) that create or update the connector role, give it
replication, create the publication or bring its tables and options to the requested ones, and
grant USAGE and SELECT. Nothing here changes the database: prepare.py runs the plan in one
transaction under its advisory lock, or only lists it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from psycopg import sql

from openflow_autopilot.errors import InvalidRequest, PreconditionFailed
from openflow_autopilot.postgres.catalog import ServerFacts
from openflow_autopilot.postgres.connection import Connection
from openflow_autopilot.postgres.names import TableName, display_name
from openflow_autopilot.postgres.prepare_state import (
    PublicationState,
    ResolvedTable,
    RoleState,
    listed,
    read_publication,
    read_role,
    resolve_tables,
)
from openflow_autopilot.postgres.role_guard import check_replication_user, mark_statement, read_facts

PUBLISH = "insert, update, delete, truncate"


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


def _idents(tables: Iterable[TableName]) -> sql.Composable:
    return sql.SQL(", ").join(t.identifier() for t in tables)


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
            f"create publication {shown} for {len(tables)} table(s): {listed(t.name for t in tables)}"
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
            f"remove TABLES IN SCHEMA {listed(display_name(s) for s in pub.schemas)} from {shown}",
        )
    wanted = {t.relid for t in tables}
    extra = [table for relid, table in pub.members.items() if relid not in wanted]
    if extra and not exact:
        plan.kept += [str(t) for t in extra]
    elif extra:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(ident, _idents(extra)),
            f"remove {len(extra)} table(s) from publication {shown}: {listed(extra)}",
        )
        plan.removed += extra
    refilter = [t.name for t in tables if t.relid in pub.filtered]
    if refilter:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(ident, _idents(refilter)),
            f"drop the row filter / column list of {listed(refilter)} in publication {shown}",
        )
    missing = [t.name for t in tables if t.relid not in pub.members or t.relid in pub.filtered]
    if missing:
        plan.add(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(ident, _idents(missing)),
            f"add {len(missing)} table(s) to publication {shown}: {listed(missing)}",
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
            f"grant USAGE on schema(s) {listed(display_name(s) for s in schemas)} to {shown}",
        )
    unreadable = [t.name for t in tables if not t.can_select]
    if unreadable:
        plan.add(
            sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(_idents(unreadable), ident),
            f"grant SELECT on {len(unreadable)} table(s) to {shown}: {listed(unreadable)}",
        )


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
