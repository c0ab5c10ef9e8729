"""Databases and schemas. They are created in fakesnow too, so data SQL can use them."""

from __future__ import annotations

from collections.abc import Callable

from .. import errors
from ..context import Ctx, Outcome, Rule
from ..results import Result, columns, status
from ..sqltext import Parser, Value, fq, like_matches
from ..state import Database, Name3, Schema
from .common import dropped_message, if_not_exists_message, parse_scope

CONTAINER_PROPERTIES = frozenset(
    {"COMMENT", "DATA_RETENTION_TIME_IN_DAYS", "MAX_DATA_EXTENSION_TIME_IN_DAYS", "DEFAULT_DDL_COLLATION"}
)


def comment_prop(props: dict[str, Value]) -> str | None:
    return props["COMMENT"].as_text() if "COMMENT" in props else None


def _add_schema(ctx: Ctx, db: str, schema: str, comment: str | None = None) -> None:
    ctx.fakesnow.execute(f"CREATE SCHEMA IF NOT EXISTS {fq(db, schema)}")
    ctx.state.schemas[(db, schema)] = Schema(
        database=db, name=schema, owner=ctx.session.role, comment=comment
    )


def _remove_schema_objects(ctx: Ctx, keep: Callable[[Name3], bool]) -> None:
    state = ctx.state
    for kind, objects in (
        ("IMAGE_REPOSITORY", state.image_repositories),
        ("EVENT_TABLE", state.event_tables),
        ("SECRET", state.secrets),
        ("OPENFLOW_RUNTIME", state.runtimes),
        ("OPENFLOW_CONNECTOR", state.connectors),
    ):
        for key in [k for k in objects if not keep(k)]:
            del objects[key]
            state.drop_grants_on(kind, key)


def create_database(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    name = p.ident()
    props = p.properties(allow=CONTAINER_PROPERTIES)
    p.end()
    ctx.require_account("CREATE DATABASE")
    if name in ctx.state.databases:
        if if_not_exists:
            return status(if_not_exists_message(name))
        if "OR REPLACE" not in ctx.flags:
            raise errors.already_exists("Object", fq(name))
        _drop_database(ctx, name)
    ctx.fakesnow.execute(f"CREATE DATABASE {fq(name)}")
    ctx.state.databases[name] = Database(name=name, owner=ctx.session.role, comment=comment_prop(props))
    _add_schema(ctx, name, "PUBLIC")
    # like Snowflake, the new database (and its PUBLIC schema) becomes the session's current one
    ctx.fakesnow.use_schema(ctx.session.connection, name, "PUBLIC")
    return status(f"Database {fq(name)} successfully created.")


def _drop_database(ctx: Ctx, name: str) -> None:
    ctx.require("OWNERSHIP", "DATABASE", (name,))
    ctx.fakesnow.execute(f"DROP DATABASE IF EXISTS {fq(name)}")
    del ctx.state.databases[name]
    ctx.state.drop_grants_on("DATABASE", (name,))
    for key in [k for k in ctx.state.schemas if k[0] == name]:
        del ctx.state.schemas[key]
        ctx.state.drop_grants_on("SCHEMA", key)
    _remove_schema_objects(ctx, lambda k: k[0] != name)


def drop_database(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    if not p.accept("CASCADE"):
        p.accept("RESTRICT")
    p.end()
    existed = name in ctx.state.databases
    if not existed and not if_exists:
        raise errors.does_not_exist("Database", fq(name))
    if existed:
        ctx.database(name)
        _drop_database(ctx, name)
    return status(dropped_message(fq(name), existed))


def show_databases(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    current = ctx.current_database()
    rows = [
        [
            d.created_on,
            d.name,
            "N",
            "Y" if d.name == current else "N",
            "",
            d.owner,
            d.comment,
            "",
            1,
            "STANDARD",
            None,
            "ROLE",
        ]
        for name, d in sorted(ctx.state.databases.items())
        if like_matches(pattern, name) and ctx.visible("DATABASE", (name,))
    ]
    spec = (
        "created_on:ts name is_default is_current origin owner comment options retention_time kind budget "
        "owner_role_type"
    )
    return Result(columns(spec), list(rows))


def create_schema(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    db, schema = ctx.qualify_schema(p.object_name(2))
    p.accept("WITH", "MANAGED", "ACCESS")
    props = p.properties(allow=CONTAINER_PROPERTIES)
    p.end()
    ctx.database(db)
    ctx.require("CREATE SCHEMA", "DATABASE", (db,), creating=True)
    if (db, schema) in ctx.state.schemas:
        if if_not_exists:
            return status(if_not_exists_message(schema))
        if "OR REPLACE" not in ctx.flags:
            raise errors.already_exists("Object", fq(db, schema))
        _drop_schema(ctx, db, schema)
    _add_schema(ctx, db, schema, comment_prop(props))
    ctx.fakesnow.use_schema(ctx.session.connection, db, schema)
    return status(f"Schema {fq(schema)} successfully created.")


def _drop_schema(ctx: Ctx, db: str, schema: str) -> None:
    ctx.require("OWNERSHIP", "SCHEMA", (db, schema))
    ctx.fakesnow.execute(f"DROP SCHEMA IF EXISTS {fq(db, schema)}")
    del ctx.state.schemas[(db, schema)]
    ctx.state.drop_grants_on("SCHEMA", (db, schema))
    _remove_schema_objects(ctx, lambda k: k[:2] != (db, schema))


def drop_schema(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    db, schema = ctx.qualify_schema(p.object_name(2))
    if not p.accept("CASCADE"):
        p.accept("RESTRICT")
    p.end()
    existed = (db, schema) in ctx.state.schemas
    if not existed and not if_exists:
        raise errors.does_not_exist("Schema", fq(db, schema))
    if existed:
        ctx.schema(db, schema)
        _drop_schema(ctx, db, schema)
    return status(dropped_message(fq(schema), existed))


def show_schemas(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    in_scope = parse_scope(ctx, p)
    p.end()
    current = (ctx.current_database(), ctx.current_schema())
    rows: list[list[object]] = []
    for db_name in sorted(ctx.state.databases):
        if not ctx.visible("DATABASE", (db_name,)):
            continue
        db = ctx.state.databases[db_name]
        schemas = sorted([s for (d, s) in ctx.state.schemas if d == db_name] + ["INFORMATION_SCHEMA"])
        for name in schemas:
            if not in_scope(db_name, name) or not like_matches(pattern, name):
                continue
            obj = ctx.state.schemas.get((db_name, name))
            if obj is not None and not ctx.visible("SCHEMA", (db_name, name)):
                continue
            created_on, owner, comment = (
                (obj.created_on, obj.owner, obj.comment)
                if obj
                else (db.created_on, "", "Views describing the contents of schemas in this database")
            )
            is_current = "Y" if (db_name, name) == current else "N"
            rows.append(
                [created_on, name, "N", is_current, db_name, owner, comment, "", 1, "ROLE" if owner else None]
            )
    spec = (
        "created_on:ts name is_default is_current database_name owner comment options retention_time "
        "owner_role_type"
    )
    return Result(columns(spec), list(rows))


RULES = [
    Rule("CREATE [OR REPLACE] [TRANSIENT] DATABASE", create_database, "write"),
    Rule("DROP DATABASE", drop_database, "write"),
    Rule("SHOW [TERSE] DATABASES", show_databases, "read"),
    Rule("CREATE [OR REPLACE] [TRANSIENT] SCHEMA", create_schema, "write"),
    Rule("DROP SCHEMA", drop_schema, "write"),
    Rule("SHOW [TERSE] SCHEMAS", show_schemas, "read"),
]
