"""Connecting to PostgreSQL and turning psycopg errors into the state machine's error names.

Messages name the server as host:port/database and never include the DSN itself, which may
carry a password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from openflow_autopilot.errors import (
    InvalidRequest,
    PermissionDenied,
    PostgresRetryableError,
    PreconditionFailed,
)

Connection = psycopg.Connection[Any]

APPLICATION_NAME = "openflow-autopilot"


def describe_target(dsn: str) -> str:
    """`host:port/dbname` for messages (libpq defaults shown as such); never the password."""
    params = _parse(dsn)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or '(default)'}"


def _parse(dsn: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # The parser's message may quote the DSN (and so a password): do not chain it.
        raise InvalidRequest(
            "dsn: not a valid PostgreSQL connection string",
            fix="use a URI (postgresql://user@host:5432/db) or key=value pairs (host=... dbname=...); "
            "put the password in PGPASSWORD or ~/.pgpass rather than on the command line",
        ) from None


def with_credentials(dsn: str, user: str, password: str) -> str:
    """The same server and database, logged in as another role."""
    return make_conninfo(dsn, user=user, password=password)


def _scrub(message: str, dsn: str) -> str:
    secret = _parse(dsn).get("password")
    return message.replace(str(secret), "***") if secret else message


def connect(dsn: str, *, connect_timeout: int = 10, autocommit: bool = True) -> Connection:
    """Open a connection (autocommit by default); map failures to our error classes."""
    target = describe_target(dsn)
    try:
        return psycopg.connect(
            dsn, autocommit=autocommit, connect_timeout=connect_timeout, application_name=APPLICATION_NAME
        )
    except psycopg.OperationalError as exc:
        detail = _scrub(str(exc).strip(), dsn)
        lowered = detail.lower()
        if "password authentication failed" in lowered or "no password supplied" in lowered:
            raise PermissionDenied(
                f"cannot log in to PostgreSQL at {target}: {detail}",
                fix="check the user name and password (PGPASSWORD, ~/.pgpass or the DSN)",
                call="connect",
            ) from None
        if "does not exist" in lowered:
            raise InvalidRequest(
                f"cannot connect to PostgreSQL at {target}: {detail}",
                fix="check the database and user names in the DSN",
                call="connect",
            ) from None
        raise PostgresRetryableError(
            f"cannot connect to PostgreSQL at {target}: {detail}",
            fix="check that the server is running and reachable from here (host, port, security groups, "
            "pg_hba.conf)",
            call="connect",
        ) from None


@contextmanager
def translated_errors(call: str) -> Iterator[None]:
    """Map psycopg errors raised inside the block to PermissionDenied / PostgresRetryableError / ..."""
    try:
        yield
    except pg_errors.InsufficientPrivilege as exc:
        raise PermissionDenied(
            f"PostgreSQL refused {call}: {exc.diag.message_primary or exc}",
            fix="connect as a role that owns the tables and publication and has CREATEROLE "
            "(on RDS: the master user), or grant the missing privilege",
            call=call,
        ) from None
    except (
        pg_errors.SerializationFailure,
        pg_errors.DeadlockDetected,
        pg_errors.LockNotAvailable,
        pg_errors.AdminShutdown,
        pg_errors.CannotConnectNow,
        # 57014: the server cancelled the statement (statement_timeout, pg_cancel_backend);
        # its transaction was rolled back, so the step can be run again
        pg_errors.QueryCanceled,
    ) as exc:
        raise PostgresRetryableError(f"{call} failed transiently: {exc}", call=call) from None
    except pg_errors.ObjectNotInPrerequisiteState as exc:
        raise PreconditionFailed(f"{call}: {exc}", call=call) from None
    except psycopg.OperationalError as exc:
        # Lost connection (reset, server restart): retry the step.
        if exc.sqlstate is None or exc.sqlstate.startswith("08"):
            raise PostgresRetryableError(f"{call}: connection to PostgreSQL lost: {exc}", call=call) from None
        raise
