"""Warehouses: CREATE / ALTER (SET, SUSPEND, RESUME) / DROP / SHOW; USE WAREHOUSE is in roles.py."""

from __future__ import annotations

import zlib

from .. import errors
from ..context import Ctx, Outcome, Rule
from ..results import Result, columns, executed, status
from ..sqltext import Parser, Value, fq, like_matches
from ..state import Warehouse, now
from .common import dropped_message, if_not_exists_message

SIZES = {
    "XSMALL": "X-Small",
    "X-SMALL": "X-Small",
    "SMALL": "Small",
    "MEDIUM": "Medium",
    "LARGE": "Large",
    "XLARGE": "X-Large",
    "X-LARGE": "X-Large",
    "XXLARGE": "2X-Large",
    "X2LARGE": "2X-Large",
    "2X-LARGE": "2X-Large",
    "XXXLARGE": "3X-Large",
    "X3LARGE": "3X-Large",
    "3X-LARGE": "3X-Large",
    "X4LARGE": "4X-Large",
    "4X-LARGE": "4X-Large",
}
WAREHOUSE_PROPERTIES = frozenset(
    {
        "WAREHOUSE_SIZE",
        "WAREHOUSE_TYPE",
        "AUTO_SUSPEND",
        "AUTO_RESUME",
        "INITIALLY_SUSPENDED",
        "MIN_CLUSTER_COUNT",
        "MAX_CLUSTER_COUNT",
        "SCALING_POLICY",
        "COMMENT",
        "RESOURCE_MONITOR",
        "ENABLE_QUERY_ACCELERATION",
        "QUERY_ACCELERATION_MAX_SCALE_FACTOR",
        "MAX_CONCURRENCY_LEVEL",
        "STATEMENT_QUEUED_TIMEOUT_IN_SECONDS",
        "STATEMENT_TIMEOUT_IN_SECONDS",
    }
)


def _apply_warehouse(wh: Warehouse, props: dict[str, Value]) -> None:
    for key, value in props.items():
        match key:
            case "WAREHOUSE_SIZE":
                size = SIZES.get(value.as_text().upper().replace("_", "-"))
                if size is None:
                    raise errors.invalid_value(f"invalid value [{value.text}] for parameter 'WAREHOUSE_SIZE'")
                wh.size = size
            case "WAREHOUSE_TYPE":
                wh.warehouse_type = value.as_text().upper()
            case "AUTO_SUSPEND":
                seconds = None if value.text.upper() == "NULL" else value.as_int()
                wh.auto_suspend = seconds or None
            case "AUTO_RESUME":
                wh.auto_resume = value.as_bool()
            case "MIN_CLUSTER_COUNT":
                wh.min_cluster_count = value.as_int()
            case "MAX_CLUSTER_COUNT":
                wh.max_cluster_count = value.as_int()
            case "SCALING_POLICY":
                wh.scaling_policy = value.as_text().upper()
            case "COMMENT":
                wh.comment = value.as_text()
    wh.updated_on = now()


def create_warehouse(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    name = p.ident()
    p.accept("WITH")
    props = p.properties(allow=WAREHOUSE_PROPERTIES)
    p.end()
    ctx.require_account("CREATE WAREHOUSE")
    if name in ctx.state.warehouses:
        if if_not_exists:
            return status(if_not_exists_message(name))
        if "OR REPLACE" not in ctx.flags:
            raise errors.already_exists("Object", fq(name))
        ctx.require("OWNERSHIP", "WAREHOUSE", (name,))
        ctx.state.drop_grants_on("WAREHOUSE", (name,))
    wh = Warehouse(name=name, owner=ctx.session.role)
    _apply_warehouse(wh, props)
    if "INITIALLY_SUSPENDED" in props and props["INITIALLY_SUSPENDED"].as_bool():
        wh.state = "SUSPENDED"
    ctx.state.warehouses[name] = wh
    ctx.session.warehouse = name  # Snowflake makes a new warehouse the session's current one
    return status(f"Warehouse {fq(name)} successfully created.")


def alter_warehouse(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    if name not in ctx.state.warehouses or not ctx.visible("WAREHOUSE", (name,)):
        if if_exists:
            return executed()
        raise errors.does_not_exist("Warehouse", fq(name))
    wh = ctx.state.warehouses[name]
    if p.accept("SUSPEND"):
        p.end()
        ctx.require("OPERATE", "WAREHOUSE", (name,))
        if wh.state == "SUSPENDED":
            raise errors.SqlError(90064, "22000", f"Invalid state. Warehouse '{name}' cannot be suspended.")
        wh.state = "SUSPENDED"
    elif p.accept("RESUME"):
        if_suspended = p.accept("IF", "SUSPENDED")
        p.end()
        ctx.require("OPERATE", "WAREHOUSE", (name,))
        if wh.state == "STARTED" and not if_suspended:
            raise errors.SqlError(90063, "22000", f"Invalid state. Warehouse '{name}' cannot be resumed.")
        wh.state, wh.resumed_on = "STARTED", now()
    elif p.accept("SET"):
        props = p.properties(allow=WAREHOUSE_PROPERTIES - {"INITIALLY_SUSPENDED"})
        p.end()
        if not props:
            raise p.error()
        ctx.require("MODIFY", "WAREHOUSE", (name,))
        _apply_warehouse(wh, props)
    elif p.accept("UNSET"):
        keys = [p.word()]
        while p.accept_symbol(","):
            keys.append(p.word())
        p.end()
        ctx.require("MODIFY", "WAREHOUSE", (name,))
        defaults = Warehouse(name=name, owner=wh.owner)
        for key in keys:
            attribute = {"WAREHOUSE_SIZE": "size", "WAREHOUSE_TYPE": "warehouse_type"}.get(key, key.lower())
            if not hasattr(defaults, attribute):
                raise errors.invalid_value(f"invalid property '{key}' for 'WAREHOUSE'")
            setattr(wh, attribute, getattr(defaults, attribute))
    else:
        raise errors.unsupported(p.sql)
    return executed()


def drop_warehouse(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    p.end()
    existed = name in ctx.state.warehouses and ctx.visible("WAREHOUSE", (name,))
    if not existed and not if_exists:
        raise errors.does_not_exist("Warehouse", fq(name))
    if existed:
        ctx.require("OWNERSHIP", "WAREHOUSE", (name,))
        del ctx.state.warehouses[name]
        ctx.state.drop_grants_on("WAREHOUSE", (name,))
        if ctx.session.warehouse == name:
            ctx.session.warehouse = None
    return status(dropped_message(fq(name), existed))


WAREHOUSE_COLUMNS = (
    "name state type size min_cluster_count:int max_cluster_count:int started_clusters:int running:int "
    "queued:int is_default is_current auto_suspend:int auto_resume available provisioning quiescing other "
    "created_on:ts resumed_on:ts updated_on:ts owner comment enable_query_acceleration "
    "query_acceleration_max_scale_factor:int resource_monitor actives:int pendings:int failed:int "
    "suspended:int uuid scaling_policy budget owner_role_type"
)


def show_warehouses(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    rows: list[list[object]] = []
    for name, wh in sorted(ctx.state.warehouses.items()):
        if not like_matches(pattern, name) or not ctx.visible("WAREHOUSE", (name,)):
            continue
        started = wh.state == "STARTED"
        rows.append(
            [
                name,
                wh.state,
                wh.warehouse_type,
                wh.size,
                wh.min_cluster_count,
                wh.max_cluster_count,
                wh.min_cluster_count if started else 0,
                0,
                0,
                "N",
                "Y" if ctx.session.warehouse == name else "N",
                wh.auto_suspend,
                wh.auto_resume,
                "100" if started else "",
                "0" if started else "",
                "0" if started else "",
                "0" if started else "",
                wh.created_on,
                wh.resumed_on,
                wh.updated_on,
                wh.owner,
                wh.comment or "",
                False,
                8,
                "null",
                wh.min_cluster_count if started else 0,
                0,
                0,
                0 if started else wh.min_cluster_count,
                str(zlib.crc32(name.encode())),
                wh.scaling_policy,
                None,
                "ROLE",
            ]
        )
    return Result(columns(WAREHOUSE_COLUMNS), list(rows))


RULES = [
    Rule("CREATE [OR REPLACE] WAREHOUSE", create_warehouse, "write"),
    Rule("ALTER WAREHOUSE", alter_warehouse, "write"),
    Rule("DROP WAREHOUSE", drop_warehouse, "write"),
    Rule("SHOW WAREHOUSES", show_warehouses, "read"),
]
