"""Snowflake identifiers and literals: validated once here, so no SQL is built from raw input.

We accept only unquoted-style identifiers (letters, digits, _ and $; not starting with a digit)
and emit them upper-cased, which is how Snowflake resolves unquoted names. Anything else
(quotes, semicolons, spaces, dots inside a part) is rejected with a message naming the value.
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class IdentifierError(ValueError):
    """A name that is not a safe Snowflake identifier."""


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return the canonical (upper-case) form of `name`, or raise IdentifierError."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise IdentifierError(
            f"{what} {name!r} is not a valid Snowflake identifier: use letters, digits, '_' or '$' "
            "(not starting with a digit, at most 255 characters; no quotes, dots, spaces or semicolons)"
        )
    return name.upper()


def ident(name: str) -> str:
    """An identifier ready to splice into SQL."""
    return check_identifier(name)


def qualified(*parts: str) -> str:
    """A dotted name (db.schema.object) with every part validated."""
    if not parts:
        raise IdentifierError("empty qualified name")
    return ".".join(check_identifier(p) for p in parts)


def split_qualified(name: str, parts: int, what: str = "name") -> tuple[str, ...]:
    """Split 'db.schema.obj' into validated, upper-cased parts; exactly `parts` parts required."""
    pieces = name.split(".")
    if len(pieces) != parts:
        raise IdentifierError(f"{what} {name!r} must have {parts} dot-separated parts")
    return tuple(check_identifier(p, what) for p in pieces)


def literal(value: str) -> str:
    """A single-quoted SQL string literal with quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quoted(name: str, what: str = "name") -> str:
    """A case-exact identifier part, double-quoted (for names taken from another system, such as a
    PostgreSQL schema or table that Snowflake must address with its exact case)."""
    if not isinstance(name, str) or not name or len(name) > 255 or "\x00" in name:
        raise IdentifierError(f"{what} {name!r} cannot be a Snowflake identifier (empty, too long or NUL)")
    return '"' + name.replace('"', '""') + '"'
