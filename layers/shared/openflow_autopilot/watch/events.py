"""Recent ERROR log lines of one runtime, from the deployment's event table.

docs.snowflake.com/en/user-guide/data-integration/openflow/monitor: Openflow writes its logs to
the event table set up for the deployment; RECORD_TYPE is 'LOG', RESOURCE_ATTRIBUTES carries
"k8s.namespace.name" = runtime-<runtime key>, and VALUE is the log line, itself a JSON document
with "level" and "formattedMessage". The page asks for a TIMESTAMP bound in every query.

The SQL filters coarsely (VALUE mentions ERROR); the level is read in Python from the parsed line,
so a message that only mentions the word is not counted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from openflow_autopilot.errors import AutopilotError
from openflow_autopilot.snowflake.identifiers import literal
from openflow_autopilot.snowflake.session import Sql

LOOKBACK_MINUTES = 60
MAX_ROWS = 50  # rows read; at most MAX_LINES are reported
MAX_LINES = 3


def runtime_key(runtime_short_name: str) -> str:
    """The page's example: runtime "PostgreSQL CDC" has the key postgresql-cdc (lower case, words
    joined by '-'). SQL does not return the key: request.watch.runtime_key overrides this."""
    return re.sub(r"[^a-z0-9]+", "-", runtime_short_name.lower()).strip("-")


def _line(value: Any) -> dict[str, Any]:
    """VALUE as a dict: a JSON string (possibly inside a JSON string), or already an object."""
    for _ in range(3):
        if isinstance(value, dict):
            return value
        if not isinstance(value, str):
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            return {"formattedMessage": value}
    return value if isinstance(value, dict) else {}


def error_statement(table: str, namespace: str) -> str:
    return (
        f"SELECT TIMESTAMP, VALUE FROM {table} "  # noqa: S608 - table is a checked identifier
        f"WHERE TIMESTAMP > DATEADD(minute, -{LOOKBACK_MINUTES}, CURRENT_TIMESTAMP()) "
        "AND RECORD_TYPE = 'LOG' "
        f'AND RESOURCE_ATTRIBUTES:"k8s.namespace.name"::string = {literal(namespace)} '
        "AND VALUE::string ILIKE '%ERROR%' "
        f"ORDER BY TIMESTAMP DESC LIMIT {MAX_ROWS}"
    )


def recent_errors(sql: Sql, table: str, namespace: str) -> tuple[list[str], str | None]:
    """(up to MAX_LINES ERROR messages, newest first; a note when the table could not be read).
    Reading the event table is diagnosis only: its failure never fails the watch."""
    try:
        rows = sql.query(error_statement(table, namespace))
    except AutopilotError as exc:
        return [], f"the event table {table} could not be read: {exc.message}"
    lines: list[str] = []
    for row in rows:
        line = _line(row.get("value"))
        if str(line.get("level") or "").upper() != "ERROR":
            continue
        message = str(line.get("formattedMessage") or line.get("message") or "").strip()
        if message:
            lines.append(f"{row.get('timestamp')}: {message[:300]}")
        if len(lines) >= MAX_LINES:
            break
    return lines, None
