"""CREATE/DROP/SHOW ROLES, USE ROLE / SECONDARY ROLES / WAREHOUSE, and context functions."""

from __future__ import annotations

import json

from .. import errors
from ..context import Ctx, Delegate, Outcome, Rule
from ..privileges import inherited_roles, user_roles
from ..results import USE_TYPE_ID, Column, Result, columns, status
from ..sqltext import Parser, Value, fq, like_matches
from ..state import SYSTEM_ROLES, Role
from .waits import SYSTEM_FUNCTIONS


def create_role(ctx: Ctx, p: Parser) -> Outcome:
    if_not_exists = p.accept("IF", "NOT", "EXISTS")
    name = p.ident()
    props = p.properties(allow=frozenset({"COMMENT"}))
    p.end()
    ctx.require_account("CREATE ROLE")
    if name in ctx.state.roles:
        if if_not_exists:
            return status(f"{name} already exists, statement succeeded.")
        if "OR REPLACE" not in ctx.flags:
            raise errors.already_exists("Object", fq(name))
        _drop_role(ctx, name)
    comment = props["COMMENT"].as_text() if "COMMENT" in props else None
    ctx.state.roles[name] = Role(name=name, owner=ctx.session.role, comment=comment)
    return status(f"Role {fq(name)} successfully created.")


def _drop_role(ctx: Ctx, name: str) -> None:
    ctx.require_owner_or("OWNERSHIP", "ROLE", (name,))
    del ctx.state.roles[name]
    ctx.state.role_grants = [
        g
        for g in ctx.state.role_grants
        if g.role != name and not (g.grantee_type == "ROLE" and g.grantee == name)
    ]
    ctx.state.grants = [g for g in ctx.state.grants if g.grantee != name]
    ctx.state.drop_grants_on("ROLE", (name,))


def drop_role(ctx: Ctx, p: Parser) -> Outcome:
    if_exists = p.accept("IF", "EXISTS")
    name = p.ident()
    p.end()
    if name not in ctx.state.roles:
        if if_exists:
            return status(f"Drop statement executed successfully ({fq(name)} already dropped).")
        raise errors.does_not_exist("Role", fq(name))
    if name in SYSTEM_ROLES:
        raise errors.SqlError(3021, "42501", f"SQL access control error:\nCannot drop system role '{name}'.")
    _drop_role(ctx, name)
    return status(f"{fq(name)} successfully dropped.")


def show_roles(ctx: Ctx, p: Parser) -> Outcome:
    pattern = p.like()
    p.end()
    state, session = ctx.state, ctx.session
    inherited = inherited_roles(state, session.role)
    default_role = state.users[session.user].default_role if session.user in state.users else None
    rows: list[list[object]] = []
    for name in sorted(state.roles):
        if not like_matches(pattern, name):
            continue
        role = state.roles[name]
        grants_of = [g for g in state.role_grants if g.role == name]
        rows.append(
            [
                role.created_on,
                name,
                "Y" if name == default_role else "N",
                "Y" if name == session.role else "N",
                "Y" if name in inherited and name != session.role else "N",
                sum(g.grantee_type == "USER" for g in grants_of),
                sum(g.grantee_type == "ROLE" for g in grants_of),
                sum(g.grantee_type == "ROLE" and g.grantee == name for g in state.role_grants),
                role.owner,
                role.comment,
            ]
        )
    spec = (
        "created_on:ts name is_default is_current is_inherited assigned_to_users:int granted_to_roles:int "
        "granted_roles:int owner comment"
    )
    return Result(columns(spec), list(rows))


def use_role(ctx: Ctx, p: Parser) -> Outcome:
    name = p.ident()
    p.end()
    if name not in ctx.state.roles or name not in user_roles(ctx.state, ctx.session.user):
        raise errors.does_not_exist("Role", fq(name))
    ctx.session.role = name
    return status("Statement executed successfully.", USE_TYPE_ID)


def use_secondary_roles(ctx: Ctx, p: Parser) -> Outcome:
    if p.accept("ALL"):
        ctx.session.secondary_roles_all = True
    elif p.accept("NONE"):
        ctx.session.secondary_roles_all = False
    else:
        raise p.error()
    p.end()
    return status("Statement executed successfully.", USE_TYPE_ID)


def use_warehouse(ctx: Ctx, p: Parser) -> Outcome:
    name = p.ident()
    p.end()
    if name not in ctx.state.warehouses or not ctx.can("USAGE", "WAREHOUSE", (name,)):
        raise errors.does_not_exist("Object", fq(name))
    ctx.session.warehouse = name
    return status("Statement executed successfully.", USE_TYPE_ID)


def _context_value(ctx: Ctx, function: str) -> object:
    session, settings = ctx.session, ctx.settings
    available = sorted(user_roles(ctx.state, session.user))
    values = {
        "CURRENT_ROLE": session.role,
        "CURRENT_USER": session.user,
        "CURRENT_ACCOUNT": settings.locator,
        "CURRENT_ACCOUNT_NAME": settings.account_name,
        "CURRENT_ORGANIZATION_NAME": settings.organization,
        "CURRENT_WAREHOUSE": session.warehouse,
        "CURRENT_DATABASE": ctx.current_database(),
        "CURRENT_SCHEMA": ctx.current_schema(),
        "CURRENT_REGION": "AWS_US_WEST_2",
        "CURRENT_AVAILABLE_ROLES": json.dumps(available),
        "CURRENT_SECONDARY_ROLES": json.dumps(
            {"roles": ",".join(r for r in available if r != session.role), "value": "ALL"}
            if session.secondary_roles_all
            else {"roles": "", "value": ""}
        ),
    }
    return values[function]


_CLAUSES = frozenset(
    {"FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "UNION", "HAVING", "QUALIFY", "EXCEPT", "MINUS"}
)


def _literal(value: Value) -> str:
    return f"'{value.text}'" if value.kind == "string" else value.text


def select_functions(ctx: Ctx, p: Parser) -> Outcome:
    """``SELECT f(), SYSTEM$...(...) [AS alias], ...`` over context and Openflow system functions only;
    anything else (a FROM clause, arithmetic, other functions) is data SQL for fakesnow."""
    cols: list[Column] = []
    calls: list[tuple[str, list[Value]]] = []
    while True:
        tok = p.peek()
        if tok is None or tok.kind != "word" or not p.is_symbol("(", 1):
            return Delegate()
        function = tok.upper
        if function not in SYSTEM_FUNCTIONS and not function.startswith("CURRENT_"):
            return Delegate()
        p.i += 2
        args: list[Value] = []
        while not p.accept_symbol(")"):
            args.append(p.value())
            if not p.is_symbol(")"):
                p.expect_symbol(",")
        label = f"{function}({', '.join(_literal(a) for a in args)})"
        alias = p.peek()
        if (
            p.accept("AS")
            or (alias is not None and alias.kind == "quoted")
            or (alias is not None and alias.kind == "word" and alias.upper not in _CLAUSES)
        ):
            label = p.ident()
        cols.append(Column(label))
        calls.append((function, args))
        if not p.accept_symbol(","):
            break
    if not p.at_end():
        return Delegate()
    row: list[object] = []
    for function, args in calls:
        if function in SYSTEM_FUNCTIONS:
            row.append(SYSTEM_FUNCTIONS[function](ctx, args))
        else:
            try:
                row.append(_context_value(ctx, function))
            except KeyError:
                return Delegate()
    return Result(cols, [row])


RULES = [
    Rule("CREATE [OR REPLACE] ROLE", create_role, "write"),
    Rule("DROP ROLE", drop_role, "write"),
    Rule("SHOW ROLES", show_roles, "read"),
    Rule("USE ROLE", use_role, "read"),
    Rule("USE SECONDARY ROLES", use_secondary_roles, "read"),
    Rule("USE WAREHOUSE", use_warehouse, "read"),
    Rule("SELECT", select_functions, "read", fallthrough=True),
]
