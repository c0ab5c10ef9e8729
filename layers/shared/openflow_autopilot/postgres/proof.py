"""Proof that the connector role can replicate: as that role, create a temporary pgoutput slot,
make a change as the admin, see it through the publication, drop the slot.

The change is a parameter. `insert_row` inserts given values (what tests and the verify phase
use); `touch_row` rewrites one existing row with its own values, so a real database gets a
decodable UPDATE without any data changing (tables with user UPDATE triggers are refused,
because a trigger could change data).
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row

from openflow_autopilot.errors import PermissionDenied, PreconditionFailed
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.models import ReplicationProof
from openflow_autopilot.postgres.names import TableName, check_slot_name, display_name, parse_identifier

_KINDS = {"I": "INSERT", "U": "UPDATE", "D": "DELETE", "T": "TRUNCATE"}


@dataclass(frozen=True)
class ProofChange:
    """A change made as the admin inside one transaction; `describe` goes into the result."""

    describe: str
    apply: Callable[[Connection], None]


def insert_row(table: TableName, values: Mapping[str, object]) -> ProofChange:
    columns = list(values)

    def apply(conn: Connection) -> None:
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table.identifier(),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(", ").join(sql.Placeholder() for _ in columns),
        )
        conn.execute(statement, [values[c] for c in columns])

    return ProofChange(describe=f"inserted one row into {table}", apply=apply)


_TOUCH_SQL = """
SELECT a.attname,
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
                 AND t.tgenabled <> 'D' AND (t.tgtype & 16) <> 0) AS has_update_trigger
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attidentity <> 'a' AND {not_generated}
WHERE c.oid = %s::regclass
ORDER BY EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary
                   AND a.attnum = ANY (i.indkey)), a.attnum
LIMIT 1
"""


def touch_row(table: TableName) -> ProofChange:
    """Set a column of one row to its own value (a non-key column when there is one)."""

    def apply(conn: Connection) -> None:
        version = conn.info.server_version
        not_generated = sql.SQL("a.attgenerated = ''" if version >= 120000 else "true")
        regclass = table.identifier().as_string(conn)
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(sql.SQL(_TOUCH_SQL).format(not_generated=not_generated), [regclass]).fetchone()
        if row is None or row["attname"] is None:
            raise PreconditionFailed(f"{table} has no column that can be updated", fix="choose another table")
        if row["has_update_trigger"]:
            raise PreconditionFailed(
                f"{table} has UPDATE triggers; touching a row could change data",
                fix="choose a table without UPDATE triggers for the proof",
            )
        col = sql.Identifier(row["attname"])
        done = conn.execute(
            sql.SQL(
                "UPDATE {t} SET {c} = {c} WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM {t} LIMIT 1)"
            ).format(t=table.identifier(), c=col)
        )
        if done.rowcount < 1:
            raise PreconditionFailed(
                f"{table} is empty: there is no row to touch for the proof",
                fix="insert a row into one of the tables (or choose a non-empty table) and re-run",
            )

    return ProofChange(describe=f"rewrote one row of {table} with its own values", apply=apply)


def first_touchable(conn: Connection, tables: Sequence[TableName], limit: int = 50) -> TableName | None:
    """The first table (of at most `limit`) that has a row, so `touch_row` can be used."""
    for table in tables[:limit]:
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(table.identifier())
        row = conn.execute(query).fetchone()
        if row and row[0]:
            return table
    return None


@dataclass(frozen=True)
class Decoded:
    kind: str  # BEGIN, RELATION, INSERT, ...
    relation: str | None


def _cstring(data: bytes, offset: int) -> tuple[str, int]:
    end = data.index(b"\x00", offset)
    return data[offset:end].decode(), end + 1


def decode_pgoutput(messages: Iterable[bytes]) -> list[Decoded]:
    """Decode the message type and relation of pgoutput (protocol 1) messages; ignore the rest."""
    relations: dict[int, str] = {}
    out: list[Decoded] = []
    for data in messages:
        tag = chr(data[0])
        if tag == "R":
            (oid,) = struct.unpack_from("!I", data, 1)
            namespace, pos = _cstring(data, 5)
            name, _ = _cstring(data, pos)
            relations[oid] = f"{display_name(namespace or 'pg_catalog')}.{display_name(name)}"
            out.append(Decoded("RELATION", relations[oid]))
        elif tag in ("I", "U", "D"):
            (oid,) = struct.unpack_from("!I", data, 1)
            out.append(Decoded(_KINDS[tag], relations.get(oid, f"oid {oid}")))
        elif tag == "T":
            (count,) = struct.unpack_from("!I", data, 1)
            oids = struct.unpack_from(f"!{count}I", data, 6)
            out.append(Decoded("TRUNCATE", ", ".join(relations.get(o, f"oid {o}") for o in oids)))
        else:
            out.append(Decoded({"B": "BEGIN", "C": "COMMIT", "Y": "TYPE", "O": "ORIGIN"}.get(tag, tag), None))
    return out


def prove_replication(
    admin: Connection,
    connector: Connection,
    *,
    publication: str,
    change: ProofChange,
    slot_name: str | None = None,
    timeout_seconds: int = 30,
) -> ReplicationProof:
    """Both connections in autocommit mode; `connector` logged in as the connector role."""
    pub = parse_identifier(publication, "publication")
    slot = check_slot_name(slot_name or f"openflow_proof_{secrets.token_hex(4)}", "slot_name")
    user = connector.info.user
    pub_option = sql.Identifier(pub).as_string(connector)  # publication_names is parsed as identifiers
    connector.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{timeout_seconds}s")))
    try:
        with translated_errors("creating the proof slot"):
            connector.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput', true)", [slot])
    except PermissionDenied:
        raise PermissionDenied(
            f"role {display_name(user)} cannot create a replication slot",
            fix="grant it REPLICATION (ALTER ROLE ... REPLICATION) or, on RDS, GRANT rds_replication; "
            "then re-run prepare",
            call="pg_create_logical_replication_slot",
        ) from None
    except pg_errors.QueryCanceled:  # statement_timeout
        raise PreconditionFailed(
            f"creating a replication slot waited more than {timeout_seconds} s for open transactions to end",
            fix="run the doctor and end the long-running or prepared transactions it lists",
            call="pg_create_logical_replication_slot",
        ) from None
    except pg_errors.ConfigurationLimitExceeded:
        raise PreconditionFailed(
            "all replication slots are in use", fix="raise max_replication_slots or drop an unused slot"
        ) from None
    try:
        with translated_errors("making the proof change"), admin.transaction():
            admin.execute("SET LOCAL synchronous_commit = on")  # the slot reads only flushed WAL
            admin.execute("SET LOCAL lock_timeout = '5s'")
            change.apply(admin)
        try:
            rows = connector.execute(
                "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                "'proto_version', '1', 'publication_names', %s)",
                [slot, pub_option],
            ).fetchall()
        except pg_errors.UndefinedObject as exc:
            raise PreconditionFailed(f"decoding failed: {exc.diag.message_primary or exc}") from None
    finally:
        with translated_errors("dropping the proof slot"):
            connector.execute("SELECT pg_drop_replication_slot(%s)", [slot])
            connector.execute("RESET statement_timeout")
    decoded = decode_pgoutput(bytes(r[0]) for r in rows)
    seen = [f"{d.kind} {d.relation}" for d in decoded if d.kind in _KINDS.values()]
    ok = bool(seen)
    message = (
        f"role {display_name(user)} created pgoutput slot {slot}, saw {', '.join(seen)} through publication "
        f"{display_name(pub)}, and the slot was dropped"
        if ok
        else f"role {display_name(user)} created slot {slot}, but no change of a published table was seen "
        f"after the admin {change.describe}; check that the table is in publication {display_name(pub)}"
    )
    return ReplicationProof(
        user=user, publication=pub, slot=slot, change=change.describe, seen=seen, ok=ok, message=message
    )
