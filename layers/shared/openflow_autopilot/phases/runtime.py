"""The Openflow runtime (seed-digest.md §5).

Gen 2: CREATE OPENFLOW RUNTIME in the deployment, once; then the state machine polls
`runtime_status` until the runtime is ACTIVE. A poll that times out is answered "not done" and the
state machine waits and polls again: the CREATE is never re-issued.

Gen 1: runtimes can only be created in the Openflow UI, so the workflow pauses with
`gen1_runtime_instructions` and, once a human confirms, checks `gen1_runtime_exists`.

The PostgreSQL connector does not support multi-node runtimes: MIN_NODES = MAX_NODES = 1.
"""

from __future__ import annotations

import re
from typing import Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import AutopilotError, NotReadyYet, PreconditionFailed
from openflow_autopilot.phases.models import Action, PhaseResult, utcnow
from openflow_autopilot.phases.prerequisites import _norm
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

NODES = 1
WAIT_SECONDS = 20  # one poll's server-side wait; the Lambda returns well within its timeout
FAILED = frozenset({"FAILED", "ERROR"})
STABLE_NOT_ACTIVE = frozenset({"SUSPENDED", "TERMINATED"})


def runtime_name(request: ProvisionRequest) -> str:
    """The runtime's qualified name: it lives in the Openflow schema."""
    sf = request.snowflake
    return qualified(sf.openflow_database, sf.openflow_schema, request.runtime.name)


def is_wait_timeout(exc: BaseException) -> bool:
    """SYSTEM$WAIT_FOR_* ran out of time (errno 630): wait again, never re-issue the command.

    The session maps statement errors to our classes and keeps Snowflake's errno in the message."""
    return isinstance(exc, AutopilotError) and exc.message.startswith("Snowflake error 630:")


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


def ensure_runtime(
    sql: Sql,
    request: ProvisionRequest,
    *,
    deployment: str,
    apply: bool = True,
    execute_as_role: str | None = None,
) -> PhaseResult:
    """Create the runtime if it does not exist; keep an existing one at one node."""
    started = utcnow()
    sf = request.snowflake
    name = runtime_name(request)
    schema = qualified(sf.openflow_database, sf.openflow_schema)
    dep = qualified(deployment)
    size = request.runtime.size.value
    actions: list[Action] = []
    notes: list[str] = []

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
        role = f" EXECUTE_AS_ROLE = {qualified(execute_as_role)}" if execute_as_role else ""
        do(
            "create_runtime",
            f"CREATE OPENFLOW RUNTIME IF NOT EXISTS {name} IN DEPLOYMENT {dep} NODE_TYPE = {size} "
            f"MIN_NODES = {NODES} MAX_NODES = {NODES}{role} COMMENT = 'managed by openflow-autopilot'",
        )
        summary = {"name": name, "status": "CREATING" if apply else "MISSING", "deployment": dep}
    else:
        row = rows[0]
        summary = _summary(row, name) | {"deployment": row.get("deployment")}
        if _norm(row.get("deployment")) != dep:
            raise PreconditionFailed(
                f"Openflow runtime {name} exists in deployment {row.get('deployment')}, not {dep}",
                fix="choose another runtime.name, or terminate the other runtime",
            )
        if str(row.get("node_type") or "").upper() != size:
            notes.append(
                f"runtime {name} has NODE_TYPE {row.get('node_type')} (the request says {size}); "
                "a runtime's node type cannot be changed, so it is kept"
            )
        if (int(row.get("min_nodes") or 0), int(row.get("max_nodes") or 0)) != (NODES, NODES):
            do("alter_runtime", f"ALTER OPENFLOW RUNTIME {name} SET MIN_NODES = {NODES} MAX_NODES = {NODES}")
            notes.append("the PostgreSQL connector needs a single-node runtime: MIN_NODES = MAX_NODES = 1")
        if summary["status"] in FAILED:
            raise PreconditionFailed(
                f"Openflow runtime {name} is {summary['status']}",
                fix=f"ALTER OPENFLOW RUNTIME {name} RESUME RECOVERY, or TERMINATE it and re-run",
            )
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


def runtime_status(
    sql: Sql, request: ProvisionRequest, *, wait_seconds: int = WAIT_SECONDS
) -> dict[str, Any]:
    """One poll: {name, status, done}. done is True once the runtime is ACTIVE; FAILED raises."""
    name = runtime_name(request)
    failure: AutopilotError | None = None
    stable = False
    try:
        sql.query(f"SELECT SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES({int(wait_seconds)}, {literal(name)})")
        stable = True
    except PreconditionFailed as exc:
        if not is_wait_timeout(exc):
            failure = exc  # e.g. the runtime entered FAILED: DESC says which
    row = _describe(sql, name)
    status = str(row.get("status") or "").upper()
    if status in FAILED:
        raise PreconditionFailed(
            f"Openflow runtime {name} is {status}",
            call="SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES",
            fix=f"look at the runtime in the Openflow UI; ALTER OPENFLOW RUNTIME {name} RESUME RECOVERY "
            "or TERMINATE it, then re-run",
        )
    if failure is not None:
        raise failure
    if stable and status in STABLE_NOT_ACTIVE:
        raise PreconditionFailed(
            f"Openflow runtime {name} is {status}",
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
        name = _norm(row.get("name"))
        comment = str(row.get("comment") or "").upper()
        if name == wanted or name.endswith(f"_{wanted}") or re.search(rf"\b{re.escape(wanted)}\b", comment):
            return True
    return False
