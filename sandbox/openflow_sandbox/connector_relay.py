"""A stand-in for the Openflow PostgreSQL connector: rows from the real replication slot into the
emulated Snowflake destination, so the verify phase checks a real row end to end.

While an emulated OPENFLOW_POSTGRES_CDC connector is RUNNING with a committed configuration that
validated, a background thread reads that config.json (the documented gen 2 property names,
connectors/postgres/setup; secret references resolved as a runtime resolves them), then, like the
connector:
- connects to PostgreSQL (the server of the connection URL; as the sandbox's admin, since the SQL
  slot functions are all it needs) and creates the replication slot if missing (pgoutput), then
  copies the tables' existing rows (the connector's snapshot stage);
- peeks the slot's changes through the publication, decodes pgoutput (protocol 1, text values),
  and writes them to Snowflake over the wire as the configured service user, with the private
  key and role the config names (the key is resolved from the Snowflake secret, as a runtime
  would): CREATE SCHEMA/TABLE IF NOT EXISTS, then per change a delete by primary key and/or an
  insert, so a row seen twice (snapshot and stream) is stored once;
- only then consumes the changes up to the last applied commit, so a stop or a failure never
  loses rows, and a restart never duplicates them (the slot's confirmed position says where
  to resume).
A STOPPED connector is not served: the slot keeps its place and WAL accumulates on the source,
as with the real connector. Destination names follow the Object Identifier Resolution property:
CASE_SENSITIVE keeps the source names as quoted identifiers, CASE_INSENSITIVE upper-cases them.
Gen 1 flows a human configured on a canvas arrive with the gen 1 parameter names and pasted values.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from openflow_autopilot.postgres.names import TableName, as_table_names
from openflow_sandbox.snowflake import SnowflakeEmulator

log = logging.getLogger(__name__)

DEFINITION = "OPENFLOW_POSTGRES_CDC"
# The connector's properties (connectors/postgres/setup, Gen 2 parameters)
URL = "Source Database Connection URL"
SLOT = "Replication Slot Name"
PUBLICATION = "Source Database Publication Name"
TABLES = "Included Comma Separated Source Table Names"
DATABASE = "Snowflake Destination Database"
USER = "Snowflake Username"
ROLE = "Snowflake Role"
WAREHOUSE = "Snowflake Warehouse"
PRIVATE_KEY = "Snowflake Private Key"
PASSPHRASE = "Snowflake Private Key Password"  # noqa: S105 - a property name; gen 1 canvas only
RESOLUTION = "Object Identifier Resolution"
# gen 1 canvas names -> the properties above (connectors/postgres/setup, gen 1 parameter contexts)
GEN1_NAMES = {
    "PostgreSQL Connection URL": URL,
    "Replication Slot Name": SLOT,
    "Publication Name": PUBLICATION,
    "Included Table Names": TABLES,
    "Destination Database": DATABASE,
    "Snowflake Username": USER,
    "Snowflake Role": ROLE,
    "Snowflake Warehouse": WAREHOUSE,
    "Snowflake Private Key": PRIVATE_KEY,
    "Snowflake Private Key Password": PASSPHRASE,
}


def flatten(config: dict[str, Any]) -> dict[str, Any]:
    """{property: value} of a gen 2 config.json: a literal's value, a secret reference's name, an
    asset reference's ids."""
    fields = ("value", "fullyQualifiedSecretName", "assetIds")
    return {
        name: next((body[f] for f in fields if f in body), None)
        for section in config.get("configuration") or []
        for name, body in (section.get("properties") or {}).items()
        if isinstance(body, dict)
    }


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _identifier(params: dict[str, Any], name: str) -> str:
    return _quoted(name) if params.get(RESOLUTION) == "CASE_SENSITIVE" else _quoted(name.upper())


def _destination_table(params: dict[str, Any], table: TableName) -> str:
    return f"{params[DATABASE]}.{_identifier(params, table.schema)}.{_identifier(params, table.name)}"


# PostgreSQL type OIDs -> the Snowflake column type the stand-in creates (anything else: VARCHAR)
SNOWFLAKE_TYPES = {
    16: "BOOLEAN",
    20: "NUMBER(38,0)",
    21: "NUMBER(38,0)",
    23: "NUMBER(38,0)",
    700: "FLOAT",
    701: "FLOAT",
    1700: "NUMBER(38,10)",
    1082: "DATE",
    1114: "TIMESTAMP_NTZ",
    1184: "TIMESTAMP_TZ",
}


# -- pgoutput (protocol 1) --------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    table: TableName
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Change:
    kind: str  # INSERT | UPDATE | DELETE | TRUNCATE
    relation: Relation
    new: dict[str, str | None] | None = None
    old: dict[str, str | None] | None = None  # key (or full old row) of an UPDATE/DELETE


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def cstring(self) -> str:
        end = self.data.index(b"\x00", self.pos)
        text = self.data[self.pos : end].decode()
        self.pos = end + 1
        return text

    def byte(self) -> str:
        value = chr(self.data[self.pos])
        self.pos += 1
        return value

    def tuple_data(self, relation: Relation) -> dict[str, str | None]:
        count = self.take("!H")
        row: dict[str, str | None] = {}
        for column in relation.columns[:count]:
            kind = self.byte()
            if kind == "t":
                length = self.take("!I")
                row[column.name] = self.data[self.pos : self.pos + length].decode()
                self.pos += length
            elif kind == "n":
                row[column.name] = None
            # 'u': an unchanged TOASTed value, not sent; left out of the row
        return row


class PgOutputDecoder:
    """Keeps the relations announced in a stream and turns row messages into Changes."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}

    def decode(self, data: bytes) -> Change | list[Change] | None:
        r = _Reader(data)
        tag = r.byte()
        if tag == "R":
            oid = r.take("!I")
            namespace, name = r.cstring(), r.cstring()
            r.take("!B")  # replica identity setting
            columns = []
            for _ in range(r.take("!H")):
                flags = r.take("!B")
                col = r.cstring()
                type_oid = r.take("!I")
                r.take("!i")  # type modifier
                columns.append(Column(col, type_oid, bool(flags & 1)))
            self.relations[oid] = Relation(oid, TableName(namespace or "pg_catalog", name), tuple(columns))
            return None
        if tag == "I":
            rel = self.relations[r.take("!I")]
            r.byte()  # 'N'
            return Change("INSERT", rel, new=r.tuple_data(rel))
        if tag == "U":
            rel = self.relations[r.take("!I")]
            old = None
            marker = r.byte()
            if marker in ("K", "O"):
                old = r.tuple_data(rel)
                marker = r.byte()
            return Change("UPDATE", rel, new=r.tuple_data(rel), old=old)
        if tag == "D":
            rel = self.relations[r.take("!I")]
            r.byte()  # 'K' or 'O'
            return Change("DELETE", rel, old=r.tuple_data(rel))
        if tag == "T":
            count = r.take("!I")
            r.take("!B")
            oids = [r.take("!I") for _ in range(count)]
            return [Change("TRUNCATE", self.relations[o]) for o in oids if o in self.relations]
        return None  # BEGIN, COMMIT, TYPE, ORIGIN, ...


def decode_changes(messages: Iterable[bytes]) -> list[Change]:
    decoder = PgOutputDecoder()
    out: list[Change] = []
    for data in messages:
        decoded = decoder.decode(data)
        if isinstance(decoded, list):
            out.extend(decoded)
        elif decoded is not None:
            out.append(decoded)
    return out


def _published(pg: psycopg.Connection[Any], publication: str) -> list[TableName]:
    rows = pg.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1, 2",
        [publication],
    ).fetchall()
    return [TableName(r[0], r[1]) for r in rows]


def _snapshot(pg: psycopg.Connection[Any], tables: list[TableName]) -> list[Change]:
    """Every row of `tables` as INSERTs, with values in text form as pgoutput sends them."""
    changes: list[Change] = []
    for table in tables:
        regclass = table.identifier().as_string(pg)
        found = pg.execute("SELECT to_regclass(%s)::oid", [regclass]).fetchone()
        if found is None or found[0] is None:
            continue
        columns = pg.execute(
            "SELECT a.attname, a.atttypid::int, COALESCE(a.attnum = ANY (i.indkey), false) "
            "FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [found[0]],
        ).fetchall()
        relation = Relation(int(found[0]), table, tuple(Column(c[0], int(c[1]), bool(c[2])) for c in columns))
        select = pgsql.SQL("SELECT {} FROM {}").format(
            pgsql.SQL(", ").join(
                pgsql.SQL("{}::text").format(pgsql.Identifier(c.name)) for c in relation.columns
            ),
            table.identifier(),
        )
        for row in pg.execute(select).fetchall():
            changes.append(
                Change(
                    "INSERT", relation, new=dict(zip([c.name for c in relation.columns], row, strict=True))
                )
            )
    return changes


# -- the relay --------------------------------------------------------------------------------------
@dataclass
class ConnectorState:
    """What the relay knows about one connector (for tests and the demo)."""

    name: str
    polls: int = 0  # completed reads of the slot (the first one creates it)
    snapshot_pending: bool = False  # the slot is new: copy the tables' existing rows first
    rows_applied: int = 0
    batches: int = 0
    last_error: str | None = None
    tables: set[str] = field(default_factory=set)


def _value(type_oid: int, text: str | None) -> Any:
    if text is None:
        return None
    if type_oid == 16:
        return text == "t"
    if type_oid in (20, 21, 23):
        return int(text)
    if type_oid in (700, 701):
        return float(text)
    return text


class ConnectorRelay:
    """Start with start(), stop with stop(); serves every RUNNING PostgreSQL connector of `emulator`."""

    def __init__(
        self, emulator: SnowflakeEmulator, postgres_dsn_for_admin: str, *, poll_seconds: float = 0.2
    ):
        self.emulator = emulator
        self.admin_dsn = postgres_dsn_for_admin
        self.poll_seconds = poll_seconds
        self.state: dict[str, ConnectorState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snowflake: dict[str, Any] = {}  # connector -> an open connection as its service user
        # gen 1 flows a human configured on a runtime's canvas: name -> parameters (gen 2 names as keys;
        # the canvas holds the pasted key and passphrase themselves, not Snowflake secret references)
        self.canvas_flows: dict[str, dict[str, Any]] = {}

    def start(self) -> ConnectorRelay:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="connector-relay", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the batch in progress, then stop; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for conn in self._snowflake.values():
            try:
                conn.close()
            except Exception as exc:  # closing must not hide anything else
                log.debug("closing a relay session failed: %s", exc)
        self._snowflake.clear()

    def __enter__(self) -> ConnectorRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.poll_seconds)

    def run_once(self) -> int:
        """Serve every running connector once; returns the rows applied (also usable without the thread)."""
        applied = 0
        flows = [
            (name, flatten(config))
            for name, definition, config in self.emulator.running_connectors()
            if definition == DEFINITION
        ] + [
            (
                name,
                {GEN1_NAMES[k]: v for k, v in params.items() if k in GEN1_NAMES}
                | {RESOLUTION: "CASE_SENSITIVE"},
            )
            for name, params in self.canvas_flows.items()
        ]
        for name, params in flows:
            state = self.state.setdefault(name, ConnectorState(name))
            try:
                applied += self._serve(name, params, state)
                state.last_error = None
                state.polls += 1
            except Exception as exc:  # keep serving; the error is visible on the state
                state.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("connector relay: %s: %s", name, state.last_error)
                self._snowflake.pop(name, None)
        return applied

    # -- one connector ---------------------------------------------------------------------------
    def _postgres(self, params: dict[str, Any]) -> psycopg.Connection[Any]:
        url = str(params[URL])
        database = url.rsplit("/", 1)[1].split("?", 1)[0]
        admin = conninfo_to_dict(self.admin_dsn)
        return psycopg.connect(make_conninfo("", **(admin | {"dbname": database})), autocommit=True)

    def _session(self, name: str, params: dict[str, Any]) -> Any:
        if name in self._snowflake:
            return self._snowflake[name]
        pem, passphrase = self._key_material(params)
        key = serialization.load_pem_private_key(
            pem.encode(), password=passphrase.encode() if passphrase else None
        )
        conn = snowflake.connector.connect(
            **self.emulator.connect_kwargs(
                str(params[USER]),
                private_key=key,
                role=str(params[ROLE]),
                warehouse=str(params[WAREHOUSE]),
                application="openflow-connector-relay",
            )
        )
        self._snowflake[name] = conn
        return conn

    def _key_material(self, params: dict[str, Any]) -> tuple[str, str | None]:
        """The private key PEM and its passphrase: pasted on a gen 1 canvas, or Snowflake secrets (gen 2)."""
        key_ref = str(params[PRIVATE_KEY])
        pass_ref = params.get(PASSPHRASE)
        if key_ref.startswith("-----BEGIN"):  # pasted on a gen 1 canvas
            return key_ref, (str(pass_ref) if pass_ref else None)
        # gen 2: a GENERIC_STRING secret holding an unencrypted PKCS8 PEM
        return str(self.emulator.secret_value(key_ref)["secret_string"]), None

    def _serve(self, name: str, params: dict[str, Any], state: ConnectorState) -> int:
        slot = str(params[SLOT])
        publication = str(params[PUBLICATION])
        listed = params.get(TABLES)
        included = {str(t) for t in as_table_names(str(listed))} if listed else None
        with self._postgres(params) as pg:
            if (
                pg.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [slot]).fetchone()
                is None
            ):
                pg.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [slot])
                state.snapshot_pending = True
            if state.snapshot_pending:
                # the connector's first stage: the rows that exist before streaming starts
                tables = sorted(as_table_names(sorted(included))) if included else _published(pg, publication)
                state.rows_applied += self._apply(name, params, _snapshot(pg, tables), state)
                state.snapshot_pending = False
            position = pg.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            options = ["proto_version", "1", "publication_names", publication]
            rows = pg.execute(
                "SELECT lsn::text, data "
                "FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, %s, %s, %s, %s)",
                [slot, *options],
            ).fetchall()
            if not rows:
                # nothing published up to `position`: confirm it, as a connector's keepalive reply does
                pg.execute(
                    "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)",
                    [slot, position[0] if position else None],
                )
                return 0
            # logical decoding returns whole committed transactions: the last row is a COMMIT
            last_commit = str(rows[-1][0])
            changes = [
                c
                for c in decode_changes(bytes(data) for _, data in rows)
                if included is None or str(c.relation.table) in included
            ]
            applied = self._apply(name, params, changes, state)
            pg.execute(
                "SELECT count(*) "
                "FROM pg_logical_slot_get_binary_changes(%s, %s::pg_lsn, NULL, %s, %s, %s, %s)",
                [slot, last_commit, *options],
            )
        state.rows_applied += applied
        state.batches += 1
        return applied

    def _apply(self, name: str, params: dict[str, Any], changes: list[Change], state: ConnectorState) -> int:
        if not changes:
            return 0
        database = str(params[DATABASE])
        cur = self._session(name, params).cursor()
        created: set[int] = set()
        for change in changes:
            rel = change.relation
            table = _destination_table(params, rel.table)
            if rel.oid not in created:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{_identifier(params, rel.table.schema)}")
                columns = ", ".join(
                    f"{_identifier(params, c.name)} {SNOWFLAKE_TYPES.get(c.type_oid, 'VARCHAR')}"
                    for c in rel.columns
                )
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
                created.add(rel.oid)
                state.tables.add(table)
            types = {c.name: c.type_oid for c in rel.columns}
            if change.kind == "TRUNCATE":
                cur.execute(f"DELETE FROM {table}")  # noqa: S608 - identifiers quoted by one helper
                continue
            if change.kind in ("UPDATE", "DELETE"):
                old = change.old or {c.name: (change.new or {}).get(c.name) for c in rel.columns if c.key}
                keys = [c for c in rel.columns if c.key and c.name in old] or [
                    c for c in rel.columns if c.name in old
                ]
                where = " AND ".join(f"{_identifier(params, c.name)} = %s" for c in keys)
                values = [_value(c.type_oid, old[c.name]) for c in keys]
                cur.execute(f"DELETE FROM {table} WHERE {where}", values)  # noqa: S608 - values are bound
            if change.kind == "INSERT" and change.new is not None and any(c.key for c in rel.columns):
                # an upsert, so a row the snapshot copied and the stream repeats is not duplicated
                keys = [c for c in rel.columns if c.key]
                where = " AND ".join(f"{_identifier(params, c.name)} = %s" for c in keys)
                values = [_value(c.type_oid, change.new.get(c.name)) for c in keys]
                cur.execute(f"DELETE FROM {table} WHERE {where}", values)  # noqa: S608 - values are bound
            if change.kind in ("INSERT", "UPDATE") and change.new is not None:
                names = list(change.new)
                columns = ", ".join(_identifier(params, n) for n in names)
                marks = ", ".join("%s" for _ in names)
                values = [_value(types[n], change.new[n]) for n in names]
                cur.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # noqa: S608
        return len(changes)
