"""Gen 2 Openflow runtimes: CREATE (CREATING -> ACTIVE), SUSPEND, RESUME, RESTART, TERMINATE, SHOW, DESC."""

from __future__ import annotations

import re

from .. import errors
from ..context import Ctx, Outcome, Rule
from ..results import DESCRIBE_TYPE_ID, Result, columns, executed, status
from ..sqltext import Parser, Value, fq, like_matches
from ..state import Runtime
from .common import (
    RUNTIME_FAILED,
    cannot,
    dropped_message,
    if_not_exists_message,
    new_key,
    parse_scope,
    report,
)
from .deployments import find_deployment

NODE_TIERS = {"SMALL": "S1", "MEDIUM": "M4", "LARGE": "L8"}
TIER_NODE_TYPES = {"S1": "SMALL", "S2": "SMALL", "S3": "SMALL", "M4": "MEDIUM", "M6": "MEDIUM", "L8": "LARGE"}


RUNTIME_PROPERTIES = frozenset(
    {
        "NODE_TYPE",
        "NODE_TYPE_TIER",
        "MIN_NODES",
        "MAX_NODES",
        "EXECUTE_AS_ROLE",
        "DISPLAY_NAME",
        "COMMENT",
        "INITIALLY_SUSPENDED",
        "EXTERNAL_ACCESS_INTEGRATIONS",
    }
)
RUNTIME_COLUMNS = (
    "name status deployment min_nodes:int max_nodes:int node_type display_name external_access_integrations "
    "initially_suspended execute_as_role key owner comment server_url node_type_tier"
)


def find_runtime(ctx: Ctx, parts: list[str]) -> Runtime:
    key = ctx.qualify(parts)
    rt = ctx.state.runtimes.get(key)
    if rt is None or not ctx.visible("OPENFLOW_RUNTIME", key):
        raise errors.does_not_exist("Openflow runtime", fq(*key))
    return rt


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or new_key(8)


def _apply_runtime(ctx: Ctx, rt: Runtime, props: dict[str, Value]) -> None:
    for key, value in props.items():
        match key:
            case "NODE_TYPE_TIER":
                tier = value.as_text().upper()
                if TIER_NODE_TYPES.get(tier) != rt.node_type:
                    raise errors.invalid_value(
                        f"NODE_TYPE_TIER '{tier}' does not match NODE_TYPE {rt.node_type}"
                    )
                rt.node_type_tier = tier
            case "MIN_NODES":
                rt.min_nodes = value.as_int()
            case "MAX_NODES":
                rt.max_nodes = value.as_int()
            case "EXECUTE_AS_ROLE":
                role = value.as_name()[0]
                ctx.role(role)
                rt.execute_as_role = role
            case "DISPLAY_NAME":
                rt.display_name = value.as_text()
            case "COMMENT":
                rt.comment = value.as_text()
            case "EXTERNAL_ACCESS_INTEGRATIONS":
                rt.external_access_integrations = tuple(v.as_name()[0] for v in value.items)
    if not 1 <= rt.min_nodes <= rt.max_nodes:
        raise errors.invalid_value(
            f"MIN_NODES ({rt.min_nodes}) must be between 1 and MAX_NODES ({rt.max_nodes})."
        )


def create_runtime(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    key = ctx.qualify(p.object_name())
    p.expect("IN", "DEPLOYMENT")
    deployment = p.ident()
    props = p.properties(allow=RUNTIME_PROPERTIES)
    p.end()
    if "EXECUTE_AS_ROLE" not in props:
        # create-openflow-runtime: EXECUTE_AS_ROLE is a required parameter
        raise errors.missing_required("EXECUTE_AS_ROLE", "OPENFLOW RUNTIME")
    ctx.require_schema_create("CREATE OPENFLOW RUNTIME", key[0], key[1])
    dep = find_deployment(ctx, deployment)
    ctx.require("USAGE", "OPENFLOW_DEPLOYMENT", (deployment,), creating=True)
    if key in ctx.state.runtimes:
        if if_not_exists:
            return status(if_not_exists_message(key[2]))
        raise errors.already_exists("Openflow runtime", fq(*key))
    if dep.status != "ACTIVE":
        raise errors.invalid_state(f"Openflow deployment '{deployment}' is not ACTIVE (status {dep.status}).")
    node_type = props["NODE_TYPE"].as_text().upper() if "NODE_TYPE" in props else "SMALL"
    if node_type not in NODE_TIERS:
        raise errors.invalid_value(f"invalid value [{node_type}] for parameter 'NODE_TYPE'")
    suspended = "INITIALLY_SUSPENDED" in props and props["INITIALLY_SUSPENDED"].as_bool()
    rt = Runtime(
        database=key[0],
        schema=key[1],
        name=key[2],
        deployment=deployment,
        key=_slug(key[2]),
        status="CREATING",
        owner=ctx.session.role,
        node_type=node_type,
        node_type_tier=NODE_TIERS[node_type],
        initially_suspended=suspended,
    )
    _apply_runtime(ctx, rt, {k: v for k, v in props.items() if k not in ("NODE_TYPE", "INITIALLY_SUSPENDED")})
    rt.begin("CREATING", "SUSPENDED" if suspended else "ACTIVE", ctx.settings.transition_reads)
    ctx.state.runtimes[key] = rt
    return status(f"Openflow runtime {fq(key[2])} successfully created.")


def _server_url(ctx: Ctx, rt: Runtime) -> str:
    return f"https://of--{ctx.settings.account.lower()}.snowflakecomputing.app/{rt.key}/nifi/"


def _runtime_row(ctx: Ctx, rt: Runtime) -> list[object]:
    return [
        rt.name,
        rt.status,
        rt.deployment,
        rt.min_nodes,
        rt.max_nodes,
        rt.node_type,
        rt.display_name or rt.name,
        ",".join(rt.external_access_integrations) or None,
        rt.initially_suspended,
        rt.execute_as_role,
        rt.key,
        rt.owner,
        rt.comment,
        _server_url(ctx, rt),
        rt.node_type_tier,
    ]


def show_runtimes(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    deployment: str | None = None
    if p.is_kw("IN", "DEPLOYMENT"):
        p.i += 2
        deployment = p.ident()
        find_deployment(ctx, deployment)
        in_scope = parse_scope(ctx, Parser("IN ACCOUNT"))
    else:
        in_scope = parse_scope(ctx, p)
    p.end()
    found = [
        rt
        for key, rt in sorted(ctx.state.runtimes.items())
        if in_scope(key[0], key[1])
        and like_matches(pattern, key[2])
        and deployment in (None, rt.deployment)
        and ctx.visible("OPENFLOW_RUNTIME", key)
    ]
    rows = report(
        found,
        lambda rt: [
            rt.created_on,
            rt.name,
            rt.database,
            rt.schema,
            *_runtime_row(ctx, rt)[1:],
            rt.updated_on,
        ],
    )
    spec = (
        "created_on:ts name database_name schema_name " + RUNTIME_COLUMNS.split(" ", 1)[1] + " updated_on:ts"
    )
    return Result(columns(spec), rows)


def describe_runtime(ctx: Ctx, p: Parser) -> Outcome:
    rt = find_runtime(ctx, p.object_name())
    p.end()
    # desc-openflow-runtime: DESCRIBE adds error_code and status_message to SHOW's columns
    return Result(
        columns(RUNTIME_COLUMNS + " error_code status_message"),
        report([rt], lambda r: [*_runtime_row(ctx, r), r.error_code, r.status_message]),
        DESCRIBE_TYPE_ID,
    )


def alter_runtime(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    parts = p.object_name()
    if if_exists and ctx.qualify(parts) not in ctx.state.runtimes:
        return executed()
    rt = find_runtime(ctx, parts)
    key, reads = rt.name3, ctx.settings.transition_reads
    if p.accept("SUSPEND"):
        p.end()
        ctx.require("OPERATE", "OPENFLOW_RUNTIME", key)
        if rt.status == "ACTIVE":
            rt.begin("SUSPENDING", "SUSPENDED", reads)
        elif rt.status not in ("SUSPENDED", "SUSPENDING"):
            raise cannot("runtime", rt.name, "suspended", rt.status)
    elif p.accept("RESUME"):
        recovery = p.accept("RECOVERY")
        p.end()
        ctx.require("OPERATE", "OPENFLOW_RUNTIME", key)
        # alter-openflow-runtime: RESUME RECOVERY brings a runtime back from a failed state
        if rt.status == "SUSPENDED" or (recovery and rt.status in RUNTIME_FAILED):
            rt.begin("ACTIVATING", "ACTIVE", reads)
        elif rt.status not in ("ACTIVE", "ACTIVATING"):
            raise cannot("runtime", rt.name, "resumed", rt.status)
    elif p.accept("RESTART"):
        p.accept("RECOVERY")
        p.end()
        ctx.require("OPERATE", "OPENFLOW_RUNTIME", key)
        if rt.status not in ("ACTIVE", *RUNTIME_FAILED):
            raise cannot("runtime", rt.name, "restarted", rt.status)
        rt.begin("ACTIVATING", "ACTIVE", reads)
    elif p.accept("SET"):
        props = p.properties(allow=RUNTIME_PROPERTIES | {"NODE_TYPE"})
        p.end()
        if not props:
            raise p.error()
        if "NODE_TYPE" in props or "INITIALLY_SUSPENDED" in props:
            raise errors.invalid_value("NODE_TYPE cannot be changed after a runtime is created.")
        ctx.require("MODIFY", "OPENFLOW_RUNTIME", key)
        _apply_runtime(ctx, rt, props)
    elif p.accept("UNSET"):
        keys = [p.word()]
        while p.accept_symbol(","):
            keys.append(p.word())
        p.end()
        ctx.require("MODIFY", "OPENFLOW_RUNTIME", key)
        for k in keys:
            if k not in ("DISPLAY_NAME", "COMMENT", "EXTERNAL_ACCESS_INTEGRATIONS"):
                raise errors.invalid_value(f"invalid property '{k}' for 'OPENFLOW RUNTIME'")
            setattr(rt, k.lower(), () if k == "EXTERNAL_ACCESS_INTEGRATIONS" else None)
    elif p.accept("TERMINATE"):
        cascade = p.accept("CASCADE")
        p.end()
        ctx.require("OWNERSHIP", "OPENFLOW_RUNTIME", key)
        connectors = [
            c for c in ctx.state.connectors.values() if c.runtime == key and c.status != "TERMINATED"
        ]
        if connectors and not cascade:
            raise errors.invalid_state(f"Openflow runtime '{rt.name}' has connectors; use TERMINATE CASCADE.")
        for c in connectors:
            c.begin("TERMINATING", "TERMINATED", reads)
        if rt.status not in ("TERMINATING", "TERMINATED"):
            rt.begin("TERMINATING", "TERMINATED", reads)
    elif p.accept("UPGRADE"):
        if not p.accept("RECOVERY"):
            p.accept("FORCE")
        p.end()
        ctx.require("OWNERSHIP", "OPENFLOW_RUNTIME", key)
    else:
        raise errors.unsupported(p.sql)
    return executed()


def drop_runtime(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    parts = p.object_name()
    p.end()
    key = ctx.qualify(parts)
    existed = key in ctx.state.runtimes
    if not existed and not if_exists:
        raise errors.does_not_exist("Openflow runtime", fq(*key))
    if existed:
        rt = find_runtime(ctx, parts)
        ctx.require("OWNERSHIP", "OPENFLOW_RUNTIME", key)
        if rt.status != "TERMINATED":
            raise cannot("runtime", rt.name, "dropped", rt.status)
        del ctx.state.runtimes[key]
        ctx.state.drop_grants_on("OPENFLOW_RUNTIME", key)
    return status(dropped_message(fq(key[2]), existed))


RULES = [
    Rule("CREATE OPENFLOW RUNTIME", create_runtime, "write"),
    Rule("SHOW OPENFLOW RUNTIMES", show_runtimes, "read"),
    Rule("{DESC|DESCRIBE} OPENFLOW RUNTIME", describe_runtime, "read"),
    Rule("ALTER OPENFLOW RUNTIME", alter_runtime, "write"),
    Rule("DROP OPENFLOW RUNTIME", drop_runtime, "write"),
]
