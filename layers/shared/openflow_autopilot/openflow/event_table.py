"""The Openflow event table's name, and its record in a gen 2 deployment's COMMENT. A gen 2
deployment's event table cannot be read back: SHOW/DESC OPENFLOW DEPLOYMENTS have no event_table
column (docs.snowflake.com/en/sql-reference/sql/show-openflow-deployments). So the product records
the table it set in the deployment's COMMENT, which it owns ("managed by openflow-autopilot;
event_table=DB.SCHEMA.TABLE"): the deployment phase writes the record, the watch reads it back.
"""

from __future__ import annotations

import re
from typing import Any, Final

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.snowflake.identifiers import qualified

EVENT_TABLE_NAME = "OPENFLOW_EVENTS"
EVENT_TABLE_MARKER: Final = "event_table="
# The marker is always last in the comment; table names are validated identifiers (no ';').
_MARKER = re.compile(r"(?:^|;\s*)" + re.escape(EVENT_TABLE_MARKER) + r"([A-Za-z0-9_$.]+)\s*$")


def event_table_of(request: ProvisionRequest) -> str:
    """The request's event table: OPENFLOW_EVENTS in the Openflow database and schema."""
    sf = request.snowflake
    return qualified(sf.openflow_database, sf.openflow_schema, EVENT_TABLE_NAME)


def recorded_event_table(comment: Any) -> str | None:
    """The event table recorded in a deployment's COMMENT by this product, if any."""
    found = _MARKER.search(str(comment or ""))
    return found.group(1).upper() if found else None


def comment_with_event_table(comment: Any, table: str) -> str:
    """`comment` with its event_table marker set to `table` (what was there before is kept)."""
    text = str(comment or "")
    found = _MARKER.search(text)
    kept = (text[: found.start()] if found else text).strip()
    return f"{kept}; {EVENT_TABLE_MARKER}{table}" if kept else f"{EVENT_TABLE_MARKER}{table}"
