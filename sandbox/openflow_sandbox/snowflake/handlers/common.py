"""Pieces shared by the SHOW handlers of schema-level objects."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any

from .. import errors
from ..context import Ctx
from ..sqltext import Parser, Value, fq

Scope = Callable[[str, str], bool]  # (database, schema) -> in scope


def parse_scope(ctx: Ctx, p: Parser) -> Scope:
    """``[IN ACCOUNT | IN DATABASE [d] | IN [SCHEMA] [d.]s]``; without IN, the current database if any.

    Named databases and schemas must exist, as in Snowflake.
    """
    if not p.accept("IN"):
        current = ctx.current_database()
        return (lambda d, s: d == current) if current else (lambda d, s: True)
    if p.accept("ACCOUNT"):
        return lambda d, s: True
    if p.accept("DATABASE"):
        db = ctx.current_database() if p.at_end() or p.is_kw("STARTS") or p.is_kw("LIMIT") else p.ident()
        if db is None:
            raise errors.no_current_database()
        ctx.database(db)
        return lambda d, s: d == db
    p.accept("SCHEMA")
    if p.at_end():
        db, schema = ctx.current_database(), ctx.current_schema()
        if db is None or schema is None:
            raise errors.no_current_database()
    else:
        db, schema = ctx.qualify_schema(p.object_name(2))
    ctx.schema(db, schema)
    return lambda d, s: (d, s) == (db, schema)


def if_not_exists_message(name: str) -> str:
    return f"{name} already exists, statement succeeded."


def dropped_message(name: str, existed: bool) -> str:
    return (
        f"{name} successfully dropped."
        if existed
        else f"Drop statement executed successfully ({name} already dropped)."
    )


# -- Openflow objects ------------------------------------------------------------------------------

# Failed states are named <ACTION>_FAILED; there is no plain FAILED or ERROR (desc-openflow-runtime,
# desc-openflow-connector, gen2/manage-connector-lifecycle, desc-openflow-deployment).
RUNTIME_FAILED = frozenset(
    {
        "CREATE_FAILED",
        "UPDATE_FAILED",
        "SUSPEND_FAILED",
        "ACTIVATE_FAILED",
        "RESTART_FAILED",
        "UPGRADE_FAILED",
        "DELETE_FAILED",
    }
)
CONNECTOR_FAILED = frozenset(
    {"CREATE_FAILED", "START_FAILED", "STOP_FAILED", "UPDATE_FAILED", "DELETE_FAILED"}
)
DEPLOYMENT_FAILED = frozenset({"UPGRADE_FAILED", "CREATE_FAILED", "DELETE_FAILED"})
FAILED_STATUSES = RUNTIME_FAILED | CONNECTOR_FAILED | DEPLOYMENT_FAILED
TRANSITIONAL_STATUSES = frozenset(
    {
        "CREATING",
        "PROVISIONING",
        "SUSPENDING",
        "ACTIVATING",
        "RESUMING",
        "RESTARTING",
        "UPGRADING",
        "UPDATING",
        "TERMINATING",
        "DELETING",
        "STARTING",
        "STOPPING",
    }
)


def new_key(length: int = 12) -> str:
    """A data-plane-style key: lower-case letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def event_table_ref(ctx: Ctx, value: Value) -> str | None:
    """EVENT_TABLE = 'db.schema.table' | NONE -> the qualified name, checked to exist."""
    if value.kind == "word" and value.text.upper() == "NONE":
        return None
    key = ctx.qualify(value.as_name())
    if key not in ctx.state.event_tables or not ctx.visible("EVENT_TABLE", key):
        raise errors.does_not_exist("Event table", fq(*key))
    return fq(*key)


def text_prop(props: dict[str, Value], key: str) -> str | None:
    return props[key].as_text() if key in props else None


def report(objects: list[Any], row: Callable[[Any], list[object]]) -> list[list[object]]:
    """Rows for a status read, then one step of each object's pending transition."""
    rows = [row(o) for o in objects]
    for o in objects:
        o.observe()
    return rows


def cannot(kind: str, name: str, action: str, current: str) -> errors.SqlError:
    return errors.invalid_state(f"Openflow {kind} '{name}' cannot be {action} in status {current}.")
