"""The Snowflake adapter: credentials from Secrets Manager, a real connector session, and
error mapping onto the state machine's error classes.

Production and sandbox share this code; only the endpoint differs (SNOWFLAKE_HOST/PORT/PROTOCOL
in the function's environment point at the sandbox's emulation).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from openflow_autopilot.errors import (
    ConfigurationError,
    PermissionDenied,
    PreconditionFailed,
    SnowflakeRetryableError,
)
from openflow_autopilot.snowflake.statement_log import (
    StageFile,
    StatementRecord,
    now_iso,
    stage_files_of,
    statement_record,
)

# errno values from Snowflake's error catalogue that mean "this identity may not do that".
_ACCESS_ERRNOS = {3001, 3003, 3041, 390100, 390144, 390189, 394304}
_MISSING_ERRNOS = {2003, 2043}
# Connector errnos for network trouble (ER_FAILED_TO_CONNECT_TO_DB, ER_CONNECTION_IS_CLOSED, ...).
_NETWORK_ERRNOS = {250001, 250002, 250003, 251005, 251006, 251011, 251012}


@dataclass(frozen=True)
class SnowflakeCredentials:
    """The automation's login. repr hides key material and passwords."""

    user: str
    private_key_pem: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_secret_string(cls, text: str, *, arn: str) -> SnowflakeCredentials:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigurationError(
                f"secret {arn} is not JSON",
                fix="store {'user': ..., 'private_key': PEM, 'passphrase': ...} or {'user', 'password'}",
            ) from None
        if not isinstance(data, dict) or not data.get("user"):
            raise ConfigurationError(f"secret {arn} has no 'user' key", fix="add the Snowflake user name")
        if not (data.get("private_key") or data.get("password")):
            raise ConfigurationError(
                f"secret {arn} has neither 'private_key' nor 'password'", fix="add the login's key pair PEM"
            )
        return cls(
            user=str(data["user"]),
            private_key_pem=data.get("private_key"),
            passphrase=data.get("passphrase"),
            password=data.get("password"),
        )


@dataclass(frozen=True)
class SnowflakeEndpoint:
    """Where to connect. Empty host means Snowflake's own <account>.snowflakecomputing.com."""

    host: str | None = None
    port: int | None = None
    protocol: str | None = None


class SecretsClient(Protocol):
    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


def load_credentials(secrets: SecretsClient, arn: str) -> SnowflakeCredentials:
    from botocore.exceptions import ClientError

    try:
        value = secrets.get_secret_value(SecretId=arn)
    except ClientError as exc:
        from openflow_autopilot.aws.calls import denied, error_code

        code = error_code(exc)
        if denied(exc):
            raise PermissionDenied(
                f"cannot read secret {arn}: access denied",
                call="secretsmanager:GetSecretValue",
                fix="allow secretsmanager:GetSecretValue on it to the IAM identity that runs this "
                "(the function's role, or your own credentials for the CLI)",
            ) from None
        if code == "ResourceNotFoundException":
            raise ConfigurationError(
                f"secret {arn} does not exist", call="secretsmanager:GetSecretValue"
            ) from None
        raise
    return SnowflakeCredentials.from_secret_string(value["SecretString"], arn=arn)


def _private_key_der(pem: str, passphrase: str | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(
        pem.encode(), password=passphrase.encode() if passphrase else None
    )
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def classify(exc: BaseException, statement: str) -> Exception:
    """Map a connector exception to our error classes (the ASL branches on their names)."""
    from snowflake.connector import errors as sfe

    first = statement.strip().split("\n", 1)[0][:200]
    errno = getattr(exc, "errno", None)
    msg = getattr(exc, "msg", None) or str(exc)
    call = f"snowflake: {first}"
    retryable_http = (
        sfe.ServiceUnavailableError,
        sfe.GatewayTimeoutError,
        sfe.BadGatewayError,
        sfe.InternalServerError,
        sfe.TooManyRequests,
        sfe.OtherHTTPRetryableError,
        sfe.RequestTimeoutError,
        sfe.RequestExceedMaxRetryError,
        sfe.InterfaceError,
    )
    if isinstance(exc, retryable_http) or errno in _NETWORK_ERRNOS or isinstance(exc, OSError):
        return SnowflakeRetryableError(f"transient Snowflake error: {msg}", call=call)
    if errno in _ACCESS_ERRNOS:
        return PermissionDenied(
            f"Snowflake refused: {msg}",
            call=call,
            fix="grant the login role the privilege, or set request.snowflake.login_role to one with it",
        )
    if errno in _MISSING_ERRNOS:
        return PreconditionFailed(f"Snowflake: {msg}", call=call, fix="create the object or fix its name")
    if isinstance(exc, sfe.OperationalError):
        return SnowflakeRetryableError(f"transient Snowflake error: {msg}", call=call)
    return PreconditionFailed(f"Snowflake error {errno}: {msg}", call=call)


class Sql:
    """A thin wrapper over a DB-API connection: rows as dicts with lower-case keys, and a log
    of the statements run (no values are ever bound into that log: identifiers only).

    `records` is the evidence of the session: every statement sent, failed ones too, with its secret
    literals masked, its time and outcome; `stage_files` every file PUT to a connector's stage."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.executed: list[str] = []
        self.records: list[StatementRecord] = []
        self.stage_files: list[StageFile] = []

    def query(self, statement: str) -> list[dict[str, Any]]:
        at, started = now_iso(), time.perf_counter()
        uploads = stage_files_of(statement, at=at)  # read now: the caller removes the file afterwards
        try:
            cur = self._conn.cursor()
            cur.execute(statement)
            cols = [d[0].lower() for d in (cur.description or [])]
            rows = cur.fetchall() if cur.description else []
        except Exception as exc:
            error = classify(exc, statement)
            self._record(statement, at, started, uploads, error)
            raise error from None
        self.executed.append(statement)
        self._record(statement, at, started, uploads, None)
        return [dict(zip(cols, r, strict=False)) for r in rows]

    def _record(
        self, statement: str, at: str, started: float, uploads: list[StageFile], error: Exception | None
    ) -> None:
        seconds = time.perf_counter() - started
        self.records.append(statement_record(statement, at=at, seconds=seconds, error=error))
        self.stage_files += [f.model_copy(update={"ok": error is None}) for f in uploads]

    def execute(self, statement: str) -> None:
        self.query(statement)

    def close(self) -> None:
        # closing a broken session must not mask the real error
        with contextlib.suppress(Exception):
            self._conn.close()


Connector = Callable[..., Any]

SOCKET_TIMEOUT_ENV = "OPENFLOW_AUTOPILOT_SNOWFLAKE_SOCKET_TIMEOUT"


def socket_timeout() -> int | None:
    """The connector's per-request socket timeout (seconds) from the environment; None (the
    connector's own default, 60 s) when unset or not a positive whole number."""
    try:
        value = int(os.environ.get(SOCKET_TIMEOUT_ENV, "").strip())
    except ValueError:
        return None
    return value if value > 0 else None


def _default_connector(**kwargs: Any) -> Any:
    import snowflake.connector

    return snowflake.connector.connect(**kwargs)


@contextmanager
def session(
    account: str,
    creds: SnowflakeCredentials,
    *,
    role: str,
    endpoint: SnowflakeEndpoint | None = None,
    connector: Connector = _default_connector,
) -> Iterator[Sql]:
    """Open a session as `creds.user` with `role`; errors mapped like statements."""
    kwargs: dict[str, Any] = {
        "account": account,
        "user": creds.user,
        "role": role,
        "login_timeout": 30,
        "network_timeout": 60,
        "application": "openflow-autopilot",
    }
    if (timeout := socket_timeout()) is not None:
        # a request not answered within this is dropped and retried by the connector
        kwargs["socket_timeout"] = timeout
    if creds.private_key_pem:
        kwargs["private_key"] = _private_key_der(creds.private_key_pem, creds.passphrase)
    else:
        kwargs["password"] = creds.password
    if endpoint is not None:
        for key in ("host", "port", "protocol"):
            if (value := getattr(endpoint, key)) is not None:
                kwargs[key] = value
    try:
        conn = connector(**kwargs)
    except Exception as exc:
        raise classify(exc, "login") from None
    sql = Sql(conn)
    try:
        yield sql
    finally:
        sql.close()
