"""The access model: role hierarchy, ownership and granted privileges.

A simplification of Snowflake's: ACCOUNTADMIN may do everything; otherwise a role may act on an
object it (or a role granted to it) owns, or holds the named privilege on. The system roles get
their powers from real grants seeded on the account (USERADMIN: CREATE ROLE/USER, SECURITYADMIN:
MANAGE GRANTS, SYSADMIN: CREATE DATABASE/WAREHOUSE), so SHOW GRANTS reads as it does in Snowflake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .state import AccountState, Owned

# What each object type accepts in GRANT ... ON <type>; anything else is a syntax error there.
PRIVILEGES: dict[str, frozenset[str]] = {
    "ACCOUNT": frozenset(
        {
            "CREATE ROLE",
            "CREATE USER",
            "CREATE DATABASE",
            "CREATE WAREHOUSE",
            "CREATE INTEGRATION",
            "CREATE COMPUTE POOL",
            "CREATE NETWORK POLICY",
            "CREATE SHARE",
            "CREATE OPENFLOW DEPLOYMENT",
            "CREATE OPENFLOW DATA PLANE INTEGRATION",
            "CREATE OPENFLOW RUNTIME INTEGRATION",
            "MANAGE GRANTS",
            "MANAGE WAREHOUSES",
            "MONITOR",
            "MONITOR USAGE",
            "MONITOR EXECUTION",
            "EXECUTE TASK",
            "EXECUTE MANAGED TASK",
            "BIND SERVICE ENDPOINT",
            "APPLY MASKING POLICY",
            "IMPORTED PRIVILEGES",
        }
    ),
    "DATABASE": frozenset(
        # IMPORTED PRIVILEGES: on a database imported from a share, such as SNOWFLAKE (account_usage.py)
        {
            "USAGE",
            "MODIFY",
            "MONITOR",
            "CREATE SCHEMA",
            "CREATE DATABASE ROLE",
            "APPLYBUDGET",
            "IMPORTED PRIVILEGES",
        }
    ),
    "SCHEMA": frozenset(
        {
            "USAGE",
            "MODIFY",
            "MONITOR",
            "CREATE TABLE",
            "CREATE VIEW",
            "CREATE STAGE",
            "CREATE SEQUENCE",
            "CREATE FUNCTION",
            "CREATE PROCEDURE",
            "CREATE FILE FORMAT",
            "CREATE PIPE",
            "CREATE STREAM",
            "CREATE TASK",
            "CREATE DYNAMIC TABLE",
            "CREATE EVENT TABLE",
            "CREATE IMAGE REPOSITORY",
            "CREATE SECRET",
            "CREATE NETWORK RULE",
            "CREATE SERVICE",
            "CREATE OPENFLOW RUNTIME",
            "CREATE OPENFLOW CONNECTOR",
        }
    ),
    "WAREHOUSE": frozenset({"USAGE", "OPERATE", "MODIFY", "MONITOR", "APPLYBUDGET"}),
    "IMAGE_REPOSITORY": frozenset({"READ", "WRITE"}),
    "EVENT_TABLE": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES"}),
    "TABLE": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "EVOLVE SCHEMA"}),
    "INTEGRATION": frozenset({"USAGE", "USE_ANY_ROLE", "MODIFY", "MONITOR"}),
    "SECRET": frozenset({"USAGE", "READ"}),
    "OPENFLOW_DEPLOYMENT": frozenset({"USAGE", "OPERATE", "MODIFY", "MONITOR"}),
    "OPENFLOW_RUNTIME": frozenset({"USAGE", "OPERATE", "MODIFY", "MONITOR"}),
    "OPENFLOW_CONNECTOR": frozenset({"USAGE", "OPERATE", "MODIFY", "MONITOR"}),
}


def _closure(state: AccountState, start: Iterable[str]) -> set[str]:
    """``start`` plus every role granted to them, transitively, plus PUBLIC."""
    seen: set[str] = set()
    todo = [r for r in start if r in state.roles]
    while todo:
        role = todo.pop()
        if role in seen:
            continue
        seen.add(role)
        todo.extend(g.role for g in state.role_grants if g.grantee_type == "ROLE" and g.grantee == role)
    return seen | {"PUBLIC"}


def inherited_roles(state: AccountState, role: str) -> set[str]:
    return _closure(state, [role])


def user_roles(state: AccountState, user: str) -> set[str]:
    """Every role a user may USE: those granted to it and everything below them."""
    direct = [g.role for g in state.role_grants if g.grantee_type == "USER" and g.grantee == user]
    return _closure(state, direct)


def lookup(state: AccountState, granted_on: str, name: tuple[str, ...]) -> Owned | None:
    """The state-held object a grant refers to (tables live in fakesnow and are not looked up here)."""
    one = name[0] if len(name) == 1 else None
    three = (name[0], name[1], name[2]) if len(name) == 3 else None
    match granted_on:
        case "ROLE":
            return state.roles.get(one or "")
        case "USER":
            return state.users.get(one or "")
        case "DATABASE":
            return state.databases.get(one or "")
        case "SCHEMA":
            return state.schemas.get((name[0], name[1])) if len(name) == 2 else None
        case "WAREHOUSE":
            return state.warehouses.get(one or "")
        case "OPENFLOW_DEPLOYMENT":
            return state.deployments.get(one or "")
        case "INTEGRATION":
            found: Owned | None = state.data_plane_integrations.get(one or "")
            return found or state.runtime_integrations.get(one or "")
        case "IMAGE_REPOSITORY" if three:
            return state.image_repositories.get(three)
        case "EVENT_TABLE" if three:
            return state.event_tables.get(three)
        case "SECRET" if three:
            return state.secrets.get(three)
        case "OPENFLOW_RUNTIME" if three:
            return state.runtimes.get(three)
        case "OPENFLOW_CONNECTOR" if three:
            return state.connectors.get(three)
    return None


def owner_of(state: AccountState, granted_on: str, name: tuple[str, ...]) -> str | None:
    if granted_on == "TABLE" and len(name) == 3:
        # fakesnow keeps no owners; treat a table as owned by its schema's owner
        schema = state.schemas.get((name[0], name[1]))
        return schema.owner if schema else None
    obj = lookup(state, granted_on, name)
    return obj.owner if obj else None


def has_privilege(
    state: AccountState, roles: set[str], privilege: str, granted_on: str, name: tuple[str, ...] = ()
) -> bool:
    if "ACCOUNTADMIN" in roles:
        return True
    if granted_on != "ACCOUNT" and owner_of(state, granted_on, name) in roles:
        return True
    return any(
        g.grantee in roles and g.granted_on == granted_on and g.key == name and g.privilege == privilege
        for g in state.grants
    )


def has_any_privilege(state: AccountState, roles: set[str], granted_on: str, name: tuple[str, ...]) -> bool:
    """Whether the object is visible to the roles at all (SHOW filters on this)."""
    if "ACCOUNTADMIN" in roles or owner_of(state, granted_on, name) in roles:
        return True
    return any(g.grantee in roles and g.granted_on == granted_on and g.key == name for g in state.grants)


def holds_grant_option(
    state: AccountState, roles: set[str], privilege: str, granted_on: str, name: tuple[str, ...]
) -> bool:
    return any(
        g.grantee in roles
        and g.granted_on == granted_on
        and g.key == name
        and g.privilege == privilege
        and g.grant_option
        for g in state.grants
    )


def owned_objects(state: AccountState) -> Iterator[tuple[str, tuple[str, ...], Owned]]:
    """Every owned object as (granted_on, name parts, object): the OWNERSHIP rows of SHOW GRANTS."""
    for n, r in state.roles.items():
        yield "ROLE", (n,), r
    for n, u in state.users.items():
        yield "USER", (n,), u
    for n, d in state.databases.items():
        yield "DATABASE", (n,), d
    for k, s in state.schemas.items():
        yield "SCHEMA", k, s
    for n, w in state.warehouses.items():
        yield "WAREHOUSE", (n,), w
    for n, dep in state.deployments.items():
        yield "OPENFLOW_DEPLOYMENT", (n,), dep
    for n, i in state.data_plane_integrations.items():
        yield "INTEGRATION", (n,), i
    for n, ri in state.runtime_integrations.items():
        yield "INTEGRATION", (n,), ri
    for kind, objects in (
        ("IMAGE_REPOSITORY", state.image_repositories),
        ("EVENT_TABLE", state.event_tables),
        ("SECRET", state.secrets),
        ("OPENFLOW_RUNTIME", state.runtimes),
        ("OPENFLOW_CONNECTOR", state.connectors),
    ):
        for key, obj in objects.items():
            yield kind, key, obj
