"""Gen 2 Openflow connectors, their catalogue and configuration versions.

The configuration (config.json on the connector's versioned stage) is held as a dict: the live
version is edited with PUT on ``snow://openflow_connector/<name>/versions/live/`` (see
connector_stage.py) or ``SnowflakeEmulator.put_connector_config``; COMMIT freezes it as VERSION$n.

Lifecycle (gen2/manage-connector-lifecycle, alter-openflow-connector): commands return at once and
the status settles later. COMMIT runs the definition's validator (connector_definitions.validate):
a rejected configuration leaves the connector in UPDATE_FAILED with a status message naming the
property; START is refused there and only STOP returns it to STOPPED. START needs a stable STOPPED
connector; a default version that does not validate any more (a secret dropped since) ends in
START_FAILED.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import errors, privileges
from ..connector_definitions import Environment, definitions, validate
from ..context import Ctx, Outcome, Rule
from ..results import DESCRIBE_TYPE_ID, Result, columns, executed, status
from ..sqltext import Parser, fq, like_matches, parse_name
from ..state import Connector, ConnectorVersion, Name3
from .common import (
    CONNECTOR_FAILED,
    TRANSITIONAL_STATUSES,
    cannot,
    dropped_message,
    if_not_exists_message,
    parse_scope,
    report,
    text_prop,
)
from .runtimes import find_runtime

# The connector catalogue (SHOW OPENFLOW CONNECTOR DEFINITIONS). Definitions with a data file in
# definitions/ have their documented configuration; the others start from an empty one.
CONNECTOR_DEFINITIONS: dict[str, tuple[str, str]] = {
    "OPENFLOW_POSTGRES_CDC": ("PostgreSQL", "Change data capture from PostgreSQL into Snowflake tables."),
    "OPENFLOW_MYSQL_CDC": ("MySQL", "Change data capture from MySQL and MariaDB into Snowflake tables."),
    "OPENFLOW_SQLSERVER_CDC": ("SQL Server", "Change data capture from SQL Server into Snowflake tables."),
}


def default_connector_config(definition: str) -> dict[str, Any]:
    """config.json of a new connector's live version: the definition's, with its defaults."""
    known = definitions().get(definition)
    if known is not None:
        return known.default_config()
    return {"configFormatVersion": 1, "connectorDefinitionId": definition, "configuration": []}


def _secret_key(ctx: Ctx, text: str) -> Name3 | None:
    try:
        parts = parse_name(text)
    except errors.SqlError:
        return None
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def validation_environment(ctx: Ctx, c: Connector, assets: frozenset[str]) -> Environment:
    """What the connector's validator sees: secrets and grants as the runtime's execute-as role."""
    state = ctx.state
    rt = state.runtimes.get(c.runtime)
    execute_as = rt.execute_as_role if rt else None

    def roles_of(role: str | None) -> set[str]:
        return privileges.inherited_roles(state, role) if role and role in state.roles else set()

    def secret_type(text: str) -> str | None:
        key = _secret_key(ctx, text)
        secret = state.secrets.get(key) if key else None
        return secret.secret_type if secret else None

    def can_read_secret(text: str) -> bool:
        # configure-connector-sql: READ on the secret, USAGE on its database and schema
        key = _secret_key(ctx, text)
        roles = roles_of(execute_as)
        if key is None or not roles:
            return False
        wanted: tuple[tuple[str, str, tuple[str, ...]], ...] = (
            ("READ", "SECRET", key),
            ("USAGE", "DATABASE", key[:1]),
            ("USAGE", "SCHEMA", key[:2]),
        )
        return all(privileges.has_privilege(state, roles, priv, on, name) for priv, on, name in wanted)

    def warehouse_usable(text: str, role: str | None) -> bool:
        try:
            parts = parse_name(text)
        except errors.SqlError:
            return False
        if len(parts) != 1 or parts[0] not in state.warehouses:
            return False
        try:
            role_name = parse_name(role)[0] if role else execute_as
        except errors.SqlError:
            return False
        return privileges.has_privilege(state, roles_of(role_name), "USAGE", "WAREHOUSE", (parts[0],))

    return Environment(
        secret_type=secret_type,
        can_read_secret=can_read_secret,
        warehouse_usable=warehouse_usable,
        account_identifier=ctx.settings.account,
        assets=assets,
    )


def check_configuration(
    ctx: Ctx, c: Connector, config: dict[str, Any], assets: dict[str, bytes]
) -> str | None:
    """The validator's verdict on a configuration: None when valid, else the status message."""
    definition = definitions().get(c.definition)
    if definition is None:
        return None
    return validate(config, definition, validation_environment(ctx, c, frozenset(assets)))


def find_connector(ctx: Ctx, parts: list[str]) -> Connector:
    key = ctx.qualify(parts)
    conn = ctx.state.connectors.get(key)
    if conn is None or not ctx.visible("OPENFLOW_CONNECTOR", key):
        raise errors.does_not_exist("Openflow connector", fq(*key))
    return conn


def stage_uri(key: Name3, version: str) -> str:
    return f"snow://openflow_connector/{fq(*key)}/versions/{version}/"


def create_connector(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    parts = p.object_name()
    p.expect("IN", "RUNTIME")
    rt = find_runtime(ctx, p.object_name())
    p.expect("FROM")
    if not p.accept("DEFINITION"):
        raise errors.unsupported(p.sql)  # FROM '<stage reference>'
    definition = p.ident()
    props = p.properties(allow=frozenset({"DISPLAY_NAME", "COMMENT"}))
    p.end()
    key: Name3 = (rt.database, rt.schema, parts[0]) if len(parts) == 1 else ctx.qualify(parts)
    ctx.require_schema_create("CREATE OPENFLOW CONNECTOR", key[0], key[1])
    ctx.require("USAGE", "OPENFLOW_RUNTIME", rt.name3, creating=True)
    if key in ctx.state.connectors:
        if if_not_exists:
            return status(if_not_exists_message(key[2]))
        raise errors.already_exists("Openflow connector", fq(*key))
    if definition not in CONNECTOR_DEFINITIONS:
        raise errors.does_not_exist("Openflow connector definition", definition)
    if rt.status in ("TERMINATING", "TERMINATED"):
        raise cannot("runtime", rt.name, "used", rt.status)
    ctx.state.connectors[key] = Connector(
        database=key[0],
        schema=key[1],
        name=key[2],
        runtime=rt.name3,
        definition=definition,
        status="STOPPED",
        owner=ctx.session.role,
        display_name=text_prop(props, "DISPLAY_NAME"),
        comment=text_prop(props, "COMMENT"),
        live_config=default_connector_config(definition),
    )
    return status(f"Openflow connector {fq(key[2])} successfully created.")


def _connector_common(ctx: Ctx, c: Connector) -> list[object]:
    default = c.versions[-1] if c.versions else None
    return [
        c.status,
        fq(*c.runtime),
        c.definition,
        c.display_name or c.name,
        c.owner,
        c.comment,
        f"https://of--{ctx.settings.account.lower()}.snowflakecomputing.app/connectors/{fq(*c.name3).lower()}",
        c.default_version,
        default.name if default else None,
        default.alias if default else None,
        stage_uri(c.name3, default.name) if default else None,
        None,
    ]


CONNECTOR_COMMON = (
    "status runtime connector_definition display_name owner comment connector_url default_version "
    "default_version_name default_version_alias default_version_location_uri "
    "default_version_source_location_uri"
)


def show_connectors(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    runtime: Name3 | None = None
    if p.is_kw("IN", "RUNTIME"):
        p.i += 2
        runtime = find_runtime(ctx, p.object_name()).name3
        in_scope = parse_scope(ctx, Parser("IN ACCOUNT"))
    else:
        in_scope = parse_scope(ctx, p)
    p.end()
    found = [
        c
        for key, c in sorted(ctx.state.connectors.items())
        if in_scope(key[0], key[1])
        and like_matches(pattern, key[2])
        and runtime in (None, c.runtime)
        and ctx.visible("OPENFLOW_CONNECTOR", key)
    ]
    rows = report(
        found,
        lambda c: [c.created_on, c.name, c.database, c.schema, *_connector_common(ctx, c), c.updated_on],
    )
    return Result(
        columns(f"created_on:ts name database_name schema_name {CONNECTOR_COMMON} updated_on:ts"), rows
    )


def describe_connector(ctx: Ctx, p: Parser) -> Outcome:
    c = find_connector(ctx, p.object_name())
    p.end()

    def row(c: Connector) -> list[object]:
        last = c.versions[-1] if c.versions else None
        last_uri = stage_uri(c.name3, last.name) if last else None
        return [c.name, *_connector_common(ctx, c), None, last and last.name, last and last.alias, last_uri]

    # desc-openflow-connector; error_code and status_message say why a command failed
    spec = (
        f"name {CONNECTOR_COMMON} default_version_git_commit_hash last_version_name last_version_alias "
        "last_version_location_uri error_code status_message"
    )
    rows = report([c], lambda c: [*row(c), c.error_code, c.status_message])
    return Result(columns(spec), rows, DESCRIBE_TYPE_ID)


def show_connector_versions(ctx: Ctx, p: Parser) -> Outcome:
    c = find_connector(ctx, p.object_name())
    p.end()
    rows: list[list[object]] = []
    for i, v in enumerate(c.versions):
        last = i == len(c.versions) - 1
        rows.append(
            [
                v.created_on,
                v.name,
                v.alias,
                stage_uri(c.name3, v.name),
                last,
                False,
                i == 0,
                last,
                v.comment,
                None,
                None,
            ]
        )
    if c.live_config is not None:
        rows.append(
            [
                c.updated_on,
                "LIVE",
                None,
                stage_uri(c.name3, "live"),
                False,
                True,
                False,
                False,
                None,
                None,
                None,
            ]
        )
    spec = (
        "created_on:ts name alias location_uri is_default is_live is_first is_last comment "
        "source_location_uri git_commit_hash"
    )
    return Result(columns(spec), rows)


def alter_connector(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    parts = p.object_name()
    if if_exists and ctx.qualify(parts) not in ctx.state.connectors:
        return executed()
    c = find_connector(ctx, parts)
    key, reads = c.name3, ctx.settings.transition_reads
    if p.accept("COMMIT"):
        props = p.properties(allow=frozenset({"COMMENT"}))
        p.end()
        ctx.require("MODIFY", "OPENFLOW_CONNECTOR", key)
        if c.live_config is None:
            raise errors.invalid_state(f"Openflow connector '{c.name}' has no live version to commit.")
        if c.status in TRANSITIONAL_STATUSES:
            raise cannot("connector", c.name, "committed", c.status)
        problem = check_configuration(ctx, c, c.live_config, c.assets)
        c.versions.append(
            ConnectorVersion(
                name=f"VERSION${len(c.versions) + 1}",
                config=c.live_config,
                assets=dict(c.assets),
                comment=text_prop(props, "COMMENT"),
                problem=problem,
            )
        )
        c.live_config, c.assets = None, {}
        settled = c.status if c.status in ("STOPPED", "RUNNING") else "STOPPED"
        c.begin("UPDATING", "UPDATE_FAILED" if problem else settled, reads, problem)
    elif p.accept("ABORT"):
        p.end()
        ctx.require("MODIFY", "OPENFLOW_CONNECTOR", key)
        c.live_config, c.assets = None, {}
    elif p.accept("ADD", "LIVE", "VERSION", "FROM"):
        if not p.accept("LAST"):
            p.ident()
        p.properties(allow=frozenset({"COMMENT"}))
        p.end()
        ctx.require("MODIFY", "OPENFLOW_CONNECTOR", key)
        if not c.versions:
            raise errors.invalid_state(
                f"Openflow connector '{c.name}' has no version to start a live version from."
            )
        if c.live_config is not None:
            raise errors.invalid_state(f"Openflow connector '{c.name}' already has a live version.")
        c.live_config = copy.deepcopy(c.versions[-1].config)
        c.assets = dict(c.versions[-1].assets)
    elif p.accept("START"):
        p.end()
        ctx.require("OPERATE", "OPENFLOW_CONNECTOR", key)
        if not c.versions:
            raise errors.invalid_state(
                f"Openflow connector '{c.name}' has no committed version; COMMIT first."
            )
        if c.status in ("RUNNING", "STARTING"):
            pass
        elif c.status != "STOPPED" or c.pending is not None:
            # UPDATE_FAILED refuses START until a STOP; a transitional status must settle first
            raise cannot("connector", c.name, "started", c.status)
        else:
            version = c.versions[-1]
            problem = version.problem or check_configuration(ctx, c, version.config, version.assets)
            c.begin("STARTING", "START_FAILED" if problem else "RUNNING", reads, problem)
    elif p.accept("STOP"):
        p.end()
        ctx.require("OPERATE", "OPENFLOW_CONNECTOR", key)
        if c.status in ("RUNNING", "STARTING", *CONNECTOR_FAILED - {"DELETE_FAILED"}):
            c.begin("STOPPING", "STOPPED", reads)
        elif c.status not in ("STOPPED", "STOPPING"):
            raise cannot("connector", c.name, "stopped", c.status)
    elif p.accept("TERMINATE"):
        p.end()
        ctx.require("OWNERSHIP", "OPENFLOW_CONNECTOR", key)
        if c.status not in ("TERMINATING", "TERMINATED"):
            c.begin("TERMINATING", "TERMINATED", reads)
    elif p.accept("SET"):
        props = p.properties(allow=frozenset({"DEFAULT_VERSION", "DISPLAY_NAME", "COMMENT"}))
        p.end()
        if not props:
            raise p.error()
        ctx.require("MODIFY", "OPENFLOW_CONNECTOR", key)
        if "DEFAULT_VERSION" in props:
            c.default_version = props["DEFAULT_VERSION"].as_text().upper()
        c.display_name = text_prop(props, "DISPLAY_NAME") or c.display_name
        c.comment = text_prop(props, "COMMENT") if "COMMENT" in props else c.comment
    else:
        raise errors.unsupported(p.sql)
    return executed()


def drop_connector(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    parts = p.object_name()
    p.end()
    key = ctx.qualify(parts)
    existed = key in ctx.state.connectors
    if not existed and not if_exists:
        raise errors.does_not_exist("Openflow connector", fq(*key))
    if existed:
        c = find_connector(ctx, parts)
        ctx.require("OWNERSHIP", "OPENFLOW_CONNECTOR", key)
        if c.status in ("RUNNING", "STARTING"):
            raise cannot("connector", c.name, "dropped", c.status)
        del ctx.state.connectors[key]
        ctx.state.drop_grants_on("OPENFLOW_CONNECTOR", key)
    return status(dropped_message(fq(key[2]), existed))


def show_connector_definitions(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    rows: list[list[object]] = [
        [name, display, description]
        for name, (display, description) in sorted(CONNECTOR_DEFINITIONS.items())
        if like_matches(pattern, name)
    ]
    return Result(columns("name display_name description"), rows)


RULES = [
    Rule("SHOW OPENFLOW CONNECTOR DEFINITIONS", show_connector_definitions, "read"),
    Rule("CREATE OPENFLOW CONNECTOR", create_connector, "write"),
    Rule("SHOW OPENFLOW CONNECTORS", show_connectors, "read"),
    Rule("SHOW VERSIONS IN OPENFLOW CONNECTOR", show_connector_versions, "read"),
    Rule("{DESC|DESCRIBE} OPENFLOW CONNECTOR", describe_connector, "read"),
    Rule("ALTER OPENFLOW CONNECTOR", alter_connector, "write"),
    Rule("DROP OPENFLOW CONNECTOR", drop_connector, "write"),
]
