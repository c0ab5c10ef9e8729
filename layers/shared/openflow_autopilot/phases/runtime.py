"""The Openflow runtime (seed-digest.md §5).

Gen 2: CREATE OPENFLOW RUNTIME in the deployment, once, with the request's EXECUTE_AS_ROLE (required:
create-openflow-runtime); then the state machine polls `runtime_status` until the runtime is ACTIVE.
Every poll waits (SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES) and then decides from DESCRIBE's status,
never from the wait's error number, which Snowflake does not document; the CREATE is never
re-issued.

Gen 1: runtimes can only be created in the Openflow UI, so the workflow pauses with
`gen1_runtime_instructions` and, once a human confirms, checks `gen1_runtime_exists`.

The PostgreSQL connector does not support multi-node runtimes: MIN_NODES = MAX_NODES = 1; its page
(connectors/postgres/about) asks for at least a MEDIUM node.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.config_runtime import Size
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.names import norm_name, runtime_name
from openflow_autopilot.openflow.statuses import RUNTIME_FAILED, RUNTIME_STABLE, describe_details
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

NODES = 1
WAIT_SECONDS = 20  # one poll's server-side wait; the Lambda returns well within its timeout
SMALL_WARNING = (
    "runtime size SMALL is below what the PostgreSQL connector's page asks for (at least MEDIUM); "
    "kept as requested"
)


def _describe(sql: Sql, name: str) -> dict[str, Any]:
    rows = sql.query(f"DESC OPENFLOW RUNTIME {name}")
    if not rows:
        raise PreconditionFailed(f"Openflow runtime {name} does not exist", fix="run the runtime phase")
    return rows[0]


def _summary(row: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": str(row.get("status") or "").upper(),
        "key": row.get("key"),
        "server_url": row.get("server_url"),
        "execute_as_role": row.get("execute_as_role"),
        "node_type": row.get("node_type"),
    }


def _failed(name: str, row: dict[str, Any], call: str) -> PreconditionFailed:
    status = str(row.get("status") or "").upper()
    return PreconditionFailed(
        f"Openflow runtime {name} is {status}{describe_details(row)}",
        call=call,
        fix=f"ALTER OPENFLOW RUNTIME {name} RESUME RECOVERY (or RESTART RECOVERY / UPGRADE RECOVERY, "
        "alter-openflow-runtime), or TERMINATE it; then start the workflow again",
    )


def ensure_runtime(
    sql: Sql, request: ProvisionRequest, *, deployment: str, apply: bool = True
) -> PhaseResult:
    """Create the runtime if it does not exist; keep an existing one at one node."""
    started = utcnow()
    sf = request.snowflake
    name = runtime_name(request)
    schema = qualified(sf.openflow_database, sf.openflow_schema)
    dep = qualified(deployment)
    size = request.runtime.size.value
    execute_as = qualified(request.runtime.execute_as_role)
    actions: list[Action] = []
    notes: list[str] = []
    if request.runtime.size is Size.SMALL:
        notes.append(SMALL_WARNING)

    def do(kind: str, statement: str) -> None:
        if apply:
            sql.execute(statement)
        actions.append(Action(kind=kind, target=name, statement=statement))

    rows = sql.query(f"SHOW OPENFLOW RUNTIMES LIKE {literal(request.runtime.name)} IN SCHEMA {schema}")
    if not rows:
        deployments = sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(dep)}")
        status = str(deployments[0].get("status") or "").upper() if deployments else "MISSING"
        if status != "ACTIVE":
            # the deployment phase and agent health come first; a retry finds it ACTIVE
            raise NotReadyYet(
                f"Openflow deployment {dep} is {status}; "
                "a runtime can only be created in an ACTIVE deployment",
                call=f"SHOW OPENFLOW DEPLOYMENTS LIKE '{dep}'",
            )
        do(
            "create_runtime",
            f"CREATE OPENFLOW RUNTIME IF NOT EXISTS {name} IN DEPLOYMENT {dep} NODE_TYPE = {size} "
            f"MIN_NODES = {NODES} MAX_NODES = {NODES} EXECUTE_AS_ROLE = {execute_as} "
            "COMMENT = 'managed by openflow-autopilot'",
        )
        summary = {
            "name": name,
            "status": "CREATING" if apply else "MISSING",
            "deployment": dep,
            "execute_as_role": execute_as,
        }
    else:
        row = rows[0]
        summary = _summary(row, name) | {"deployment": row.get("deployment")}
        if norm_name(row.get("deployment")) != dep:
            raise PreconditionFailed(
                f"Openflow runtime {name} exists in deployment {row.get('deployment')}, not {dep}",
                fix="choose another runtime.name, or terminate the other runtime",
            )
        if str(row.get("node_type") or "").upper() != size:
            notes.append(
                f"runtime {name} has NODE_TYPE {row.get('node_type')} (the request says {size}); "
                "a runtime's node type cannot be changed, so it is kept"
            )
        if norm_name(row.get("execute_as_role")) != norm_name(execute_as):
            notes.append(
                f"runtime {name} runs as {row.get('execute_as_role')}, the request says {execute_as}: "
                "kept; the connector's secrets are granted to the role the runtime uses"
            )
        if (int(row.get("min_nodes") or 0), int(row.get("max_nodes") or 0)) != (NODES, NODES):
            do("alter_runtime", f"ALTER OPENFLOW RUNTIME {name} SET MIN_NODES = {NODES} MAX_NODES = {NODES}")
            notes.append("the PostgreSQL connector needs a single-node runtime: MIN_NODES = MAX_NODES = 1")
        if summary["status"] in RUNTIME_FAILED:
            raise _failed(name, _describe(sql, name), f"SHOW OPENFLOW RUNTIMES LIKE '{request.runtime.name}'")
    status = "planned" if not apply else ("changed" if actions else "unchanged")
    return PhaseResult(
        phase="Runtime",
        status=status,
        actions=actions,
        notes=notes,
        outputs={"runtime": summary},
        started_at=started,
        ended_at=utcnow(),
    )


def wait_for_runtime(sql: Sql, name: str, *, wait_seconds: int) -> dict[str, Any]:
    """SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES, then DESCRIBE. Whatever the wait raised (a timeout,
    or the runtime entering a failed state), the status read after it decides."""
    with contextlib.suppress(PreconditionFailed):
        sql.query(f"SELECT SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES({int(wait_seconds)}, {literal(name)})")
    return _describe(sql, name)


def runtime_status(
    sql: Sql, request: ProvisionRequest, *, wait_seconds: int = WAIT_SECONDS
) -> dict[str, Any]:
    """One poll: {name, status, done}. done is True once the runtime is ACTIVE; a failed status raises."""
    name = runtime_name(request)
    row = wait_for_runtime(sql, name, wait_seconds=wait_seconds)
    status = str(row.get("status") or "").upper()
    if status in RUNTIME_FAILED:
        raise _failed(name, row, "SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES")
    if status in RUNTIME_STABLE and status != "ACTIVE":
        raise PreconditionFailed(
            f"Openflow runtime {name} is {status}{describe_details(row)}",
            fix=f"ALTER OPENFLOW RUNTIME {name} RESUME" if status == "SUSPENDED" else "re-create the runtime",
        )
    return _summary(row, name) | {"done": status == "ACTIVE"}


# -- gen 1 ------------------------------------------------------------------------------------------
def gen1_runtime_instructions(request: ProvisionRequest, *, resume_hint: str | None = None) -> str:
    """What a human does in the Openflow UI to create the runtime (gen 1 has no SQL for it)."""
    rt = request.runtime
    deployment = request.openflow.data_plane_integration or request.openflow.deployment_name
    resume = (
        resume_hint or "openflow-autopilot resume --token-file <the task token file named in this message>"
    )
    return "\n".join(
        [
            f"Create the Openflow runtime for '{request.name}' "
            "(gen 1 runtimes can only be created in the UI):",
            f"  1. Sign in to Snowsight as {request.snowflake.admin_user} "
            "(default role PUBLIC, secondary roles ALL).",
            "  2. Open Ingestion > Openflow and click 'Launch Openflow'.",
            "  3. Open the 'Runtimes' tab and click '+ Create a runtime'.",
            f"  4. Deployment: {deployment}",
            f"     Runtime name: {rt.name}",
            f"     Node type: {rt.size.value.capitalize()}",
            "     Min nodes: 1   Max nodes: 1   (the PostgreSQL connector needs a single node)",
            "  5. Click 'Create' and wait until the runtime shows 'Active' (about 2-3 minutes).",
            f"  6. Then tell the workflow to continue: {resume}",
            "The workflow then checks that the runtime exists (SHOW OPENFLOW RUNTIME INTEGRATIONS).",
        ]
    )


def gen1_runtime_exists(sql: Sql, request: ProvisionRequest) -> bool:
    """Whether a runtime integration for the request's runtime is visible.

    UNCERTAIN how gen 1 names runtime integrations: we accept the runtime's name as the integration
    name, a part of it, or its comment."""
    wanted = request.runtime.name.upper()
    for row in sql.query("SHOW OPENFLOW RUNTIME INTEGRATIONS"):
        name = norm_name(row.get("name"))
        comment = str(row.get("comment") or "").upper()
        if name == wanted or name.endswith(f"_{wanted}") or re.search(rf"\b{re.escape(wanted)}\b", comment):
            return True
    return False
