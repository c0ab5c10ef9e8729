"""What Snowflake documents about an Openflow deployment's state, as data the product reads from.

Gen 2 deployments: the statuses SHOW/DESC OPENFLOW DEPLOYMENTS report (there is no TERMINATED
deployment status: TERMINATE goes DELETING -> DELETED). Gen 1 data plane integrations: SHOW lists
them, but their data_plane_id and event_table are documented only on DESC.
"""

from __future__ import annotations

from typing import Any, Final

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.snowflake.identifiers import qualified
from openflow_autopilot.snowflake.session import Sql

# docs.snowflake.com/en/sql-reference/sql/show-openflow-deployments and desc-openflow-deployment
# (the status column); docs.snowflake.com/en/sql-reference/sql/alter-openflow-deployment (TERMINATE).
ACTIVE: Final = "ACTIVE"
NOT_REPORTING: Final = "NOT_REPORTING"
DELETING: Final = "DELETING"
DELETED: Final = "DELETED"
DELETE_FAILED: Final = "DELETE_FAILED"
DEPLOYMENT_STATUSES: Final = frozenset(
    {
        "CREATING",
        ACTIVE,
        "INACTIVE",
        "PROVISIONING",
        NOT_REPORTING,
        "NOT_HEALTHY",
        "UPGRADING",
        "UPGRADE_FAILED",
        "DEACTIVATION_REQUIRED",
        DELETING,
        DELETED,
        "CREATE_FAILED",
        DELETE_FAILED,
    }
)
FAILED_DEPLOYMENT_STATUSES: Final = frozenset({"CREATE_FAILED", "UPGRADE_FAILED", DELETE_FAILED})


def undocumented(status: str) -> bool:
    """A status outside the documented list (e.g. an empty one): say so rather than guess."""
    return status not in DEPLOYMENT_STATUSES


def describe_deployment(sql: Sql, name: str) -> dict[str, Any]:
    """DESC OPENFLOW DEPLOYMENT: the SHOW columns plus, documented on DESC only, error_code and
    status_message (null unless Snowflake set them). {} when it returns no row."""
    rows = sql.query(f"DESC OPENFLOW DEPLOYMENT {qualified(name)}")
    return rows[0] if rows else {}


def status_details(row: dict[str, Any]) -> str:
    """error_code / status_message of a DESC row, as one phrase for a diagnosis ('' if neither)."""
    parts = [f"{key} {row[key]}" for key in ("error_code", "status_message") if row.get(key)]
    return "; ".join(parts)


def describe_data_plane_integration(sql: Sql, name: str) -> dict[str, Any]:
    """DESC OPENFLOW DATA PLANE INTEGRATION: one row with the columns enabled, oauth_redirect_uri,
    data_plane_id, event_table, comment (docs.snowflake.com/en/sql-reference/sql/
    desc-oflow-data-plane-integration). SHOW does not document data_plane_id or event_table."""
    statement = f"DESC OPENFLOW DATA PLANE INTEGRATION {qualified(name)}"
    rows = sql.query(statement)
    if not rows:
        raise PreconditionFailed(
            f"DESC OPENFLOW DATA PLANE INTEGRATION {name} returned no row",
            call=statement,
            fix="use a login_role with USAGE, MODIFY or OWNERSHIP on the integration",
        )
    return rows[0]
