"""The gen 2 connector's Snowflake secrets: the source password and the service user's private key
(an unencrypted PKCS8 PEM), each a secret of TYPE = GENERIC_STRING whose COMMENT names the version
of what it holds, so a re-run replaces it only when that changed; their statements carry the values,
so they run but are recorded redacted. Also the READ and USAGE grants to the runtime's execute-as
role that reads them, and `refresh_connector_key`, which puts a rotated key into the connector's
secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.recorder import Recorder
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import AutopilotError, PreconditionFailed
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.names import connector_name, norm_name
from openflow_autopilot.snowflake.identifiers import literal, qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql

COMMENT = "managed by openflow-autopilot"
SECRET_GRANTS = ("READ", "USAGE")  # configure-connector-sql: READ; troubleshooting notes add USAGE


@dataclass(frozen=True)
class SnowflakeSecret:
    name: str  # qualified
    value: str = field(repr=False)  # SECRET_STRING: never shown
    version: str | None  # None: unknown; an existing secret is then kept
    describe: str  # what it holds, for the recorded statement
    kind: str = "GENERIC_STRING"  # the type the connector reads (configure-connector-sql)

    @property
    def comment(self) -> str:
        return f"{COMMENT}; version {self.version}" if self.version else COMMENT

    def statements(self) -> tuple[str, str]:
        """(statement to run, statement to record)."""
        head = f"CREATE OR REPLACE SECRET {self.name} TYPE = {self.kind}"
        tail = f"COMMENT = {literal(self.comment)}"
        return (
            f"{head} SECRET_STRING = {literal(self.value)} {tail}",
            f"{head} SECRET_STRING = '<{self.describe}>' {tail}",
        )

    def values(self) -> list[str]:
        return [self.value] if self.value else []


class SecretRecorder(Recorder[Sql]):
    """A Recorder that also creates Snowflake secrets without their values reaching a record."""

    def secret(self, secret: SnowflakeSecret) -> None:
        """Create/replace a secret; the values never reach a log, an error or the statement list."""
        statement, shown = secret.statements()
        if self.apply:
            try:
                self.sql.execute(statement)
            except AutopilotError as exc:
                message = exc.message
                for value in secret.values():
                    message = message.replace(value, "***")
                raise type(exc)(message, call=f"snowflake: {shown[:200]}", fix=exc.fix) from None
            if self.sql.executed and self.sql.executed[-1] == statement:
                self.sql.executed[-1] = shown
        self.actions.append(Action(kind="create_secret", target=secret.name, statement=shown))


@dataclass(frozen=True)
class ConnectorSecrets:
    password: SnowflakeSecret
    key: SnowflakeSecret

    def all(self) -> tuple[SnowflakeSecret, SnowflakeSecret]:
        return (self.password, self.key)


def _secrets(name: str, source: SourceEndpoint, destination: DestinationInfo) -> ConnectorSecrets:
    db, schema, conn = split_qualified(name, 3, "connector")
    password = SnowflakeSecret(
        name=qualified(db, schema, f"{conn}_SOURCE_PASSWORD"),
        value=source.password,
        version=source.password_version,
        describe="source password",
    )
    return ConnectorSecrets(password, _key_secret(name, destination))


def _key_secret(name: str, destination: DestinationInfo) -> SnowflakeSecret:
    """The connector's Snowflake secret holding the service user's private key."""
    db, schema, conn = split_qualified(name, 3, "connector")
    return SnowflakeSecret(
        name=qualified(db, schema, f"{conn}_SNOWFLAKE_KEY"),
        value=destination.unencrypted_private_key_pem(),
        version=destination.key_fingerprint or None,
        describe=f"private key of {destination.user}, fingerprint {destination.key_fingerprint}",
    )


def _execute_as_role(sql: Sql, runtime: str, *, required: bool = True) -> str | None:
    """The runtime's EXECUTE_AS_ROLE (desc-openflow-runtime), the identity that reads the secrets."""
    rows = sql.query(f"DESC OPENFLOW RUNTIME {runtime}")
    role = norm_name(rows[0].get("execute_as_role")) if rows else ""
    if role in ("", "NULL", "NONE"):
        if not required:
            return None
        raise PreconditionFailed(
            f"Openflow runtime {runtime} shows no execute_as_role",
            call=f"DESC OPENFLOW RUNTIME {runtime}",
            fix="a gen 2 runtime always has one (EXECUTE_AS_ROLE is required): check that the name is right",
        )
    return qualified(role)


def refresh_connector_key(
    sql: Sql, request: ProvisionRequest, *, destination: DestinationInfo, runtime: str
) -> PhaseResult:
    """After a key rotation: put the new key into the connector's Snowflake secret (replaced only when
    the fingerprint changed), so the runtime's next login uses it; sessions already open stay valid."""
    started = utcnow()
    rec = SecretRecorder(sql, True)
    full = connector_name(request)
    secret = _key_secret(full, destination)
    replaced = _ensure_secret(rec, secret)
    execute_as = _execute_as_role(sql, runtime)
    assert execute_as is not None
    _grant_secret(rec, secret.name, execute_as, replaced)
    return rec.result(
        "ConnectorKeyRefresh", started, {"connector": full, "key_fingerprint": destination.key_fingerprint}
    )


def _ensure_secret(rec: SecretRecorder, secret: SnowflakeSecret) -> bool:
    """True when the secret was (or would be) created or replaced."""
    db, schema, short = split_qualified(secret.name, 3, "secret")
    rows = rec.sql.query(f"SHOW SECRETS LIKE {literal(short)} IN SCHEMA {db}.{schema}")
    if rows:
        kind = str(rows[0].get("secret_type") or "").upper()
        if kind and kind != secret.kind:
            rec.notes.append(f"secret {secret.name} was of TYPE {kind}: replaced by a {secret.kind} one")
        elif secret.version is None:
            rec.notes.append(
                f"secret {secret.name} exists and no version of its value was given: kept as is "
                "(pass password_version to replace it when the password changes)"
            )
            return False
        elif str(rows[0].get("comment") or "") == secret.comment:
            return False
    rec.secret(secret)
    return True


def _grant_secret(rec: SecretRecorder, secret: str, role: str, replaced: bool) -> None:
    """The runtime reads secrets as its execute-as role; CREATE OR REPLACE drops earlier grants."""
    grants = [] if replaced else rec.sql.query(f"SHOW GRANTS ON SECRET {secret}")
    held = {norm_name(g.get("privilege")) for g in grants if norm_name(g.get("grantee_name")) == role}
    missing = [p for p in SECRET_GRANTS if p not in held]
    if missing:
        privileges = ", ".join(missing)
        rec.do(
            "grant",
            f"{privileges} on SECRET {secret} to {role}",
            f"GRANT {privileges} ON SECRET {secret} TO ROLE {role}",
        )
