"""The shared SNOWFLAKE database's ACCOUNT_USAGE views the emulation holds (in fakesnow), and who may
read them.

Each view has the columns its page lists. Snowflake imports the database into every account and lets
ACCOUNTADMIN read it; another role needs IMPORTED PRIVILEGES on it (or one of its database roles, not
emulated here), and without them the view "does not exist or not authorized"
(https://docs.snowflake.com/en/sql-reference/account-usage#enabling-other-roles-to-use-schemas-in-the-snowflake-database).
The database is shared, so nothing in it can be written. Rows are what an account's usage would leave
there: `load()` is how the sandbox puts them in (demo usage, see openflow_sandbox/measured_cost.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from . import errors
from .context import Ctx, FakesnowBridge, Kind
from .sqltext import Token, tokenize
from .state import AccountState, Database

DATABASE: Final = "SNOWFLAKE"
SCHEMA: Final = "ACCOUNT_USAGE"

VIEWS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    # https://docs.snowflake.com/en/sql-reference/account-usage/metering_history
    "METERING_HISTORY": (
        ("SERVICE_TYPE", "VARCHAR"),
        ("START_TIME", "TIMESTAMP_LTZ"),
        ("END_TIME", "TIMESTAMP_LTZ"),
        ("ENTITY_ID", "NUMBER"),
        ("ENTITY_TYPE", "VARCHAR"),
        ("NAME", "VARCHAR"),
        ("CREDITS_USED_COMPUTE", "NUMBER(38,9)"),
        ("CREDITS_USED_CLOUD_SERVICES", "NUMBER(38,9)"),
        ("CREDITS_USED", "NUMBER(38,9)"),
        ("BYTES", "NUMBER"),
        ("ROWS", "NUMBER"),
        ("FILES", "NUMBER"),
        ("BUDGET_ID", "VARCHAR"),
    ),
    # https://docs.snowflake.com/en/sql-reference/account-usage/openflow_usage_history
    "OPENFLOW_USAGE_HISTORY": (
        ("START_TIME", "TIMESTAMP_LTZ"),
        ("END_TIME", "TIMESTAMP_LTZ"),
        ("DATA_PLANE_ID", "VARCHAR"),
        ("DATA_PLANE_NAME", "VARCHAR"),
        ("DATA_PLANE_TYPE", "VARCHAR"),
        ("DATA_PLANE_CREDITS_USED", "NUMBER(38,9)"),
        ("RUNTIME_ID", "VARCHAR"),
        ("RUNTIME_NAME", "VARCHAR"),
        ("RUNTIME_TYPE", "VARCHAR"),
        ("RUNTIME_CREDITS_USED", "NUMBER(38,9)"),
    ),
    # https://docs.snowflake.com/en/sql-reference/account-usage/warehouse_metering_history
    "WAREHOUSE_METERING_HISTORY": (
        ("START_TIME", "TIMESTAMP_LTZ"),
        ("END_TIME", "TIMESTAMP_LTZ"),
        ("WAREHOUSE_ID", "NUMBER"),
        ("WAREHOUSE_NAME", "VARCHAR"),
        ("CREDITS_USED", "NUMBER(38,9)"),
        ("CREDITS_USED_COMPUTE", "NUMBER(38,9)"),
        ("CREDITS_USED_CLOUD_SERVICES", "NUMBER(38,9)"),
        ("CREDITS_ATTRIBUTED_COMPUTE_QUERIES", "NUMBER(38,9)"),
    ),
}


def _qualified(view: str) -> str:
    return f"{DATABASE}.{SCHEMA}.{view}"


def ensure(state: AccountState, bridge: FakesnowBridge) -> None:
    """The imported database (no owner: it is Snowflake's) and its views, once."""
    state.databases.setdefault(DATABASE, Database(name=DATABASE, owner="", comment=None))
    if all(bridge.table_exists(DATABASE, SCHEMA, view) for view in VIEWS):
        return
    bridge.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    bridge.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}")
    for view, columns in VIEWS.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        bridge.execute(f"CREATE TABLE IF NOT EXISTS {_qualified(view)} ({body})")


def _sql_value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"'{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00:00'"
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def load(state: AccountState, bridge: FakesnowBridge, view: str, rows: Iterable[Mapping[str, object]]) -> int:
    """Append rows (column -> value; missing columns are NULL) to a view; returns how many."""
    if view not in VIEWS:
        raise KeyError(f"not an emulated ACCOUNT_USAGE view: {view}; known: {sorted(VIEWS)}")
    ensure(state, bridge)
    names = [name for name, _ in VIEWS[view]]
    tuples: list[str] = []
    for row in rows:
        unknown = set(row) - set(names)
        if unknown:
            raise KeyError(f"{view} has no columns {sorted(unknown)}")
        tuples.append("(" + ", ".join(_sql_value(row.get(name)) for name in names) + ")")
    for i in range(0, len(tuples), 500):  # a few statements, not one per hour of a month
        values = ", ".join(tuples[i : i + 500])
        bridge.execute(f"INSERT INTO {_qualified(view)} VALUES {values}")  # noqa: S608 - known view, quoted values
    return len(tuples)


def _part(token: Token) -> str | None:
    if token.kind == "word":
        return token.upper
    if token.kind == "quoted":
        return token.text
    return None


def referenced(sql: str, current_database: str | None) -> list[str]:
    """The ACCOUNT_USAGE views a statement names: SNOWFLAKE.ACCOUNT_USAGE.<view>, or
    ACCOUNT_USAGE.<view> while SNOWFLAKE is the current database."""
    tokens = tokenize(sql, lenient=True)

    def dot(j: int) -> bool:
        return 0 <= j < len(tokens) and tokens[j].kind == "symbol" and tokens[j].text == "."

    def part(j: int) -> str | None:
        return _part(tokens[j]) if 0 <= j < len(tokens) else None

    found: list[str] = []
    for i in range(len(tokens)):
        if dot(i - 1):  # inside a longer name
            continue
        if part(i) == DATABASE and dot(i + 1) and part(i + 2) == SCHEMA and dot(i + 3) and part(i + 4):
            found.append(str(part(i + 4)))
        elif current_database == DATABASE and part(i) == SCHEMA and dot(i + 1) and part(i + 2):
            found.append(str(part(i + 2)))
    return found


def guard(ctx: Ctx, sql: str, kind: Kind) -> None:
    """Refuse what Snowflake refuses on the shared views; create them (empty) on first use."""
    views = referenced(sql, ctx.current_database())
    if not views:
        return
    if kind == "write":  # a shared database is read-only
        raise errors.unsupported(sql)
    if not ctx.can("IMPORTED PRIVILEGES", "DATABASE", (DATABASE,)):
        raise errors.does_not_exist("Object", _qualified(views[0]))
    unknown = [v for v in views if v not in VIEWS]
    if unknown:  # Snowflake has many more views; the emulation holds the ones it was given
        raise errors.unsupported(sql)
    ensure(ctx.state, ctx.fakesnow)
