"""Gen 2 Openflow deployments: CREATE / SHOW / DESCRIBE / ALTER / DROP.

A BYOC deployment stays INACTIVE until its stack is applied (the sandbox calls
``set_deployment_status``); a SNOWFLAKE-type one settles to ACTIVE after status reads. TERMINATE
goes DELETING -> DELETED: there is no TERMINATED deployment status.
"""

from __future__ import annotations

from .. import errors
from ..context import Ctx, Outcome, Rule
from ..results import DESCRIBE_TYPE_ID, Result, columns, executed, status
from ..sqltext import Parser, fq, like_matches
from ..state import Deployment
from .common import (
    dropped_message,
    event_table_ref,
    if_not_exists_message,
    new_key,
    report,
    text_prop,
)

DEPLOYMENT_PROPERTIES = frozenset(
    {
        "DEPLOYMENT_TYPE",
        "VPC_TYPE",
        "USE_PRIVATE_LINK",
        "USE_USER_AUTH_OVER_PRIVATE_LINK",
        "CUSTOM_INGRESS_HOSTNAME",
        "DISPLAY_NAME",
        "COMMENT",
        "EVENT_TABLE",
    }
)
# The output columns of docs.snowflake.com/en/sql-reference/sql/show-openflow-deployments (plus
# created_on, updated_on) and .../desc-openflow-deployment: there is no event_table column, so the
# EVENT_TABLE a deployment was given is kept as state only. DESCRIBE may add error_code and
# status_message (null unless set).
DEPLOYMENT_COLUMNS = (
    "name type status vpc_type display_name use_private_link use_user_auth_over_private_link "
    "custom_ingress_hostname key owner comment"
)
DESCRIBE_EXTRA_COLUMNS = " error_code status_message"


def find_deployment(ctx: Ctx, name: str) -> Deployment:
    dep = ctx.state.deployments.get(name)
    if dep is None or not ctx.visible("OPENFLOW_DEPLOYMENT", (name,)):
        raise errors.does_not_exist("Openflow deployment", fq(name))
    return dep


def create_deployment(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    name = p.ident()
    props = p.properties(allow=DEPLOYMENT_PROPERTIES)
    p.end()
    ctx.require_account("CREATE OPENFLOW DEPLOYMENT")
    if name in ctx.state.deployments:
        if if_not_exists:
            return status(if_not_exists_message(name))
        raise errors.already_exists("Openflow deployment", fq(name))
    kind = props["DEPLOYMENT_TYPE"].as_text().upper() if "DEPLOYMENT_TYPE" in props else "SNOWFLAKE"
    if kind not in ("SNOWFLAKE", "BYOC"):
        raise errors.invalid_value(f"invalid value [{kind}] for parameter 'DEPLOYMENT_TYPE'")
    vpc_type = props["VPC_TYPE"].as_text().upper() if "VPC_TYPE" in props else None
    if vpc_type is not None and (kind != "BYOC" or vpc_type not in ("MANAGED", "PROVIDED")):
        raise errors.invalid_value(f"invalid value [{vpc_type}] for parameter 'VPC_TYPE'")
    dep = Deployment(
        name=name,
        key=new_key(),
        status="INACTIVE",
        owner=ctx.session.role,
        deployment_type=kind,
        vpc_type=vpc_type,
        display_name=text_prop(props, "DISPLAY_NAME") or name,
        use_private_link="USE_PRIVATE_LINK" in props and props["USE_PRIVATE_LINK"].as_bool(),
        use_user_auth_over_private_link="USE_USER_AUTH_OVER_PRIVATE_LINK" in props
        and props["USE_USER_AUTH_OVER_PRIVATE_LINK"].as_bool(),
        custom_ingress_hostname=text_prop(props, "CUSTOM_INGRESS_HOSTNAME"),
        comment=text_prop(props, "COMMENT"),
        event_table=event_table_ref(ctx, props["EVENT_TABLE"]) if "EVENT_TABLE" in props else None,
    )
    if kind == "SNOWFLAKE":
        # Snowflake-hosted deployments provision themselves; BYOC ones wait for the customer's stack
        dep.begin("CREATING", "ACTIVE", ctx.settings.transition_reads)
    ctx.state.deployments[name] = dep
    return status(f"Openflow deployment {fq(name)} successfully created.")


def _deployment_row(d: Deployment) -> list[object]:
    return [
        d.name,
        d.deployment_type,
        d.status,
        d.vpc_type,
        d.display_name,
        d.use_private_link,
        d.use_user_auth_over_private_link,
        d.custom_ingress_hostname,
        d.key,
        d.owner,
        d.comment,
    ]


def show_deployments(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    found = [
        d
        for name, d in sorted(ctx.state.deployments.items())
        if like_matches(pattern, name) and ctx.visible("OPENFLOW_DEPLOYMENT", (name,))
    ]
    rows = report(found, lambda d: [*_deployment_row(d), d.created_on, d.updated_on])
    return Result(columns(DEPLOYMENT_COLUMNS + " created_on:ts updated_on:ts"), rows)


def describe_deployment(ctx: Ctx, p: Parser) -> Outcome:
    name = p.ident()
    p.end()
    return Result(
        columns(DEPLOYMENT_COLUMNS + DESCRIBE_EXTRA_COLUMNS),
        report([find_deployment(ctx, name)], lambda d: [*_deployment_row(d), d.error_code, d.status_message]),
        DESCRIBE_TYPE_ID,
    )


def alter_deployment(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    if name not in ctx.state.deployments and if_exists:
        return executed()
    dep = find_deployment(ctx, name)
    if p.accept("SET"):
        # SET takes a property list, e.g. EVENT_TABLE and COMMENT in one statement
        # (docs.snowflake.com/en/sql-reference/sql/alter-openflow-deployment)
        props = p.properties(allow=frozenset({"EVENT_TABLE", "COMMENT", "DISPLAY_NAME"}))
        p.end()
        if not props:
            raise p.error()
        ctx.require("MODIFY", "OPENFLOW_DEPLOYMENT", (name,))
        if "EVENT_TABLE" in props:
            dep.event_table = event_table_ref(ctx, props["EVENT_TABLE"])
        dep.comment = text_prop(props, "COMMENT") if "COMMENT" in props else dep.comment
        dep.display_name = text_prop(props, "DISPLAY_NAME") or dep.display_name
    elif p.accept("UNSET"):
        keys = [p.word()]
        while p.accept_symbol(","):
            keys.append(p.word())
        p.end()
        ctx.require("MODIFY", "OPENFLOW_DEPLOYMENT", (name,))
        for key in keys:
            if key not in ("EVENT_TABLE", "COMMENT", "DISPLAY_NAME"):
                raise errors.invalid_value(f"invalid property '{key}' for 'OPENFLOW DEPLOYMENT'")
            setattr(dep, key.lower(), name if key == "DISPLAY_NAME" else None)
    elif p.accept("TERMINATE"):
        p.end()
        ctx.require("OWNERSHIP", "OPENFLOW_DEPLOYMENT", (name,))
        # The documented deployment statuses have DELETING and DELETED, no TERMINATING/TERMINATED
        # (docs.snowflake.com/en/sql-reference/sql/show-openflow-deployments, status); a TERMINATE
        # after DELETE_FAILED starts the deletion again.
        if dep.status not in ("DELETING", "DELETED"):
            dep.begin("DELETING", "DELETED", ctx.settings.transition_reads)
    elif p.accept("UPGRADE"):
        p.end()
        ctx.require("OWNERSHIP", "OPENFLOW_DEPLOYMENT", (name,))
    else:
        raise errors.unsupported(p.sql)
    return executed()


def drop_deployment(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    p.end()
    existed = name in ctx.state.deployments
    if not existed and not if_exists:
        raise errors.does_not_exist("Openflow deployment", fq(name))
    if existed:
        dep = find_deployment(ctx, name)
        ctx.require("OWNERSHIP", "OPENFLOW_DEPLOYMENT", (name,))
        # "The deployment must be terminated before it can be dropped"
        # (docs.snowflake.com/en/sql-reference/sql/alter-openflow-deployment, TERMINATE)
        if dep.status != "DELETED":
            raise errors.invalid_state(
                f"Openflow deployment '{name}' is {dep.status}; terminate it first "
                f"(ALTER OPENFLOW DEPLOYMENT {fq(name)} TERMINATE) and drop it once it is DELETED."
            )
        if any(r.deployment == name and r.status != "TERMINATED" for r in ctx.state.runtimes.values()):
            raise errors.invalid_state(
                f"Openflow deployment '{name}' still has runtimes; terminate them first."
            )
        del ctx.state.deployments[name]
        ctx.state.drop_grants_on("OPENFLOW_DEPLOYMENT", (name,))
    return status(dropped_message(fq(name), existed))


RULES = [
    Rule("CREATE OPENFLOW DEPLOYMENT", create_deployment, "write"),
    Rule("SHOW OPENFLOW DEPLOYMENTS", show_deployments, "read"),
    Rule("{DESC|DESCRIBE} OPENFLOW DEPLOYMENT", describe_deployment, "read"),
    Rule("ALTER OPENFLOW DEPLOYMENT", alter_deployment, "write"),
    Rule("DROP OPENFLOW DEPLOYMENT", drop_deployment, "write"),
]
