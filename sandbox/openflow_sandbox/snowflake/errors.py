"""Snowflake-shaped errors: the errno, SQLSTATE and message text the real service returns.

The connector turns a failed query response into ``ProgrammingError(errno, sqlstate, msg)``
and a failed login into ``DatabaseError``; production code branches on the errno, so these
must match Snowflake's codes, not just read like them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SqlError(Exception):
    """A statement failure as Snowflake reports it."""

    errno: int
    sqlstate: str
    message: str

    def __str__(self) -> str:
        return f"{self.errno:06d} ({self.sqlstate}): {self.message}"


@dataclass
class LoginError(Exception):
    """A login failure: Snowflake's GS codes (390xxx), returned in the login response."""

    code: int
    message: str


def syntax_error(near: str, position: int = 0) -> SqlError:
    return SqlError(
        1003,
        "42000",
        f"SQL compilation error:\nsyntax error line 1 at position {position} unexpected '{near}'.",
    )


def unsupported(sql: str) -> SqlError:
    # Same errno as a parse failure (so callers see a hard failure), with a message that says plainly
    # that the sandbox's emulation lacks the statement rather than that the SQL is wrong.
    head = " ".join(sql.split())[:80]
    return SqlError(
        1003,
        "42000",
        f"SQL compilation error:\nsyntax error line 1 at position 0 unexpected '{head.split(' ')[0]}'.\n"
        f"(statement not supported by the sandbox Snowflake emulation: {head})",
    )


def does_not_exist(kind: str, name: str) -> SqlError:
    return SqlError(
        2003, "02000", f"SQL compilation error:\n{kind} '{name}' does not exist or not authorized."
    )


def already_exists(kind: str, name: str) -> SqlError:
    return SqlError(2002, "42710", f"SQL compilation error:\n{kind} '{name}' already exists.")


def insufficient_privileges(kind: str, name: str) -> SqlError:
    return SqlError(
        3001, "42501", f"SQL access control error:\nInsufficient privileges to operate on {kind} '{name}'"
    )


def invalid_value(message: str) -> SqlError:
    return SqlError(1008, "22023", f"SQL compilation error:\n{message}")


def missing_required(prop: str, kind: str) -> SqlError:
    return SqlError(1003, "42601", f"SQL compilation error:\nmissing required property {prop} for {kind}")


def invalid_state(message: str) -> SqlError:
    # Snowflake's codes for Openflow state conflicts are not documented; 55000 is the SQLSTATE
    # for "object not in prerequisite state".
    return SqlError(90000, "55000", message)


def no_current_database() -> SqlError:
    return SqlError(
        90105,
        "22000",
        "Cannot perform operation. This session does not have a current database. "
        "Call 'USE DATABASE', or use a qualified name.",
    )


def wait_timeout(timeout: int, what: str) -> SqlError:
    return SqlError(630, "57014", f"Timeout of {timeout} seconds elapsed waiting for {what}.")


JWT_INVALID = LoginError(390144, "JWT token is invalid.")
BAD_CREDENTIALS = LoginError(390100, "Incorrect username or password was specified.")
USER_DISABLED = LoginError(390101, "User access disabled. Contact your local system administrator.")


def role_not_granted(role: str) -> LoginError:
    return LoginError(
        390189,
        f"Role '{role}' specified in the connect string is not granted to this user. "
        "Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC.",
    )
