"""GRANT / REVOKE (privileges, roles, ownership) and SHOW GRANTS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .. import account_usage, errors, privileges
from ..context import Ctx, Outcome, Rule
from ..results import Result, columns, executed
from ..sqltext import Parser, fq
from ..state import PrivilegeGrant, RoleGrant


@dataclass(frozen=True)
class Target:
    words: tuple[str, ...]  # how the type is written after ON
    granted_on: str  # how SHOW GRANTS prints it
    parts: int  # name parts once qualified
    label: str  # how errors name it


TARGETS = (
    Target(("IMAGE", "REPOSITORY"), "IMAGE_REPOSITORY", 3, "Image repository"),
    Target(("EVENT", "TABLE"), "EVENT_TABLE", 3, "Event table"),
    Target(("OPENFLOW", "DEPLOYMENT"), "OPENFLOW_DEPLOYMENT", 1, "Openflow deployment"),
    Target(("OPENFLOW", "RUNTIME"), "OPENFLOW_RUNTIME", 3, "Openflow runtime"),
    Target(("OPENFLOW", "CONNECTOR"), "OPENFLOW_CONNECTOR", 3, "Openflow connector"),
    Target(("DATABASE",), "DATABASE", 1, "Database"),
    Target(("SCHEMA",), "SCHEMA", 2, "Schema"),
    Target(("WAREHOUSE",), "WAREHOUSE", 1, "Warehouse"),
    Target(("TABLE",), "TABLE", 3, "Table"),
    Target(("INTEGRATION",), "INTEGRATION", 1, "Integration"),
    Target(("SECRET",), "SECRET", 3, "Secret"),
    Target(("ROLE",), "ROLE", 1, "Role"),
    Target(("USER",), "USER", 1, "User"),
)


def _exists(ctx: Ctx, target: Target, name: tuple[str, ...]) -> bool:
    if target.granted_on == "TABLE":
        db, schema, table = name
        return (db, schema) in ctx.state.schemas and (
            name in ctx.state.event_tables or ctx.fakesnow.table_exists(db, schema, table)
        )
    return privileges.lookup(ctx.state, target.granted_on, name) is not None


def parse_target(ctx: Ctx, p: Parser) -> tuple[str, tuple[str, ...]]:
    """``ACCOUNT`` or ``<type> <name>`` after ON; the object must exist and be visible to the caller."""
    if p.accept("ACCOUNT"):
        return "ACCOUNT", ()
    if p.is_kw("ALL") or p.is_kw("FUTURE"):
        raise errors.unsupported(p.sql)
    target = next((t for t in TARGETS if p.accept(*t.words)), None)
    if target is None:
        raise p.error()
    parts = p.object_name()
    if target.parts == 1:
        if len(parts) != 1:
            raise errors.syntax_error(".")
        name: tuple[str, ...] = (parts[0],)
    elif target.parts == 2:
        name = ctx.qualify_schema(parts)
    else:
        name = ctx.qualify(parts)
    if not _exists(ctx, target, name) or (
        target.granted_on not in ("ROLE", "USER", "TABLE") and not ctx.visible(target.granted_on, name)
    ):
        raise errors.does_not_exist(target.label, fq(*name))
    return target.granted_on, name


def _privilege_list(p: Parser) -> list[str]:
    """``USAGE, CREATE OPENFLOW RUNTIME, ...`` up to ON: each privilege may be several words."""
    found: list[str] = []
    words: list[str] = []
    while not p.is_kw("ON"):
        if p.accept_symbol(","):
            if not words:
                raise p.error()
            found.append(" ".join(words))
            words = []
        else:
            words.append(p.word())
    if not words:
        raise p.error()
    found.append(" ".join(words))
    if found[0] in ("ALL", "ALL PRIVILEGES"):
        raise errors.unsupported(p.sql)
    return found


def _grantee_role(ctx: Ctx, p: Parser, preposition: str) -> str:
    p.expect(preposition)
    if not p.accept("ROLE"):
        raise errors.unsupported(p.sql)  # DATABASE ROLE, SHARE, APPLICATION ...
    role = p.ident()
    ctx.role(role)
    return role


def _may_grant(ctx: Ctx, privilege: str, granted_on: str, name: tuple[str, ...]) -> bool:
    if ctx.can("MANAGE GRANTS"):
        return True
    if granted_on == "ACCOUNT":
        return False
    roles = ctx.roles()
    return privileges.owner_of(ctx.state, granted_on, name) in roles or privileges.holds_grant_option(
        ctx.state, roles, privilege, granted_on, name
    )


def _denied(granted_on: str, name: tuple[str, ...], ctx: Ctx) -> errors.SqlError:
    if granted_on == "ACCOUNT":
        return errors.insufficient_privileges("account", ctx.settings.locator)
    return errors.insufficient_privileges(granted_on.lower().replace("_", " "), name[-1])


def _role_grant(ctx: Ctx, p: Parser, revoke: bool) -> Outcome:
    role = p.ident()
    p.expect("FROM" if revoke else "TO")
    grantee_type: Literal["USER", "ROLE"]
    if p.accept("USER"):
        grantee_type = "USER"
    elif p.accept("ROLE"):
        grantee_type = "ROLE"
    else:
        raise p.error()
    grantee = p.ident()
    p.end()
    ctx.role(role)
    if grantee_type == "USER":
        ctx.user(grantee)
    else:
        ctx.role(grantee)
    if not (ctx.can("MANAGE GRANTS") or privileges.owner_of(ctx.state, "ROLE", (role,)) in ctx.roles()):
        raise errors.insufficient_privileges("role", role)
    existing = [
        g
        for g in ctx.state.role_grants
        if (g.role, g.grantee_type, g.grantee) == (role, grantee_type, grantee)
    ]
    if revoke:
        for g in existing:
            ctx.state.role_grants.remove(g)
    elif not existing:
        if grantee_type == "ROLE" and grantee in privileges.inherited_roles(ctx.state, role) - {"PUBLIC"}:
            raise errors.SqlError(
                3012,
                "42501",
                f"SQL access control error:\nGranting role '{role}' to '{grantee}' creates a cycle.",
            )
        ctx.state.role_grants.append(
            RoleGrant(role=role, grantee_type=grantee_type, grantee=grantee, granted_by=ctx.session.role)
        )
    return executed()


def _ownership(ctx: Ctx, p: Parser) -> Outcome:
    p.expect("ON")
    granted_on, name = parse_target(ctx, p)
    role = _grantee_role(ctx, p, "TO")
    if p.accept("COPY", "CURRENT", "GRANTS") or p.accept("REVOKE", "CURRENT", "GRANTS"):
        pass
    p.end()
    obj = privileges.lookup(ctx.state, granted_on, name)
    if obj is None:
        raise errors.unsupported(p.sql)
    if not (ctx.can("MANAGE GRANTS") or obj.owner in ctx.roles()):
        raise _denied(granted_on, name, ctx)
    obj.owner = role
    return executed()


def grant(ctx: Ctx, p: Parser) -> Outcome:
    if p.accept("ROLE"):
        return _role_grant(ctx, p, revoke=False)
    if p.accept("OWNERSHIP"):
        return _ownership(ctx, p)
    privs = _privilege_list(p)
    p.expect("ON")
    granted_on, name = parse_target(ctx, p)
    role = _grantee_role(ctx, p, "TO")
    grant_option = p.accept("WITH", "GRANT", "OPTION")
    p.end()
    allowed = privileges.PRIVILEGES.get(granted_on, frozenset())
    for privilege in privs:
        if privilege not in allowed:
            raise errors.syntax_error(privilege.split()[0])
        if privilege == "IMPORTED PRIVILEGES" and name != (account_usage.DATABASE,):
            raise errors.unsupported(p.sql)  # only the shared SNOWFLAKE database is imported here
        if not _may_grant(ctx, privilege, granted_on, name):
            raise _denied(granted_on, name, ctx)
    for privilege in privs:
        existing = next(
            (
                g
                for g in ctx.state.grants
                if (g.privilege, g.granted_on, g.key, g.grantee) == (privilege, granted_on, name, role)
            ),
            None,
        )
        if existing is None:
            ctx.state.grants.append(
                PrivilegeGrant(
                    privilege=privilege,
                    granted_on=granted_on,
                    name=_display(ctx, granted_on, name),
                    key=name,
                    grantee=role,
                    grant_option=grant_option,
                    granted_by=ctx.session.role,
                )
            )
        elif grant_option:
            existing.grant_option = True
    return executed()


def revoke(ctx: Ctx, p: Parser) -> Outcome:
    if p.accept("ROLE"):
        return _role_grant(ctx, p, revoke=True)
    option_only = p.accept("GRANT", "OPTION", "FOR")
    privs = _privilege_list(p)
    p.expect("ON")
    granted_on, name = parse_target(ctx, p)
    role = _grantee_role(ctx, p, "FROM")
    p.accept("CASCADE") or p.accept("RESTRICT")
    p.end()
    for privilege in privs:
        if privilege not in privileges.PRIVILEGES.get(granted_on, frozenset()):
            raise errors.syntax_error(privilege.split()[0])
        if not _may_grant(ctx, privilege, granted_on, name):
            raise _denied(granted_on, name, ctx)
    for g in list(ctx.state.grants):
        if (g.granted_on, g.key, g.grantee) == (granted_on, name, role) and g.privilege in privs:
            if option_only:
                g.grant_option = False
            else:
                ctx.state.grants.remove(g)
    return executed()


# -- SHOW GRANTS ------------------------------------------------------------------------------

PRIVILEGE_COLUMNS = "created_on:ts privilege granted_on name granted_to grantee_name grant_option granted_by"
ROLE_GRANT_COLUMNS = "created_on:ts role granted_to grantee_name granted_by"


def _display(ctx: Ctx, granted_on: str, name: tuple[str, ...]) -> str:
    return ctx.settings.locator if granted_on == "ACCOUNT" else fq(*name)


def _privilege_rows(
    ctx: Ctx, *, grantee: str | None = None, on: tuple[str, tuple[str, ...]] | None = None
) -> Result:
    rows: list[list[object]] = []
    state = ctx.state
    for kind, name, obj in privileges.owned_objects(state):
        if obj.owner and (grantee is None or obj.owner == grantee) and (on is None or on == (kind, name)):
            rows.append([obj.created_on, "OWNERSHIP", kind, fq(*name), "ROLE", obj.owner, "true", obj.owner])
    if on is None or on[0] == "ROLE":
        for rg in state.role_grants:
            wanted = (grantee is None or rg.grantee == grantee) and (on is None or on == ("ROLE", (rg.role,)))
            if rg.grantee_type == "ROLE" and wanted:
                rows.append(
                    [
                        rg.created_on,
                        "USAGE",
                        "ROLE",
                        fq(rg.role),
                        "ROLE",
                        rg.grantee,
                        "false",
                        rg.granted_by,
                    ]
                )
    for g in state.grants:
        if (grantee is None or g.grantee == grantee) and (on is None or on == (g.granted_on, g.key)):
            rows.append(
                [
                    g.created_on,
                    g.privilege,
                    g.granted_on,
                    g.name,
                    "ROLE",
                    g.grantee,
                    "true" if g.grant_option else "false",
                    g.granted_by,
                ]
            )
    rows.sort(key=lambda r: (str(r[2]), str(r[3]), str(r[1]), str(r[5])))
    return Result(columns(PRIVILEGE_COLUMNS), list(rows))


def _role_grant_rows(ctx: Ctx, *, role: str | None = None, user: str | None = None) -> Result:
    rows = [
        [g.created_on, g.role, g.grantee_type, g.grantee, g.granted_by]
        for g in ctx.state.role_grants
        if (role is None or g.role == role)
        and (user is None or (g.grantee_type, g.grantee) == ("USER", user))
    ]
    return Result(columns(ROLE_GRANT_COLUMNS), list(rows))


def show_grants(ctx: Ctx, p: Parser) -> Outcome:
    if p.at_end():
        return _role_grant_rows(ctx, user=ctx.session.user)
    if p.accept("TO", "ROLE"):
        role = p.ident()
        p.end()
        ctx.role(role)
        if not (
            role in ctx.roles() or ctx.can("MANAGE GRANTS") or ctx.state.roles[role].owner in ctx.roles()
        ):
            raise errors.insufficient_privileges("role", role)
        return _privilege_rows(ctx, grantee=role)
    if p.accept("TO", "USER"):
        user = p.ident()
        p.end()
        ctx.user(user)
        if user != ctx.session.user and not (
            ctx.can("MANAGE GRANTS") or ctx.state.users[user].owner in ctx.roles()
        ):
            raise errors.insufficient_privileges("user", user)
        return _role_grant_rows(ctx, user=user)
    if p.accept("OF", "ROLE"):
        role = p.ident()
        p.end()
        ctx.role(role)
        return _role_grant_rows(ctx, role=role)
    if p.accept("ON"):
        on = parse_target(ctx, p)
        p.end()
        return _privilege_rows(ctx, on=on)
    raise errors.unsupported(p.sql)


RULES = [
    Rule("GRANT", grant, "write"),
    Rule("REVOKE", revoke, "write"),
    Rule("SHOW GRANTS", show_grants, "read"),
]
