"""Read-only catalog queries: what the doctor needs, in a fixed handful of queries.

The per-table facts come from one query over `unnest(schemas, names)`, so checking 1,000
tables costs the same number of round trips as checking one. SQL identifiers in fix texts
are quoted by the server (`quote_ident`), so the suggested SQL is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql
from psycopg.rows import dict_row

from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.names import TableName

SETTINGS = (
    "wal_level",
    "max_replication_slots",
    "max_wal_senders",
    "max_slot_wal_keep_size",
    "rds.logical_replication",
    "password_encryption",
)


@dataclass(frozen=True)
class ServerFacts:
    version: str
    version_num: int
    in_recovery: bool
    is_rds: bool
    database: str
    user: str
    settings: dict[str, str]
    slots_used: int
    wal_senders_used: int

    def setting_int(self, name: str) -> int | None:
        value = self.settings.get(name)
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


@dataclass(frozen=True)
class SlotFacts:
    name: str
    plugin: str | None
    slot_type: str
    database: str | None
    active: bool
    temporary: bool
    retained_bytes: int | None
    wal_status: str | None


@dataclass(frozen=True)
class TransactionFacts:
    pid: int
    user: str | None
    database: str | None
    application: str | None
    state: str | None
    age_seconds: float
    has_xid: bool


@dataclass(frozen=True)
class PreparedFacts:
    gid: str
    owner: str
    database: str
    age_seconds: float


@dataclass(frozen=True)
class TableFacts:
    requested: TableName
    found: bool
    qualified: str = ""  # server-quoted schema.table, ready for fix SQL
    relkind: str = ""  # r table, p partitioned, v view, m matview, f foreign, ...
    persistence: str = "p"  # p permanent, u unlogged, t temporary
    is_partition: bool = False
    partition_root: str | None = None
    replica_identity: str = "d"  # d default, n nothing, f full, i index
    has_primary_key: bool = False
    identity_index: str | None = None  # the REPLICA IDENTITY USING INDEX index, if it still exists
    candidate_index: str | None = None  # a unique, non-partial, NOT NULL index usable as replica identity
    bad_partitions: tuple[str, ...] = ()  # leaf partitions without a usable replica identity


@dataclass(frozen=True)
class DoctorFacts:
    server: ServerFacts
    slots: tuple[SlotFacts, ...]
    long_transactions: tuple[TransactionFacts, ...]
    prepared: tuple[PreparedFacts, ...]
    tables: tuple[TableFacts, ...]


_SERVER_SQL = """
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       pg_is_in_recovery() AS in_recovery,
       current_database() AS database,
       current_user AS "user",
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_superuser') AS has_rds_superuser,
       (SELECT count(*) FROM pg_replication_slots)::int AS slots_used,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')::int AS wal_senders_used,
       (SELECT coalesce(jsonb_object_agg(name, setting), '{}'::jsonb) FROM pg_settings
         WHERE name = ANY(%(settings)s)) AS settings,
       current_setting('rds.logical_replication', true) AS rds_logical_replication
"""

_SLOTS_SQL = """
SELECT slot_name, plugin, slot_type, database, active, temporary,
       CASE WHEN restart_lsn IS NULL OR pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes,
       {wal_status} AS wal_status
FROM pg_replication_slots ORDER BY slot_name
"""

_LONG_TX_SQL = """
SELECT pid, usename, datname, application_name, state,
       extract(epoch FROM now() - xact_start)::float8 AS age_seconds,
       backend_xid IS NOT NULL AS has_xid
FROM pg_stat_activity
WHERE xact_start < now() - make_interval(secs => %(threshold)s)
  AND pid <> pg_backend_pid() AND backend_type = 'client backend'
ORDER BY xact_start LIMIT 20
"""

_PREPARED_SQL = """
SELECT gid, owner, database, extract(epoch FROM now() - prepared)::float8 AS age_seconds
FROM pg_prepared_xacts ORDER BY prepared LIMIT 20
"""

# bad_partitions: leaf partitions without the documented replica identity, i.e. neither DEFAULT with a
# primary key, nor USING INDEX with the index still present (FULL is not the documented choice:
# docs.snowflake.com/en/user-guide/data-integration/openflow/connectors/postgres/setup).
_TABLES_SQL = """
SELECT r.ord, c.oid IS NOT NULL AS found,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified,
       c.relkind::text AS relkind, c.relpersistence::text AS persistence, c.relispartition AS is_partition,
       c.relreplident::text AS replica_identity,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_primary_key,
       (SELECT quote_ident(ic.relname) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
       (SELECT quote_ident(ic.relname) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indimmediate AND i.indisvalid
           AND i.indpred IS NULL AND i.indexprs IS NULL
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey) AND NOT a.attnotnull)
         ORDER BY i.indnatts, ic.relname LIMIT 1) AS candidate_index,
       CASE WHEN c.relispartition THEN (
         WITH RECURSIVE up(relid, depth) AS (
           SELECT c.oid, 0
           UNION ALL
           SELECT inh.inhparent, up.depth + 1 FROM pg_inherits inh JOIN up ON inh.inhrelid = up.relid)
         SELECT quote_ident(pn.nspname) || '.' || quote_ident(p.relname)
         FROM up JOIN pg_class p ON p.oid = up.relid JOIN pg_namespace pn ON pn.oid = p.relnamespace
         ORDER BY up.depth DESC LIMIT 1) END AS partition_root,
       CASE WHEN c.relkind = 'p' THEN (
         WITH RECURSIVE down(relid) AS (
           SELECT inh.inhrelid FROM pg_inherits inh WHERE inh.inhparent = c.oid
           UNION ALL
           SELECT inh.inhrelid FROM pg_inherits inh JOIN down ON inh.inhparent = down.relid)
         SELECT array_agg(quote_ident(ln.nspname) || '.' || quote_ident(l.relname) ORDER BY l.relname)
         FROM down JOIN pg_class l ON l.oid = down.relid JOIN pg_namespace ln ON ln.oid = l.relnamespace
         WHERE l.relkind = 'r' AND NOT (
           (l.relreplident = 'd'
            AND EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = l.oid AND x.indisprimary))
           OR (l.relreplident = 'i'
               AND EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = l.oid AND x.indisreplident))))
       END AS bad_partitions
FROM unnest(%(schemas)s::text[], %(names)s::text[]) WITH ORDINALITY AS r(schema_name, table_name, ord)
LEFT JOIN pg_namespace n ON n.nspname = r.schema_name
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.table_name
ORDER BY r.ord
"""


def read_server(conn: Connection) -> ServerFacts:
    with translated_errors("reading server settings"), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SERVER_SQL, {"settings": list(SETTINGS)}).fetchone()
    assert row is not None
    settings = {str(k): str(v) for k, v in dict(row["settings"]).items()}
    if row[
        "rds_logical_replication"
    ]:  # read directly too: extension-defined settings can hide from pg_settings
        settings["rds.logical_replication"] = row["rds_logical_replication"]
    return ServerFacts(
        version=row["version"],
        version_num=row["version_num"],
        in_recovery=row["in_recovery"],
        is_rds=bool(row["has_rds_superuser"]) or "rds.logical_replication" in settings,
        database=row["database"],
        user=row["user"],
        settings=settings,
        slots_used=row["slots_used"],
        wal_senders_used=row["wal_senders_used"],
    )


def read_slots(conn: Connection, server: ServerFacts) -> tuple[SlotFacts, ...]:
    wal_status = sql.SQL("wal_status" if server.version_num >= 130000 else "NULL::text")
    query = sql.SQL(_SLOTS_SQL).format(wal_status=wal_status)
    with translated_errors("reading replication slots"), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query).fetchall()
    return tuple(
        SlotFacts(
            name=r["slot_name"],
            plugin=r["plugin"],
            slot_type=r["slot_type"],
            database=r["database"],
            active=r["active"],
            temporary=r["temporary"],
            retained_bytes=r["retained_bytes"],
            wal_status=r["wal_status"],
        )
        for r in rows
    )


def read_transactions(
    conn: Connection, long_transaction_seconds: float
) -> tuple[tuple[TransactionFacts, ...], tuple[PreparedFacts, ...]]:
    with translated_errors("reading open transactions"), conn.cursor(row_factory=dict_row) as cur:
        long_rows = cur.execute(_LONG_TX_SQL, {"threshold": long_transaction_seconds}).fetchall()
        prepared_rows = cur.execute(_PREPARED_SQL).fetchall()
    return (
        tuple(
            TransactionFacts(
                pid=r["pid"],
                user=r["usename"],
                database=r["datname"],
                application=r["application_name"],
                state=r["state"],
                age_seconds=r["age_seconds"],
                has_xid=r["has_xid"],
            )
            for r in long_rows
        ),
        tuple(
            PreparedFacts(
                gid=r["gid"], owner=r["owner"], database=r["database"], age_seconds=r["age_seconds"]
            )
            for r in prepared_rows
        ),
    )


def read_tables(conn: Connection, tables: Sequence[TableName]) -> tuple[TableFacts, ...]:
    params = {"schemas": [t.schema for t in tables], "names": [t.name for t in tables]}
    with translated_errors("reading table definitions"), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_TABLES_SQL, params).fetchall()
    facts = []
    for table, r in zip(tables, rows, strict=True):
        if not r["found"]:
            facts.append(TableFacts(requested=table, found=False))
            continue
        facts.append(
            TableFacts(
                requested=table,
                found=True,
                qualified=r["qualified"],
                relkind=r["relkind"],
                persistence=r["persistence"],
                is_partition=r["is_partition"],
                partition_root=r["partition_root"],
                replica_identity=r["replica_identity"],
                has_primary_key=r["has_primary_key"],
                identity_index=r["identity_index"],
                candidate_index=r["candidate_index"],
                bad_partitions=tuple(r["bad_partitions"] or ()),
            )
        )
    return tuple(facts)


def read_doctor_facts(
    conn: Connection, tables: Sequence[TableName], *, long_transaction_seconds: float = 300
) -> DoctorFacts:
    server = read_server(conn)
    long_transactions, prepared = read_transactions(conn, long_transaction_seconds)
    return DoctorFacts(
        server=server,
        slots=read_slots(conn, server),
        long_transactions=long_transactions,
        prepared=prepared,
        tables=read_tables(conn, tables),
    )
