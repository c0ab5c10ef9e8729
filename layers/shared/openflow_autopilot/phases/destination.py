"""The Snowflake destination (seed-digest.md §7) as "ensure": the database the connector writes
to, its warehouse, a role with just the grants it needs, and a SERVICE user that logs in with an
RSA key pair generated here.

The private key lives only in Secrets Manager (JSON {"user", "private_key", "passphrase"}; the PEM
is encrypted PKCS8 unless the caller asks otherwise); Snowflake gets the public key. A second run
finds the stored key's fingerprint on the user (RSA_PUBLIC_KEY_FP) and changes nothing. The key
pair and its secret are handled in service_key.py; rotating the key is user_key_rotation.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.secret_owner import check_secret_owner
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.recorder import Recorder
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.names import norm_name
from openflow_autopilot.phases.prerequisites import _has_grant, _user_properties
from openflow_autopilot.phases.service_key import (
    COMMENT,
    KEY_BITS,
    ServiceKey,
    generate_service_key,
    read_service_key,
    store_service_key,
)
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# SHOW WAREHOUSES prints sizes as "X-Small", "2X-Large"; the request uses the SQL keywords.
WAREHOUSE_SIZE_DISPLAY = {
    "XSMALL": "X-SMALL",
    "SMALL": "SMALL",
    "MEDIUM": "MEDIUM",
    "LARGE": "LARGE",
    "XLARGE": "X-LARGE",
    "XXLARGE": "2X-LARGE",
}
DATABASE_PRIVILEGES = ("USAGE", "CREATE SCHEMA")
WAREHOUSE_PRIVILEGES = ("USAGE", "OPERATE")


# -- the ensure phase -------------------------------------------------------------------------------
def _size_display(size: Any) -> str:
    return str(size or "").upper().replace("_", "-")


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "y", "yes", "1")


def _ensure_warehouse(rec: Recorder[Sql], request: ProvisionRequest) -> None:
    dest = request.destination
    wh = qualified(dest.warehouse)
    size = WAREHOUSE_SIZE_DISPLAY[dest.warehouse_size]
    rows = rec.sql.query(f"SHOW WAREHOUSES LIKE {literal(wh)}")
    if not rows:
        rec.do(
            "create_warehouse",
            wh,
            f"CREATE WAREHOUSE IF NOT EXISTS {wh} WITH WAREHOUSE_SIZE = {literal(dest.warehouse_size)} "
            f"AUTO_SUSPEND = {dest.auto_suspend_seconds} AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE "
            f"COMMENT = {literal(COMMENT)}",
        )
        return
    row = rows[0]
    changes = []
    if _size_display(row.get("size")) != size:
        changes.append(f"WAREHOUSE_SIZE = {literal(dest.warehouse_size)}")
    try:
        current_suspend = int(row.get("auto_suspend") or 0)
    except (TypeError, ValueError):
        current_suspend = -1
    if current_suspend != dest.auto_suspend_seconds:
        changes.append(f"AUTO_SUSPEND = {dest.auto_suspend_seconds}")
    if not _truthy(row.get("auto_resume")):
        changes.append("AUTO_RESUME = TRUE")
    if changes:
        rec.do("alter_warehouse", wh, f"ALTER WAREHOUSE {wh} SET {' '.join(changes)}")


def _ensure_user(rec: Recorder[Sql], request: ProvisionRequest) -> bool:
    """The SERVICE user with the role and warehouse as defaults; True when it exists afterwards."""
    dest = request.destination
    user, role, wh = qualified(dest.service_user), qualified(dest.service_role), qualified(dest.warehouse)
    if not rec.sql.query(f"SHOW USERS LIKE {literal(user)}"):
        rec.do(
            "create_user",
            user,
            f"CREATE USER IF NOT EXISTS {user} TYPE = SERVICE DEFAULT_ROLE = {role} "
            f"DEFAULT_WAREHOUSE = {wh} COMMENT = {literal(COMMENT)}",
        )
        return rec.apply
    props = _user_properties(rec.sql, user)
    kind = norm_name(props.get("TYPE"))
    if kind != "SERVICE":
        raise PreconditionFailed(
            f"Snowflake user {user} exists with TYPE = {kind or 'PERSON'}; "
            "the connector needs a SERVICE user",
            call=f"DESC USER {user}",
            fix="choose another destination.service_user, or ALTER USER ... SET TYPE = SERVICE "
            "if the user is not a person's",
        )
    changes = []
    if norm_name(props.get("DEFAULT_ROLE")) != role:
        changes.append(f"DEFAULT_ROLE = {role}")
    if norm_name(props.get("DEFAULT_WAREHOUSE")) != wh:
        changes.append(f"DEFAULT_WAREHOUSE = {wh}")
    if changes:
        rec.do("alter_user", user, f"ALTER USER {user} SET {' '.join(changes)}")
    return True


def _key_fingerprints(sql: Sql, user: str) -> tuple[str | None, str | None]:
    props = _user_properties(sql, user)
    return props.get("RSA_PUBLIC_KEY_FP"), props.get("RSA_PUBLIC_KEY_2_FP")


def _set_key_statement(user: str, slot: str, key: ServiceKey) -> tuple[str, str]:
    """(statement to run, statement to record): the recorded one names the fingerprint only."""
    return (
        f"ALTER USER {user} SET {slot} = {literal(key.public_key_body)}",
        f"ALTER USER {user} SET {slot} = '<public key, fingerprint {key.fingerprint}>'",
    )


def _ensure_key(
    rec: Recorder[Sql],
    request: ProvisionRequest,
    *,
    secrets: SecretsManagerClient,
    secret_name: str,
    user_exists: bool,
    encrypt: bool,
) -> tuple[str | None, str | None]:
    """(secret ARN, key fingerprint) after making the stored key one the user accepts."""
    user = qualified(request.destination.service_user)
    stored = read_service_key(secrets, secret_name)
    fp1, fp2 = _key_fingerprints(rec.sql, user) if user_exists else (None, None)
    key = stored.key
    if key is not None and key.user.upper() != user:
        rec.notes.append(
            f"the key in {secret_name} was stored for user {key.user}; a key for {user} replaces it"
        )
        key = None
    if key is not None and key.fingerprint == fp1:
        return stored.arn, key.fingerprint
    if key is not None and key.fingerprint == fp2:
        rec.notes.append(
            f"the stored key is {user}'s RSA_PUBLIC_KEY_2: a key rotation was not finished; "
            "rotate_service_user_key completes it"
        )
        return stored.arn, key.fingerprint
    if stored.problem:
        rec.notes.append(
            f"the secret {secret_name} holds no usable key ({stored.problem}); a new key replaces it"
        )
    arn = stored.arn
    if key is None:
        if not rec.apply:
            rec.record("generate_key", user, f"generate a {KEY_BITS}-bit RSA key pair for {user}")
            rec.record(
                "store_private_key",
                secret_name,
                f"secretsmanager:{'PutSecretValue' if arn else 'CreateSecret'}",
            )
            rec.record("set_public_key", user, f"ALTER USER {user} SET RSA_PUBLIC_KEY = '<new public key>'")
            return arn, None
        key = generate_service_key(user, encrypt=encrypt)
        # store first: if the ALTER below fails, a re-run finds this key and only sets it
        arn = store_service_key(
            secrets, secret_name, key, exists=arn is not None, deployment=request.openflow.deployment_name
        )
        rec.record(
            "store_private_key",
            secret_name,
            f"secretsmanager:{'PutSecretValue' if stored.arn else 'CreateSecret'} "
            f"(private key, {'encrypted' if encrypt else 'unencrypted'} PKCS8 PEM, "
            f"fingerprint {key.fingerprint})",
        )
    elif fp1:
        rec.notes.append(
            f"{user} had another RSA_PUBLIC_KEY ({fp1}); the key stored in {secret_name} replaces it"
        )
    statement, shown = _set_key_statement(user, "RSA_PUBLIC_KEY", key)
    rec.do("set_public_key", user, statement, shown=shown)
    return arn, key.fingerprint


def ensure_destination(
    sql: Sql,
    request: ProvisionRequest,
    *,
    secrets: SecretsManagerClient,
    secret_name: str,
    apply: bool = True,
    encrypt_private_key: bool = True,
) -> PhaseResult:
    """Database, warehouse, role + grants, SERVICE user with its key. apply=False only reads and plans
    (no key is generated and nothing is stored)."""
    started = utcnow()
    dest = request.destination
    db, wh = qualified(dest.database), qualified(dest.warehouse)
    role, user = qualified(dest.service_role), qualified(dest.service_user)
    rec = Recorder(sql, apply)
    # before anything is created: another deployment's key secret stops the phase here
    check_secret_owner(secrets, secret_name, request.openflow.deployment_name)

    if not sql.query(f"SHOW DATABASES LIKE {literal(db)}"):
        rec.do("create_database", db, f"CREATE DATABASE IF NOT EXISTS {db} COMMENT = {literal(COMMENT)}")
    _ensure_warehouse(rec, request)

    role_exists = bool(sql.query(f"SHOW ROLES LIKE {literal(role)}"))
    if not role_exists:
        rec.do("create_role", role, f"CREATE ROLE IF NOT EXISTS {role} COMMENT = {literal(COMMENT)}")
    grants = sql.query(f"SHOW GRANTS TO ROLE {role}") if role_exists else []
    for on, name, privileges in (
        ("DATABASE", db, DATABASE_PRIVILEGES),
        ("WAREHOUSE", wh, WAREHOUSE_PRIVILEGES),
    ):
        missing = [p for p in privileges if not _has_grant(grants, p, on, name)]
        if missing:
            listed = ", ".join(missing)
            rec.do(
                "grant", f"{listed} on {on} {name} to {role}", f"GRANT {listed} ON {on} {name} TO ROLE {role}"
            )

    user_exists = _ensure_user(rec, request)
    user_roles = sql.query(f"SHOW GRANTS TO USER {user}") if user_exists else []
    if not any(norm_name(r.get("role")) == role for r in user_roles):
        rec.do("grant_role", f"{role} to user {user}", f"GRANT ROLE {role} TO USER {user}")

    arn, key_fp = _ensure_key(
        rec,
        request,
        secrets=secrets,
        secret_name=secret_name,
        user_exists=user_exists,
        encrypt=encrypt_private_key,
    )
    if not encrypt_private_key:
        rec.notes.append(f"the private key in {secret_name} is stored unencrypted, as requested")
    return rec.result(
        "SnowflakeDestination",
        started,
        {
            "database": db,
            "role": role,
            "warehouse": wh,
            "user": user,
            "key_secret_arn": arn,
            "key_fingerprint": key_fp,
        },
    )
