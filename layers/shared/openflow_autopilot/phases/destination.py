"""The Snowflake destination (seed-digest.md §7) as "ensure": the database the connector writes
to, its warehouse, a role with just the grants it needs, and a SERVICE user that logs in with an
RSA key pair generated here.

The private key lives only in Secrets Manager (JSON {"user", "private_key", "passphrase"}; the PEM
is encrypted PKCS8 unless the caller asks otherwise); Snowflake gets the public key. A second run
finds the stored key's fingerprint on the user (RSA_PUBLIC_KEY_FP) and changes nothing.

Key rotation uses the user's second key slot so that, at every step, the key in the secret is one
Snowflake accepts: set RSA_PUBLIC_KEY_2 = new, store the new key, then move it to RSA_PUBLIC_KEY
and unset RSA_PUBLIC_KEY_2. Stopping after the store (retire_old_key=False) keeps the old key valid
too, for consumers that have not re-read the secret yet; the next call finishes the move. The gen 2
connector holds a copy of the key in a Snowflake secret, so a rotation with a running connector is:
rotate(retire_old_key=False) -> ensure_connector (replaces that copy) -> rotate().
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.calls import denied, error_code, retryable
from openflow_autopilot.aws.secret_owner import check_secret_owner, owner_tags
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import AwsRetryableError, PermissionDenied, PreconditionFailed
from openflow_autopilot.openflow.names import norm_name
from openflow_autopilot.phases.prerequisites import _has_grant, _user_properties
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

KEY_BITS = 2048
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
COMMENT = "managed by openflow-autopilot"


def service_key_secret_name(request: ProvisionRequest, prefix: str = "openflow-autopilot/") -> str:
    """Where the service user's private key is kept (the caller may choose another name)."""
    return f"{prefix}{request.name}/service-user"


# -- keys -------------------------------------------------------------------------------------------
def fingerprint(public_der: bytes) -> str:
    """Snowflake's RSA_PUBLIC_KEY_FP: 'SHA256:' + base64 of the SHA-256 of the DER public key."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_der).digest()).decode()


@dataclass(frozen=True)
class ServiceKey:
    """A service user's key pair as stored in Secrets Manager. repr never shows key material."""

    user: str
    private_key_pem: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)

    def _private(self) -> Any:
        from cryptography.hazmat.primitives import serialization

        password = self.passphrase.encode() if self.passphrase else None
        return serialization.load_pem_private_key(self.private_key_pem.encode(), password=password)

    @property
    def public_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        der: bytes = (
            self._private()
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return der

    @property
    def public_key_body(self) -> str:
        """The value ALTER USER ... SET RSA_PUBLIC_KEY takes: base64 DER without PEM armour."""
        return base64.b64encode(self.public_der).decode()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_der)

    def private_key_der(self) -> bytes:
        """Unencrypted PKCS8 DER, as snowflake.connector.connect(private_key=...) takes it."""
        from cryptography.hazmat.primitives import serialization

        der: bytes = self._private().private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return der

    def to_secret_string(self) -> str:
        data = {"user": self.user, "private_key": self.private_key_pem}
        if self.passphrase:
            data["passphrase"] = self.passphrase
        return json.dumps(data)

    @classmethod
    def from_secret_string(cls, text: str) -> ServiceKey:
        """Parse and check a stored key; ValueError (without key material) when it is unusable."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("the secret is not JSON") from None
        if not isinstance(data, dict) or not data.get("user") or not data.get("private_key"):
            raise ValueError("the secret lacks 'user' or 'private_key'")
        key = cls(str(data["user"]), str(data["private_key"]), data.get("passphrase") or None)
        try:
            key._private()
        except (ValueError, TypeError):
            raise ValueError(
                "the stored private key cannot be read (wrong passphrase or not a PEM key)"
            ) from None
        return key


def generate_service_key(user: str, *, encrypt: bool = True, bits: int = KEY_BITS) -> ServiceKey:
    """A new RSA key pair; the PEM is encrypted PKCS8 with a random passphrase unless encrypt=False."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits < KEY_BITS:
        raise ValueError(f"RSA keys must have at least {KEY_BITS} bits")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    passphrase = pysecrets.token_urlsafe(32) if encrypt else None
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()
    return ServiceKey(user=user, private_key_pem=pem, passphrase=passphrase)


# -- Secrets Manager --------------------------------------------------------------------------------
def _aws_error(exc: Exception, call: str, secret_name: str) -> Exception:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return exc
    if denied(exc):
        return PermissionDenied(
            f"Secrets Manager refused {call} on {secret_name}",
            call=f"secretsmanager:{call}",
            fix=f"allow the function's role secretsmanager:{call} on openflow-autopilot/* secrets",
        )
    if retryable(exc):
        return AwsRetryableError(
            f"Secrets Manager {call} failed transiently ({error_code(exc)})", call=f"secretsmanager:{call}"
        )
    return exc


@dataclass(frozen=True)
class StoredKey:
    arn: str | None  # None: the secret does not exist
    key: ServiceKey | None  # None: missing or unusable
    problem: str | None = None  # why an existing secret's key is unusable


def read_service_key(secrets: SecretsManagerClient, secret_name: str) -> StoredKey:
    from botocore.exceptions import ClientError

    try:
        value = secrets.get_secret_value(SecretId=secret_name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return StoredKey(arn=None, key=None)
        raise _aws_error(exc, "GetSecretValue", secret_name) from None
    arn = str(value["ARN"])
    try:
        return StoredKey(arn=arn, key=ServiceKey.from_secret_string(str(value.get("SecretString") or "")))
    except ValueError as exc:
        return StoredKey(arn=arn, key=None, problem=str(exc))


def store_service_key(
    secrets: SecretsManagerClient, secret_name: str, key: ServiceKey, *, exists: bool, deployment: str
) -> str:
    """Create the secret, or add a new version (AWSCURRENT moves to it); returns the ARN."""
    from botocore.exceptions import ClientError

    try:
        if exists:
            secrets.put_secret_value(SecretId=secret_name, SecretString=key.to_secret_string())
            return str(secrets.describe_secret(SecretId=secret_name)["ARN"])
        created = secrets.create_secret(
            Name=secret_name,
            Description=f"Snowflake key pair of service user {key.user} ({COMMENT})",
            SecretString=key.to_secret_string(),
            Tags=owner_tags(deployment),
        )
        return str(created["ARN"])
    except ClientError as exc:
        raise _aws_error(exc, "PutSecretValue" if exists else "CreateSecret", secret_name) from None


# -- the ensure phase -------------------------------------------------------------------------------
class _Recorder:
    def __init__(self, sql: Sql, apply: bool) -> None:
        self.sql, self.apply = sql, apply
        self.actions: list[Action] = []
        self.notes: list[str] = []

    def do(self, kind: str, target: str, statement: str, *, shown: str | None = None) -> None:
        """Run `statement` (when applying) and record it, or `shown` in its place."""
        if self.apply:
            self.sql.execute(statement)
        self.actions.append(Action(kind=kind, target=target, statement=shown or statement))

    def record(self, kind: str, target: str, statement: str) -> None:
        self.actions.append(Action(kind=kind, target=target, statement=statement))

    def result(self, phase: str, started: str, outputs: dict[str, Any]) -> PhaseResult:
        status = "planned" if not self.apply else ("changed" if self.actions else "unchanged")
        return PhaseResult(
            phase=phase,
            status=status,
            actions=self.actions,
            notes=self.notes,
            outputs=outputs,
            started_at=started,
            ended_at=utcnow(),
        )


def _size_display(size: Any) -> str:
    return str(size or "").upper().replace("_", "-")


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "y", "yes", "1")


def _ensure_warehouse(rec: _Recorder, request: ProvisionRequest) -> None:
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


def _ensure_user(rec: _Recorder, request: ProvisionRequest) -> bool:
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
    rec: _Recorder,
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
    rec = _Recorder(sql, apply)
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


def rotate_service_user_key(
    sql: Sql,
    request: ProvisionRequest,
    *,
    secrets: SecretsManagerClient,
    secret_name: str,
    retire_old_key: bool = True,
    encrypt_private_key: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> PhaseResult:
    """Replace the service user's key without a moment where the stored key is refused.

    Steps (each re-entrant; the state read at the start says where a previous run stopped):
    1. ALTER USER ... SET RSA_PUBLIC_KEY_2 = <new>      (old and new accepted; secret: old)
    2. store the new key as a new secret version       (secret: new, accepted as key 2)
    3. ALTER USER ... SET RSA_PUBLIC_KEY = <new>        (secret: new, accepted as key 1)
    4. ALTER USER ... UNSET RSA_PUBLIC_KEY_2            (only the new key remains)
    With retire_old_key=False the run stops after step 2, so clients still holding the old key keep
    working; a later call does steps 3 and 4. `on_step(name)` is called after each step.
    """
    started = utcnow()
    user = qualified(request.destination.service_user)
    rec = _Recorder(sql, apply=True)
    check_secret_owner(secrets, secret_name, request.openflow.deployment_name)
    stored = read_service_key(secrets, secret_name)
    if stored.key is None or stored.arn is None:
        raise PreconditionFailed(
            f"no usable key for {user} in {secret_name}" + (f" ({stored.problem})" if stored.problem else ""),
            fix="run the destination phase first; it creates the user's key",
        )
    fp1, fp2 = _key_fingerprints(sql, user)
    current = stored.key

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    if current.fingerprint not in (fp1, fp2):
        raise PreconditionFailed(
            f"the key in {secret_name} ({current.fingerprint}) is not one of {user}'s keys ({fp1}, {fp2})",
            fix="run the destination phase, which sets the stored key on the user, then rotate",
        )
    new = current
    if fp1 == fp2 == current.fingerprint:  # stopped between steps 3 and 4
        rec.do("unset_public_key_2", user, f"ALTER USER {user} UNSET RSA_PUBLIC_KEY_2")
        step("unset_rsa_public_key_2")
        rec.notes.append("finished a rotation that had stopped before RSA_PUBLIC_KEY_2 was unset")
        return rec.result(
            "ServiceUserKeyRotation",
            started,
            {
                "user": user,
                "key_secret_arn": stored.arn,
                "key_fingerprint": new.fingerprint,
                "finished": True,
            },
        )
    if current.fingerprint == fp1:  # start a rotation
        new = generate_service_key(current.user, encrypt=encrypt_private_key)
        statement, shown = _set_key_statement(user, "RSA_PUBLIC_KEY_2", new)
        rec.do("set_public_key_2", user, statement, shown=shown)
        step("set_rsa_public_key_2")
        store_service_key(secrets, secret_name, new, exists=True, deployment=request.openflow.deployment_name)
        rec.record(
            "store_private_key",
            secret_name,
            f"secretsmanager:PutSecretValue (new AWSCURRENT version, fingerprint {new.fingerprint})",
        )
        step("stored_new_key")
        rec.notes.append(f"the previous private key remains in {secret_name} as version stage AWSPREVIOUS")
    else:
        rec.notes.append(
            f"resuming a rotation: the stored key {current.fingerprint} is {user}'s RSA_PUBLIC_KEY_2"
        )
    if retire_old_key:
        statement, shown = _set_key_statement(user, "RSA_PUBLIC_KEY", new)
        rec.do("set_public_key", user, statement, shown=shown)
        step("set_rsa_public_key")
        rec.do("unset_public_key_2", user, f"ALTER USER {user} UNSET RSA_PUBLIC_KEY_2")
        step("unset_rsa_public_key_2")
    else:
        rec.notes.append(
            f"the old key ({fp1}) stays valid as RSA_PUBLIC_KEY until the rotation is finished "
            "(call again with retire_old_key=True)"
        )
    return rec.result(
        "ServiceUserKeyRotation",
        started,
        {
            "user": user,
            "key_secret_arn": stored.arn,
            "key_fingerprint": new.fingerprint,
            "finished": retire_old_key,
        },
    )
