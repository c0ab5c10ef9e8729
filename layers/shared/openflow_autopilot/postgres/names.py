"""PostgreSQL names taken from user input, parsed the way the server parses them, or rejected.

`schema.table` or `table` (schema `public`). An unquoted part is letters, digits, `_` and `$`
(not starting with a digit) and is folded to lower case, as PostgreSQL does; anything else
must be double-quoted (`"My Schema"."Order-Items"`, with `""` for a quote inside). Names
longer than 63 bytes are rejected because the server would silently truncate them and so
could address a different object. The parsed names only ever reach SQL as
`psycopg.sql.Identifier`, never by string formatting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import sql

from openflow_autopilot.errors import InvalidRequest

MAX_NAME_BYTES = 63  # NAMEDATALEN - 1
DEFAULT_SCHEMA = "public"

_UNQUOTED = re.compile(r"[^\W\d][\w$]*")
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
_SLOT = re.compile(r"[a-z0-9_]{1,63}")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_RESERVED_ROLES = frozenset({"public", "none", "current_user", "session_user", "current_role"})
_QUOTING_HINT = (
    "write schema.table or table; put names with other characters in double quotes, "
    'e.g. "My Schema"."Order-Items"'
)


@dataclass(frozen=True, order=True)
class TableName:
    """A resolved (unquoted, case-exact) schema and table name."""

    schema: str
    name: str

    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{display_name(self.schema)}.{display_name(self.name)}"


def display_name(name: str) -> str:
    """The name as a human would type it: bare when that resolves to the same name, else quoted."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _shown(value: str) -> str:
    """The offending input for a message, shortened so a huge value cannot flood the output."""
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _split_parts(value: str, field: str) -> list[str]:
    """Split a dotted name into resolved parts; raise InvalidRequest naming `field` and `value`."""

    def bad(reason: str) -> InvalidRequest:
        return InvalidRequest(f"{field}: {_shown(value)} is not a valid name ({reason})", fix=_QUOTING_HINT)

    text = value.strip()
    if not text:
        raise bad("it is empty")
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        if text[i] == '"':
            chunks, j = [], i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise bad("a double quote is not closed")
                chunks.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    chunks.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            part = "".join(chunks)
            if not part:
                raise bad('"" is an empty name')
        else:
            m = _UNQUOTED.match(text, i)
            if not m:
                raise bad(f"unexpected character {text[i]!r} at position {i + 1}; quote the name")
            part, i = m.group().translate(_ASCII_LOWER), m.end()
        if "\x00" in part:
            raise bad("it contains a NUL character")
        if len(part.encode()) > MAX_NAME_BYTES:
            raise bad(f"a part is longer than {MAX_NAME_BYTES} bytes; PostgreSQL would truncate it")
        parts.append(part)
        if i == n:
            return parts
        if text[i] != ".":
            raise bad(f"unexpected character {text[i]!r} at position {i + 1}; quote the name")
        i += 1
        if i == n:
            raise bad("it ends with a dot")


def parse_table_name(value: str, field: str = "tables") -> TableName:
    """`schema.table` or `table` (schema public) -> TableName."""
    parts = _split_parts(value, field)
    if len(parts) == 1:
        return TableName(DEFAULT_SCHEMA, parts[0])
    if len(parts) == 2:
        return TableName(parts[0], parts[1])
    raise InvalidRequest(
        f"{field}: {_shown(value)} has {len(parts)} dot-separated parts; use schema.table or table",
        fix=_QUOTING_HINT,
    )


def split_table_list(value: str, field: str = "tables") -> list[str]:
    """Split `a, "b,c".d` on the commas outside double quotes."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    if any(not item.strip() for item in items):
        raise InvalidRequest(f"{field}: {_shown(value)} contains an empty table name", fix=_QUOTING_HINT)
    return items


def parse_table_list(value: str | Iterable[str], field: str = "tables") -> list[TableName]:
    """Comma-separated names (or a list of names) -> de-duplicated TableNames, in input order."""
    raw = split_table_list(value, field) if isinstance(value, str) else list(value)
    tables = list(dict.fromkeys(parse_table_name(item, field) for item in raw))
    if not tables:
        raise InvalidRequest(f"{field}: no table given", fix="name at least one table, e.g. public.orders")
    return tables


def as_table_names(tables: str | Iterable[TableName | str], field: str = "tables") -> list[TableName]:
    """Accept a comma-separated string, or a list mixing parsed names and strings."""
    if isinstance(tables, str):
        return parse_table_list(tables, field)
    return parse_table_list([str(t) if isinstance(t, TableName) else t for t in tables], field)


def parse_identifier(value: str, field: str) -> str:
    """A single (undotted) name such as a publication: folded or unquoted like the server does."""
    parts = _split_parts(value, field)
    if len(parts) != 1:
        raise InvalidRequest(
            f"{field}: {_shown(value)} must be a single name, not a dotted one",
            fix="quote the whole name if it contains a dot",
        )
    return parts[0]


def parse_role_name(value: str, field: str = "user") -> str:
    """A role name we may create: no `pg_` prefix (reserved) and not a role keyword."""
    name = parse_identifier(value, field)
    if name.startswith("pg_") or name in _RESERVED_ROLES:
        raise InvalidRequest(
            f"{field}: {_shown(value)} is reserved by PostgreSQL",
            fix="choose another name, e.g. openflow_user",
        )
    return name


def check_slot_name(value: str, field: str = "slot") -> str:
    """Replication slot names: 1-63 of lower-case letters, digits and `_` (the server's own rule)."""
    if not _SLOT.fullmatch(value):
        raise InvalidRequest(
            f"{field}: {_shown(value)} is not a valid replication slot name",
            fix="use 1-63 lower-case letters, digits or underscores",
        )
    return value
