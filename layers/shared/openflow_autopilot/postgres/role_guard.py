"""Which role may become the connector's replication user, and which roles the product may change.

The workflow creates the replication user, gives it a password and grants it what CDC needs. Run on
the wrong role that would be destructive: `ALTER ROLE ... PASSWORD` on the RDS master user or the
role the workflow logs in as locks its owners out. So the replication user is never:
- the role this session logs in as (current_user / session_user);
- a superuser (pg_roles.rolsuper), or a member of rds_superuser (the RDS master user is one:
  docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.html);
- a reserved name: `pg_*` is reserved for predefined roles
  (postgresql.org/docs/current/predefined-roles.html), `rds*` for RDS's own roles, and `postgres`
  is the default superuser.

A role the workflow creates carries a comment (COMMENT ON ROLE, postgresql.org/docs/current/
sql-comment.html; read back with shobj_description(oid, 'pg_authid')). A role without it existed
before: it is used only when the request says so (`source.use_existing_replication_user`), and then
as it is - its password is never set and its LOGIN attribute never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from psycopg.rows import dict_row

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.postgres.connection import Connection
from openflow_autopilot.postgres.names import display_name

MARKER = "managed by openflow-autopilot"
RESERVED_NAMES = frozenset({"postgres", "public"})
RESERVED_PREFIXES = ("pg_", "rds")
FIELD = "source.replication_user"

_FACTS_SQL = """
    SELECT r.rolsuper AS superuser, r.rolcanlogin AS can_login,
           r.rolname IN (current_user, session_user) AS is_login,
           CASE WHEN EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_superuser')
                THEN pg_has_role(r.oid, 'rds_superuser', 'MEMBER') ELSE false END AS rds_superuser,
           coalesce(shobj_description(r.oid, 'pg_authid'), '') AS comment
    FROM pg_roles r WHERE r.rolname = %s"""


@dataclass(frozen=True)
class RoleFacts:
    exists: bool
    superuser: bool = False
    can_login: bool = False
    is_login: bool = False
    rds_superuser: bool = False
    ours: bool = False  # created by this product (its comment says so)


def read_facts(conn: Connection, user: str) -> RoleFacts:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_FACTS_SQL, [user]).fetchone()
    if row is None:
        return RoleFacts(exists=False)
    return RoleFacts(
        exists=True,
        superuser=bool(row["superuser"]),
        can_login=bool(row["can_login"]),
        is_login=bool(row["is_login"]),
        rds_superuser=bool(row["rds_superuser"]),
        ours=MARKER in str(row["comment"]),
    )


def check_name(user: str) -> None:
    """The names that can never be the replication user, before any connection."""
    lowered = user.lower()
    if lowered in RESERVED_NAMES or lowered.startswith(RESERVED_PREFIXES):
        raise InvalidRequest(
            f"{FIELD}: {display_name(user)} is a reserved or administrative role name "
            "(postgres, pg_*, rds*); the workflow sets this role's password",
            fix="name a role of the connector's own, e.g. openflow_user",
        )


def check_replication_user(facts: RoleFacts, user: str, *, use_existing: bool, set_password: bool) -> None:
    """Refuse a replication user the workflow must not touch; nothing has been changed yet."""
    check_name(user)
    shown = display_name(user)
    fix = "name a role of the connector's own, e.g. openflow_user (the workflow creates it)"
    if facts.is_login:
        raise InvalidRequest(f"{FIELD}: {shown} is the role this session logs in as", fix=fix)
    if facts.superuser or facts.rds_superuser:
        what = "a superuser" if facts.superuser else "a member of rds_superuser (the RDS master user is one)"
        raise InvalidRequest(f"{FIELD}: {shown} is {what}; CDC needs only replication", fix=fix)
    if not facts.exists:
        if use_existing:
            raise InvalidRequest(
                f"{FIELD}: role {shown} does not exist, but use_existing_replication_user is set",
                fix="create the role first, or remove use_existing_replication_user to have it created",
            )
        return
    if facts.ours:
        return
    if not use_existing:
        raise InvalidRequest(
            f"{FIELD}: role {shown} exists and was not created by openflow-autopilot; nothing was changed",
            fix="set source.use_existing_replication_user: true (CLI: --use-existing-role) to use it as it "
            "is - its password is never changed, so store it in the connector's secret yourself - or "
            "name another role",
        )
    if set_password:
        raise InvalidRequest(
            f"{FIELD}: the password of role {shown} (not created by openflow-autopilot) is never changed",
            fix="change it yourself (ALTER ROLE ... PASSWORD) and update the connector's secret",
        )
    if not facts.can_login:
        raise InvalidRequest(
            f"{FIELD}: role {shown} cannot log in (NOLOGIN) and is used as it is",
            fix=f"ALTER ROLE {shown} WITH LOGIN yourself, or name a role the workflow creates",
        )


def mark_statement(user: str) -> sql.Composed:
    """The comment that says the workflow created this role."""
    return sql.SQL("COMMENT ON ROLE {} IS {}").format(
        sql.Identifier(user), sql.Literal(f"Openflow CDC connector login ({MARKER})")
    )
