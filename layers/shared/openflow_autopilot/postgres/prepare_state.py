"""What preparing a PostgreSQL source reads before it plans anything: the connector role's
attributes and memberships, the requested tables (oids and the role's current privileges; a
missing table is refused here) and the publication with its members and options. These are
read-only catalog queries; prepare_plan.py turns their results into statements and prepare.py
runs them under the lock. `listed` and SHOW_NAMES keep the lists of names in messages short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.postgres.connection import Connection
from openflow_autopilot.postgres.names import TableName

SHOW_NAMES = 10


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


def listed(names: Iterable[object]) -> str:
    items = [str(n) for n in names]
    shown = ", ".join(items[:SHOW_NAMES])
    return shown + (f" (+{len(items) - SHOW_NAMES} more)" if len(items) > SHOW_NAMES else "")


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
            f"tables not found: {listed(missing)}", fix="run the doctor; check names, schemas and quoting"
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
