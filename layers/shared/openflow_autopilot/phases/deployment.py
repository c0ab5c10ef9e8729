"""The deployment phase (issue: deployment/stack). Gen 2 creates the BYOC deployment with SQL;
gen 1 finds the existing data plane integration (they can no longer be created). Both make sure
the Openflow event table exists and is the deployment's event table.

Runs as the login role for grants, then as the Openflow admin role so the deployment and the
event table are owned by it, as the seed's UI flow would leave them.

A gen 2 deployment's event table cannot be read back: SHOW/DESC OPENFLOW DEPLOYMENTS have no
event_table column (docs.snowflake.com/en/sql-reference/sql/show-openflow-deployments). So the
product records the table it set in the deployment's COMMENT, which it owns ("managed by
openflow-autopilot; event_table=DB.SCHEMA.TABLE"; openflow/event_table.py), and sets it again only
when that record differs.
"""

from __future__ import annotations

from typing import Any, Final

from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.recorder import Recorder
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.deployments import describe_data_plane_integration
from openflow_autopilot.openflow.event_table import (
    EVENT_TABLE_NAME,
    comment_with_event_table,
    event_table_of,
    recorded_event_table,
)
from openflow_autopilot.openflow.names import norm_name
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

MANAGED_COMMENT: Final = "managed by openflow-autopilot"


def _ensure_event_table(rec: Recorder[Sql], request: ProvisionRequest) -> str:
    """The event table, created by the owner role (granted CREATE EVENT TABLE by prerequisites)."""
    sf = request.snowflake
    schema = qualified(sf.openflow_database, sf.openflow_schema)
    table = event_table_of(request)
    exists = rec.sql.query(f"SHOW EVENT TABLES LIKE {literal(EVENT_TABLE_NAME)} IN SCHEMA {schema}")
    if not exists:
        rec.do("create_event_table", table, f"CREATE EVENT TABLE IF NOT EXISTS {table}")
    return table


def _gen2(rec: Recorder[Sql], request: ProvisionRequest, table: str) -> dict[str, Any]:
    name = qualified(request.openflow.deployment_name)
    vpc = request.openflow.vpc_type.value
    rows = rec.sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(name)}")
    if not rows:
        comment = comment_with_event_table(MANAGED_COMMENT, table)
        rec.do(
            "create_deployment",
            name,
            f"CREATE OPENFLOW DEPLOYMENT IF NOT EXISTS {name} DEPLOYMENT_TYPE = BYOC "
            f"VPC_TYPE = {literal(vpc)} EVENT_TABLE = {literal(table)} COMMENT = {literal(comment)}",
        )
        if not rec.apply:
            return {"name": name, "key": None, "status": "INACTIVE", "generation": 2}
        rows = rec.sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(name)}")
    row = rows[0]
    if str(row.get("vpc_type", vpc)).upper() != vpc:
        rec.notes.append(
            f"deployment {name} exists with VPC_TYPE {row.get('vpc_type')}, the request says {vpc}: "
            "the VPC type cannot be changed; the existing deployment is used"
        )
    # SHOW has no event_table column: the COMMENT records what this product set
    recorded = recorded_event_table(row.get("comment"))
    if recorded != table:
        comment = comment_with_event_table(row.get("comment"), table)
        rec.do(
            "set_event_table",
            name,
            f"ALTER OPENFLOW DEPLOYMENT {name} SET EVENT_TABLE = {literal(table)} "
            f"COMMENT = {literal(comment)}",
        )
        if recorded is None:
            origin = (
                "predates the event_table record"
                if MANAGED_COMMENT in str(row.get("comment") or "")
                else "was not created by openflow-autopilot"
            )
            rec.notes.append(
                f"deployment {name} {origin} (its COMMENT records no event table): its event table was "
                f"set to {table} once and recorded there; Snowflake does not show a deployment's event "
                "table, so a later change made elsewhere is not seen"
            )
        else:
            rec.notes.append(f"deployment {name} had event table {recorded} recorded; set to {table}")
    return {
        "name": name,
        "key": row.get("key"),
        "status": str(row.get("status") or "").upper(),
        "generation": 2,
    }


def _gen1(rec: Recorder[Sql], request: ProvisionRequest, table: str) -> dict[str, Any]:
    rows = rec.sql.query("SHOW OPENFLOW DATA PLANE INTEGRATIONS")
    wanted = request.openflow.data_plane_integration
    if wanted:
        rows = [r for r in rows if norm_name(r.get("name")) == wanted]
        if not rows:
            raise PreconditionFailed(
                f"data plane integration {wanted} (request.openflow.data_plane_integration) does not exist",
                call="SHOW OPENFLOW DATA PLANE INTEGRATIONS",
                fix="check the name with SHOW OPENFLOW DATA PLANE INTEGRATIONS",
            )
    if not rows:
        raise PreconditionFailed(
            "no gen 1 deployment (data plane integration) is visible to role "
            f"{request.snowflake.login_role}; "
            "gen 1 deployments can no longer be created",
            call="SHOW OPENFLOW DATA PLANE INTEGRATIONS",
            fix="use openflow.generation: 2 for a new deployment, or a login_role that sees the integration",
        )
    if len(rows) > 1:
        names = ", ".join(str(r.get("name")) for r in rows)
        raise PreconditionFailed(
            f"several data plane integrations exist ({names})",
            fix="name one in request.openflow.data_plane_integration",
        )
    row = rows[0]
    name = norm_name(row.get("name"))
    # SHOW finds it; data_plane_id and event_table are documented on DESC only
    # (docs.snowflake.com/en/sql-reference/sql/desc-oflow-data-plane-integration)
    described = describe_data_plane_integration(rec.sql, name)
    if norm_name(described.get("event_table")) != table:
        rec.do(
            "set_event_table",
            name,
            f"ALTER OPENFLOW DATA PLANE INTEGRATION {qualified(name)} SET EVENT_TABLE = {literal(table)}",
        )
    return {
        "name": name,
        "key": described.get("data_plane_id"),
        "status": "ENABLED" if _enabled(row.get("enabled")) else "DISABLED",
        "generation": 1,
    }


def _enabled(value: Any) -> bool:
    """SHOW's enabled column: a boolean, or its text ('true'/'false') depending on the driver."""
    return value is True or str(value).lower() in ("true", "1", "y", "yes")


def ensure_deployment(sql: Sql, request: ProvisionRequest, *, apply: bool = True) -> PhaseResult:
    started = utcnow()
    rec = Recorder(sql, apply)
    table = _ensure_event_table(rec, request)
    if request.openflow.generation is Generation.GEN2:
        deployment = _gen2(rec, request, table)
    else:
        deployment = _gen1(rec, request, table)
    rec.notes.append(f"deployment {deployment['name']} is {deployment['status'] or 'unknown'}")
    return rec.result("Deployment", started, {"deployment": deployment, "event_table": table})
