"""The documented status names of gen 2 Openflow runtimes and connectors, as data (deployments:
openflow/deployments.py).

Every decision the product takes on a runtime's or connector's status reads these sets; nothing
compares against a status name that is not listed here. Failures are named ``<ACTION>_FAILED``:
there is no plain FAILED or ERROR. A status outside the stable sets is taken as "still changing".

Pages: docs.snowflake.com/en/sql-reference/sql/desc-openflow-runtime, .../desc-openflow-connector and
docs.snowflake.com/en/user-guide/data-integration/openflow/gen2/manage-connector-lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# -- runtimes (sql-reference/sql/desc-openflow-runtime, alter-openflow-runtime) -------------------
RUNTIME_FAILED: Final = frozenset(
    {
        "CREATE_FAILED",
        "UPDATE_FAILED",
        "SUSPEND_FAILED",
        "ACTIVATE_FAILED",
        "RESTART_FAILED",
        "UPGRADE_FAILED",
        "DELETE_FAILED",
    }
)
RUNTIME_STABLE: Final = frozenset({"ACTIVE", "SUSPENDED", "TERMINATED"}) | RUNTIME_FAILED
RUNTIME_STATUSES: Final = RUNTIME_STABLE | frozenset({"CREATING", "SUSPENDING", "ACTIVATING"})

# -- connectors (gen2/manage-connector-lifecycle, sql-reference/sql/alter-openflow-connector) -------
CONNECTOR_FAILED: Final = frozenset(
    {"CREATE_FAILED", "START_FAILED", "STOP_FAILED", "UPDATE_FAILED", "DELETE_FAILED"}
)
CONNECTOR_STABLE: Final = frozenset({"STOPPED", "RUNNING", "TERMINATED"}) | CONNECTOR_FAILED
# A connector in UPDATE_FAILED refuses START; only STOP returns it to STOPPED.
CONNECTOR_CLEARED_BY_STOP: Final = frozenset({"UPDATE_FAILED", "START_FAILED"})


def is_failed(status: str, failed: frozenset[str]) -> bool:
    """A documented failed status (compared upper-case)."""
    return status.strip().upper() in failed


def describe_details(row: Mapping[str, Any]) -> str:
    """DESCRIBE's error_code and status_message (desc-openflow-runtime, desc-openflow-connector), as
    ': <code>; <message>' to append to a status, or '' when Snowflake set neither."""
    parts = [str(row[k]) for k in ("error_code", "status_message") if row.get(k)]
    return f": {'; '.join(parts)}" if parts else ""
