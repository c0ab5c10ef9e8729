"""Snowflake prerequisites (seed-digest.md §1) as "ensure": read state with SHOW/DESC, issue
only the statements that are missing, return the actions taken.

Gen 2 needs CREATE OPENFLOW DEPLOYMENT ON ACCOUNT plus CREATE OPENFLOW RUNTIME/CONNECTOR on
the Openflow schema; gen 1 needs the DATA PLANE / RUNTIME INTEGRATION account privileges.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.recorder import Recorder
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow.names import norm_name
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.login import recorded
from openflow_autopilot.snowflake.session import Connector, Sql, _default_connector, load_credentials, session

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# A default role among these makes Openflow's login fail with "Invalid consent request".
CONSENT_BLOCKING_ROLES = frozenset({"ACCOUNTADMIN", "ORGADMIN", "GLOBALORGADMIN", "SECURITYADMIN"})

GEN2_ACCOUNT_PRIVILEGES = ("CREATE OPENFLOW DEPLOYMENT",)
# CREATE SECRET: the connector phase, run as this role, keeps the connector's secrets in the schema
GEN2_SCHEMA_PRIVILEGES = ("CREATE OPENFLOW RUNTIME", "CREATE OPENFLOW CONNECTOR", "CREATE SECRET")
GEN1_ACCOUNT_PRIVILEGES = ("CREATE OPENFLOW DATA PLANE INTEGRATION", "CREATE OPENFLOW RUNTIME INTEGRATION")
# Both generations: the owner role creates the deployment's event table (seed-digest.md §3).
COMMON_SCHEMA_PRIVILEGES = ("CREATE EVENT TABLE",)


def _granted_on(value: Any) -> str:
    return str(value or "").upper().replace(" ", "_")


def _has_grant(grants: list[dict[str, Any]], privilege: str, on: str, name: str) -> bool:
    return any(
        norm_name(g.get("privilege")) == privilege
        and _granted_on(g.get("granted_on")) == on
        and norm_name(g.get("name")) == name
        for g in grants
    )


def _user_properties(sql: Sql, user: str) -> dict[str, str | None]:
    rows = sql.query(f"DESC USER {user}")
    return {
        norm_name(r.get("property")): (None if r.get("value") in (None, "null") else str(r["value"]))
        for r in rows
    }


def _secondary_roles_all(value: str | None) -> bool:
    if not value:
        return False
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = [p.strip(" '\"") for p in value.strip("()[]").split(",")]
    return isinstance(parsed, list) and [str(p).upper() for p in parsed] == ["ALL"]


def _ensure_execute_as_role(
    plan: Recorder[Sql], sql: Sql, request: ProvisionRequest, *, db: str, schema: str
) -> None:
    """The runtime's EXECUTE_AS_ROLE (create-openflow-runtime: required): the identity its connector
    reads its secrets as, so it needs USAGE on their database and schema (configure-connector-sql);
    READ and USAGE on each secret are granted by the connector phase, which creates them."""
    role = qualified(request.runtime.execute_as_role)
    exists = bool(sql.query(f"SHOW ROLES LIKE {literal(role)}"))
    if not exists:
        plan.do("create_role", role, f"CREATE ROLE IF NOT EXISTS {role}")
    grants = sql.query(f"SHOW GRANTS TO ROLE {role}") if exists else []
    for on, name in (("DATABASE", db), ("SCHEMA", schema)):
        if not _has_grant(grants, "USAGE", on, name):
            plan.do("grant", f"USAGE on {on} {name} to {role}", f"GRANT USAGE ON {on} {name} TO ROLE {role}")


def ensure_prerequisites(
    sql: Sql, request: ProvisionRequest, *, apply: bool = True, login_user: str
) -> PhaseResult:
    """Bring the account to the state §1 describes. With apply=False, only read and plan."""
    started = utcnow()
    sf = request.snowflake
    db = qualified(sf.openflow_database)
    schema = qualified(sf.openflow_database, sf.openflow_schema)
    repo = qualified(sf.openflow_database, sf.openflow_schema, sf.image_repository)
    role = qualified(sf.admin_role)
    user = qualified(sf.admin_user)
    plan = Recorder(sql, apply)

    # Objects: database, schema, image repository.
    db_exists = bool(sql.query(f"SHOW DATABASES LIKE {literal(db)}"))
    if not db_exists:
        plan.do("create_database", db, f"CREATE DATABASE IF NOT EXISTS {db}")
    schema_exists = db_exists and bool(
        sql.query(f"SHOW SCHEMAS LIKE {literal(sf.openflow_schema.upper())} IN DATABASE {db}")
    )
    if not schema_exists:
        plan.do("create_schema", schema, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    repo_exists = schema_exists and bool(
        sql.query(f"SHOW IMAGE REPOSITORIES LIKE {literal(sf.image_repository.upper())} IN SCHEMA {schema}")
    )
    if not repo_exists:
        plan.do("create_image_repository", repo, f"CREATE IMAGE REPOSITORY IF NOT EXISTS {repo}")

    # PUBLIC may use the Openflow database, schema and read the image repository.
    public_grants = sql.query("SHOW GRANTS TO ROLE PUBLIC")
    for privilege, on, name, obj in (
        ("USAGE", "DATABASE", db, f"DATABASE {db}"),
        ("USAGE", "SCHEMA", schema, f"SCHEMA {schema}"),
        ("READ", "IMAGE_REPOSITORY", repo, f"IMAGE REPOSITORY {repo}"),
    ):
        if not _has_grant(public_grants, privilege, on, name):
            plan.do("grant", f"{privilege} on {name} to PUBLIC", f"GRANT {privilege} ON {obj} TO ROLE PUBLIC")

    # The Openflow admin role and the privileges of the chosen generation.
    role_exists = bool(sql.query(f"SHOW ROLES LIKE {literal(role)}"))
    if not role_exists:
        plan.do("create_role", role, f"CREATE ROLE IF NOT EXISTS {role}")
    role_grants = sql.query(f"SHOW GRANTS TO ROLE {role}") if role_exists else []
    wanted: list[tuple[str, str, str | None]]
    if request.openflow.generation is Generation.GEN2:
        wanted = [(p, "ACCOUNT", None) for p in GEN2_ACCOUNT_PRIVILEGES]
        wanted += [(p, "SCHEMA", schema) for p in GEN2_SCHEMA_PRIVILEGES]
    else:
        wanted = [(p, "ACCOUNT", None) for p in GEN1_ACCOUNT_PRIVILEGES]
    wanted += [(p, "SCHEMA", schema) for p in COMMON_SCHEMA_PRIVILEGES]
    for privilege, on, on_name in wanted:
        have = any(
            norm_name(g.get("privilege")) == privilege
            and _granted_on(g.get("granted_on")) == on
            and (on_name is None or norm_name(g.get("name")) == on_name)
            for g in role_grants
        )
        if not have:
            target = "ACCOUNT" if on == "ACCOUNT" else f"SCHEMA {on_name}"
            plan.do(
                "grant", f"{privilege} on {target} to {role}", f"GRANT {privilege} ON {target} TO ROLE {role}"
            )

    if request.openflow.generation is Generation.GEN2:
        _ensure_execute_as_role(plan, sql, request, db=db, schema=schema)

    # The admin user (and the automation's own login, so later phases can act as the owner role).
    users = sql.query(f"SHOW USERS LIKE {literal(user)}")
    if not users:
        raise PreconditionFailed(
            f"Snowflake user {user} (request.snowflake.admin_user) does not exist",
            call=f"SHOW USERS LIKE '{user}'",
            fix="create the user or correct request.snowflake.admin_user",
        )
    for grantee in dict.fromkeys([user, qualified(login_user)]):
        user_roles = sql.query(f"SHOW GRANTS TO USER {grantee}")
        if not any(norm_name(r.get("role")) == role for r in user_roles):
            plan.do("grant_role", f"{role} to user {grantee}", f"GRANT ROLE {role} TO USER {grantee}")

    props = _user_properties(sql, user)
    if not _secondary_roles_all(props.get("DEFAULT_SECONDARY_ROLES")):
        plan.do(
            "alter_user",
            f"{user} DEFAULT_SECONDARY_ROLES",
            f"ALTER USER {user} SET DEFAULT_SECONDARY_ROLES = ('ALL')",
        )
    default_role = norm_name(props.get("DEFAULT_ROLE"))
    if default_role in CONSENT_BLOCKING_ROLES:
        plan.do("alter_user", f"{user} DEFAULT_ROLE", f"ALTER USER {user} SET DEFAULT_ROLE = 'PUBLIC'")
        plan.notes.append(
            f"default role of {user} was {default_role}, an admin role that makes Openflow fail with "
            "'Invalid consent request'; set to PUBLIC (secondary roles ALL keep its other roles usable)"
        )
    else:
        plan.notes.append(
            f"default role of {user} is {default_role or 'unset'}: not an admin role, left as is"
        )

    return plan.result("SnowflakePrerequisites", started, {})


def run_prerequisites(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
    apply: bool = True,
) -> PhaseResult:
    """The phase as the login role, whose user is the one the login secret names (the CLI's `plan`
    runs it with apply=False)."""
    secrets = secrets or client("secretsmanager", request.aws.region)
    creds = load_credentials(secrets, request.snowflake.credentials_secret_arn)
    opened = session(
        request.snowflake.account,
        creds,
        role=request.snowflake.login_role,
        endpoint=env.snowflake_endpoint,
        connector=connector,
    )
    with recorded(opened, request.snowflake.login_role) as sql:
        return ensure_prerequisites(sql, request, apply=apply, login_user=creds.user)
