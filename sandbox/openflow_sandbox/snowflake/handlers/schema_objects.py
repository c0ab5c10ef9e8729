"""Schema-level objects: image repositories, event tables and secrets.

Event tables also get a real fakesnow table with Snowflake's event table columns, so they can be
queried. Secrets keep their values for the sandbox (``emu.state.secrets``) but SQL never shows them.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import errors
from ..context import Ctx, Outcome, Rule
from ..results import Result, columns, status
from ..sqltext import Parser, Value, fq, like_matches
from ..state import EventTable, ImageRepository, Name3, SchemaObject, Secret
from .common import dropped_message, if_not_exists_message, parse_scope
from .databases import comment_prop


def _create_in_schema[O: SchemaObject](
    ctx: Ctx,
    p: Parser,
    privilege: str,
    objects: dict[Name3, O],
    build: Callable[[Name3, dict[str, Value]], O],
    allow: frozenset[str],
    label: str,
) -> tuple[Result, O | None]:
    """The shared shape of CREATE [OR REPLACE] <schema object> [IF NOT EXISTS] name props."""
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    key = ctx.qualify(p.object_name())
    props = p.properties(allow=allow)
    p.end()
    ctx.require_schema_create(privilege, key[0], key[1])
    if key in objects:
        if if_not_exists:
            return status(if_not_exists_message(key[2])), None
        if "OR REPLACE" not in ctx.flags:
            raise errors.already_exists("Object", fq(*key))
    obj = build(key, props)
    objects[key] = obj
    return status(f"{label} {fq(key[2])} successfully created."), obj


def _drop_in_schema[O: SchemaObject](
    ctx: Ctx, p: Parser, objects: dict[Name3, O], granted_on: str, label: str
) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    key = ctx.qualify(p.object_name())
    p.end()
    existed = key in objects and ctx.visible(granted_on, key)
    if not existed and not if_exists:
        raise errors.does_not_exist(label, fq(*key))
    if existed:
        ctx.require("OWNERSHIP", granted_on, key)
        del objects[key]
        ctx.state.drop_grants_on(granted_on, key)
    return status(dropped_message(fq(key[2]), existed))


def _show_in_schema[O: SchemaObject](
    ctx: Ctx, p: Parser, objects: dict[Name3, O], granted_on: str
) -> list[O]:
    pattern = p.like()
    in_scope = parse_scope(ctx, p)
    p.end()
    return [
        obj
        for key, obj in sorted(objects.items())
        if in_scope(key[0], key[1]) and like_matches(pattern, key[2]) and ctx.visible(granted_on, key)
    ]


def create_image_repository(ctx: Ctx, p: Parser) -> Outcome:
    def build(key: Name3, props: dict[str, Value]) -> ImageRepository:
        return ImageRepository(
            database=key[0], schema=key[1], name=key[2], owner=ctx.session.role, comment=comment_prop(props)
        )

    result, _ = _create_in_schema(
        ctx,
        p,
        "CREATE IMAGE REPOSITORY",
        ctx.state.image_repositories,
        build,
        frozenset({"COMMENT"}),
        "Image Repository",
    )
    return result


def show_image_repositories(ctx: Ctx, p: Parser) -> Outcome:
    host = f"{ctx.settings.account.lower()}.registry.snowflakecomputing.com"
    rows = [
        [
            r.created_on,
            r.name,
            r.database,
            r.schema,
            f"{host}/{r.database}/{r.schema}/{r.name}".lower(),
            r.owner,
            "ROLE",
            r.comment,
        ]
        for r in _show_in_schema(ctx, p, ctx.state.image_repositories, "IMAGE_REPOSITORY")
    ]
    spec = "created_on:ts name database_name schema_name repository_url owner owner_role_type comment"
    return Result(columns(spec), list(rows))


def drop_image_repository(ctx: Ctx, p: Parser) -> Outcome:
    return _drop_in_schema(ctx, p, ctx.state.image_repositories, "IMAGE_REPOSITORY", "Image repository")


# Snowflake's fixed event table columns, so the table can be queried like a real one
EVENT_TABLE_COLUMNS = (
    "TIMESTAMP TIMESTAMP_NTZ, START_TIMESTAMP TIMESTAMP_NTZ, OBSERVED_TIMESTAMP TIMESTAMP_NTZ, "
    "TRACE OBJECT, RESOURCE OBJECT, RESOURCE_ATTRIBUTES OBJECT, SCOPE OBJECT, SCOPE_ATTRIBUTES OBJECT, "
    "RECORD_TYPE VARCHAR, RECORD OBJECT, RECORD_ATTRIBUTES OBJECT, VALUE VARIANT, EXEMPLARS ARRAY"
)


def create_event_table(ctx: Ctx, p: Parser) -> Outcome:
    def build(key: Name3, props: dict[str, Value]) -> EventTable:
        return EventTable(
            database=key[0], schema=key[1], name=key[2], owner=ctx.session.role, comment=comment_prop(props)
        )

    allow = frozenset({"COMMENT", "DATA_RETENTION_TIME_IN_DAYS", "CHANGE_TRACKING"})
    result, created = _create_in_schema(
        ctx, p, "CREATE EVENT TABLE", ctx.state.event_tables, build, allow, "Table"
    )
    if created is not None:
        verb = "CREATE OR REPLACE TABLE" if "OR REPLACE" in ctx.flags else "CREATE TABLE IF NOT EXISTS"
        ctx.fakesnow.execute(f"{verb} {fq(*created.name3)} ({EVENT_TABLE_COLUMNS})")
    return result


def show_event_tables(ctx: Ctx, p: Parser) -> Outcome:
    rows = [
        [t.created_on, t.name, t.database, t.schema, t.owner, t.comment, "ROLE"]
        for t in _show_in_schema(ctx, p, ctx.state.event_tables, "EVENT_TABLE")
    ]
    return Result(
        columns("created_on:ts name database_name schema_name owner comment owner_role_type"), list(rows)
    )


def drop_event_table(ctx: Ctx, p: Parser) -> Outcome:
    # DROP TABLE on an event table is also allowed in Snowflake; only the explicit form is handled here
    return _drop_in_schema(ctx, p, ctx.state.event_tables, "EVENT_TABLE", "Table")


SECRET_PROPERTIES = frozenset({"TYPE", "USERNAME", "PASSWORD", "SECRET_STRING", "COMMENT"})


def create_secret(ctx: Ctx, p: Parser) -> Outcome:
    def build(key: Name3, props: dict[str, Value]) -> Secret:
        kind = props["TYPE"].as_text().upper() if "TYPE" in props else ""
        if kind == "PASSWORD" and not {"USERNAME", "PASSWORD"} <= set(props):
            raise errors.invalid_value("Secret of TYPE PASSWORD requires USERNAME and PASSWORD.")
        if kind == "GENERIC_STRING" and "SECRET_STRING" not in props:
            raise errors.invalid_value("Secret of TYPE GENERIC_STRING requires SECRET_STRING.")
        if kind not in ("PASSWORD", "GENERIC_STRING"):
            raise errors.unsupported(p.sql)
        text = {k: v.as_text() for k, v in props.items()}
        return Secret(
            database=key[0],
            schema=key[1],
            name=key[2],
            owner=ctx.session.role,
            comment=text.get("COMMENT"),
            secret_type=kind,
            username=text.get("USERNAME"),
            password=text.get("PASSWORD"),
            secret_string=text.get("SECRET_STRING"),
        )

    result, _ = _create_in_schema(
        ctx, p, "CREATE SECRET", ctx.state.secrets, build, SECRET_PROPERTIES, "Secret"
    )
    return result


def show_secrets(ctx: Ctx, p: Parser) -> Outcome:
    rows = [
        [s.created_on, s.name, s.schema, s.database, s.owner, s.comment, s.secret_type, None, "ROLE"]
        for s in _show_in_schema(ctx, p, ctx.state.secrets, "SECRET")
    ]
    spec = (
        "created_on:ts name schema_name database_name owner comment secret_type oauth_scopes owner_role_type"
    )
    return Result(columns(spec), list(rows))


def describe_secret(ctx: Ctx, p: Parser) -> Outcome:
    key = ctx.qualify(p.object_name())
    p.end()
    secret = ctx.state.secrets.get(key)
    if secret is None or not ctx.visible("SECRET", key):
        raise errors.does_not_exist("Secret", fq(*key))
    row = [
        secret.created_on,
        secret.name,
        secret.schema,
        secret.database,
        secret.owner,
        secret.comment,
        secret.secret_type,
        secret.username,
        None,
        None,
        None,
        None,
    ]
    spec = (
        "created_on:ts name schema_name database_name owner comment secret_type username "
        "oauth_access_token_expiry_time oauth_refresh_token_expiry_time oauth_scopes integration_name"
    )
    return Result(columns(spec), [row])


def drop_secret(ctx: Ctx, p: Parser) -> Outcome:
    return _drop_in_schema(ctx, p, ctx.state.secrets, "SECRET", "Secret")


RULES = [
    Rule("CREATE [OR REPLACE] IMAGE REPOSITORY", create_image_repository, "write"),
    Rule("SHOW IMAGE REPOSITORIES", show_image_repositories, "read"),
    Rule("DROP IMAGE REPOSITORY", drop_image_repository, "write"),
    Rule("CREATE [OR REPLACE] EVENT TABLE", create_event_table, "write"),
    Rule("SHOW [TERSE] EVENT TABLES", show_event_tables, "read"),
    Rule("DROP EVENT TABLE", drop_event_table, "write"),
    Rule("CREATE [OR REPLACE] SECRET", create_secret, "write"),
    Rule("SHOW SECRETS", show_secrets, "read"),
    Rule("{DESC|DESCRIBE} SECRET", describe_secret, "read"),
    Rule("DROP SECRET", drop_secret, "write"),
]
