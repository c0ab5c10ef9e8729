"""Gen 1 Openflow: data plane integrations (SHOW / DESC / ALTER ... SET EVENT_TABLE) and runtime
integrations (SHOW). There is no CREATE: the sandbox adds them as the Openflow UI would."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Ctx, Outcome, Rule
from ..results import DESCRIBE_TYPE_ID, Result, columns, executed
from ..sqltext import Parser, fq, like_matches
from .common import (
    event_table_ref,
    text_prop,
)


def show_data_plane_integrations(ctx: Ctx, p: Parser) -> Outcome:
    # SHOW lists name, type, category, enabled, comment, created_on; data_plane_id and event_table
    # are documented on DESC only (docs.snowflake.com/en/sql-reference/sql/
    # show-oflow-data-plane-integration and desc-oflow-data-plane-integration)
    pattern = p.like()
    p.end()
    rows: list[list[object]] = [
        [i.name, "OPENFLOW_DATAPLANE", "OPENFLOW", i.enabled, i.comment, i.created_on]
        for name, i in sorted(ctx.state.data_plane_integrations.items())
        if like_matches(pattern, name) and ctx.visible("INTEGRATION", (name,))
    ]
    return Result(columns("name type category enabled comment created_on:ts"), rows)


def _data_plane_integration(ctx: Ctx, name: str) -> Any:
    found = ctx.state.data_plane_integrations.get(name)
    if found is None or not ctx.visible("INTEGRATION", (name,)):
        raise errors.does_not_exist("Integration", fq(name))
    return found


def describe_data_plane_integration(ctx: Ctx, p: Parser) -> Outcome:
    # One row with these columns, not property/value rows: the output table of
    # docs.snowflake.com/en/sql-reference/sql/desc-oflow-data-plane-integration
    i = _data_plane_integration(ctx, p.ident())
    p.end()
    row: list[object] = [i.enabled, i.oauth_redirect_uri, i.data_plane_id, i.event_table, i.comment]
    return Result(
        columns("enabled oauth_redirect_uri data_plane_id event_table comment"), [row], DESCRIBE_TYPE_ID
    )


def alter_data_plane_integration(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    if if_exists and name not in ctx.state.data_plane_integrations:
        return executed()
    i = _data_plane_integration(ctx, name)
    if p.accept("SET"):
        props = p.properties(allow=frozenset({"EVENT_TABLE", "COMMENT", "ENABLED"}))
        p.end()
        if not props:
            raise p.error()
        ctx.require("MODIFY", "INTEGRATION", (name,))
        if "EVENT_TABLE" in props:
            i.event_table = event_table_ref(ctx, props["EVENT_TABLE"])
        if "ENABLED" in props:
            i.enabled = props["ENABLED"].as_bool()
        i.comment = text_prop(props, "COMMENT") if "COMMENT" in props else i.comment
    elif p.accept("UNSET"):
        prop = p.word()
        p.end()
        ctx.require("MODIFY", "INTEGRATION", (name,))
        if prop not in ("EVENT_TABLE", "COMMENT"):
            raise errors.invalid_value(f"invalid property '{prop}' for 'OPENFLOW DATA PLANE INTEGRATION'")
        setattr(i, prop.lower(), None)
    else:
        raise errors.unsupported(p.sql)
    return executed()


def show_runtime_integrations(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    rows: list[list[object]] = [
        [i.name, i.enabled, i.comment, i.created_on, i.oauth_redirect_uri]
        for name, i in sorted(ctx.state.runtime_integrations.items())
        if like_matches(pattern, name) and ctx.visible("INTEGRATION", (name,))
    ]
    return Result(columns("name enabled comment created_on:ts oauth_redirect_uri"), rows)


RULES = [
    Rule("SHOW OPENFLOW DATA PLANE INTEGRATIONS", show_data_plane_integrations, "read"),
    Rule("{DESC|DESCRIBE} OPENFLOW DATA PLANE INTEGRATION", describe_data_plane_integration, "read"),
    Rule("ALTER OPENFLOW DATA PLANE INTEGRATION", alter_data_plane_integration, "write"),
    Rule("SHOW OPENFLOW RUNTIME INTEGRATIONS", show_runtime_integrations, "read"),
]
