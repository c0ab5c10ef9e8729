"""Openflow's side of stop/start, as idempotent steps over SQL (gen 2):
`ALTER OPENFLOW CONNECTOR ... STOP|START`, `ALTER OPENFLOW RUNTIME ... SUSPEND|RESUME`, and
`ALTER WAREHOUSE ... SUSPEND`. Each step reads the status first: a runtime already suspended (or
suspending) is left alone, with a note; a transitional status that the command cannot act on yet
raises NotReadyYet, so the state machine retries. Waiting is one poll per call (`*_reached`),
using SYSTEM$WAIT_FOR_* and, when it times out, waiting again — never re-issuing the command.

Gen 1 has no SQL for runtimes or connectors: the deployment's key comes from its data plane
integration (DESC's data_plane_id), and the node groups are scaled instead (see nodegroups.py, nifi.py).
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from pydantic import BaseModel

from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import BudgetExhausted, NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.deployments import describe_data_plane_integration
from openflow_autopilot.openflow.names import connector_name, norm_name, runtime_name
from openflow_autopilot.openflow.statuses import CONNECTOR_FAILED, RUNTIME_FAILED
from openflow_autopilot.snowflake.identifiers import literal, qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql

WAIT_SECONDS = 5  # one poll's server-side wait
FAILED = RUNTIME_FAILED | CONNECTOR_FAILED  # <ACTION>_FAILED (desc-openflow-runtime/-connector)
GONE = frozenset({"TERMINATING", "TERMINATED"})
NOT_RUNNING = frozenset({"SUSPENDED", "SUSPENDING", *GONE})


class Poll(BaseModel):
    """One wait loop's state, carried by the state machine between polls."""

    attempt: int = 0
    done: bool = False
    status: str | None = None


def _status(row: dict[str, Any]) -> str:
    return str(row.get("status") or "").upper()


def _result(
    phase: str, started: str, actions: list[Action], notes: list[str], outputs: dict[str, Any]
) -> PhaseResult:
    return PhaseResult(
        phase=phase,
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=notes,
        outputs=outputs,
        started_at=started,
        ended_at=utcnow(),
    )


# --- where things are ---------------------------------------------------------------------------
def locate(sql: Sql, request: ProvisionRequest) -> dict[str, Any]:
    """The deployment's key (it names the node groups), the runtime's node type, and the other
    runtimes still running on the same node type (their node group must not be scaled to zero)."""
    size = request.runtime.size.value
    if request.openflow.generation is Generation.GEN1:
        rows = sql.query("SHOW OPENFLOW DATA PLANE INTEGRATIONS")
        wanted = request.openflow.data_plane_integration
        if wanted:
            rows = [r for r in rows if norm_name(r.get("name")) == wanted]
        if len(rows) != 1:
            raise PreconditionFailed(
                f"cannot tell which gen 1 data plane integration is the deployment ({len(rows)} found)",
                call="SHOW OPENFLOW DATA PLANE INTEGRATIONS",
                fix="name it in request.openflow.data_plane_integration",
            )
        name = norm_name(rows[0].get("name"))
        # SHOW finds it; data_plane_id is documented on DESC only (desc-oflow-data-plane-integration)
        key = str(describe_data_plane_integration(sql, name).get("data_plane_id") or "")
        return {
            "deployment": name,
            "key": key,
            "generation": 1,
            "node_type": size,
            "shared_with": [],
        }
    deployment = qualified(request.openflow.deployment_name)
    rows = sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(deployment)}")
    if not rows:
        raise PreconditionFailed(
            f"Openflow deployment {deployment} does not exist", fix="run the provisioning workflow"
        )
    key = str(rows[0].get("key") or "")
    name = runtime_name(request)
    db, schema, short = split_qualified(name, 3, "runtime")
    mine = (db, schema, short)
    runtimes = {
        (norm_name(r.get("database_name")), norm_name(r.get("schema_name")), norm_name(r.get("name"))): r
        for r in sql.query("SHOW OPENFLOW RUNTIMES IN ACCOUNT")
        if norm_name(r.get("deployment")) == deployment
    }
    node_type = str((runtimes.get(mine) or {}).get("node_type") or size).upper()
    shared = [
        ".".join(other)
        for other, row in sorted(runtimes.items())
        if other != mine
        and str(row.get("node_type") or "").upper() == node_type
        and _status(row) not in NOT_RUNNING
    ]
    return {
        "deployment": deployment,
        "key": key,
        "status": _status(rows[0]),
        "generation": 2,
        "runtime": name,
        "node_type": node_type,
        "shared_with": shared,
    }


# --- runtime ----------------------------------------------------------------------------------------
def _runtime_row(sql: Sql, name: str) -> dict[str, Any]:
    rows = sql.query(f"DESC OPENFLOW RUNTIME {name}")
    if not rows:
        raise PreconditionFailed(
            f"Openflow runtime {name} does not exist", fix="run the provisioning workflow"
        )
    return rows[0]


def suspend_runtime(sql: Sql, request: ProvisionRequest) -> PhaseResult:
    started, name = utcnow(), runtime_name(request)
    actions: list[Action] = []
    notes: list[str] = []
    status = _status(_runtime_row(sql, name))
    if status == "ACTIVE":
        statement = f"ALTER OPENFLOW RUNTIME {name} SUSPEND"
        sql.execute(statement)
        actions.append(Action(kind="suspend_runtime", target=name, statement=statement))
    elif status in ("SUSPENDED", "SUSPENDING"):
        notes.append(f"runtime {name} is already {status}: nothing to do")
    elif status in FAILED:
        raise PreconditionFailed(
            f"Openflow runtime {name} is {status}",
            fix=f"ALTER OPENFLOW RUNTIME {name} RESUME RECOVERY or look at it in the Openflow UI, "
            "then stop again",
        )
    elif status in GONE:
        notes.append(f"runtime {name} is {status}: nothing to suspend")
    else:  # CREATING, ACTIVATING...: SUSPEND is refused until it settles
        raise NotReadyYet(f"Openflow runtime {name} is {status}; it can be suspended once it settles")
    return _result("SuspendRuntime", started, actions, notes, {"runtime": name, "status_before": status})


def resume_runtime(sql: Sql, request: ProvisionRequest) -> PhaseResult:
    started, name = utcnow(), runtime_name(request)
    actions: list[Action] = []
    notes: list[str] = []
    deployment = qualified(request.openflow.deployment_name)
    status = _status(_runtime_row(sql, name))
    if status == "SUSPENDED":
        rows = sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(deployment)}")
        dep_status = _status(rows[0]) if rows else "MISSING"
        if dep_status != "ACTIVE":
            # e.g. the agent instance was just started and has not reported yet
            raise NotReadyYet(
                f"Openflow deployment {deployment} is {dep_status}; the runtime resumes once it is ACTIVE"
            )
        statement = f"ALTER OPENFLOW RUNTIME {name} RESUME"
        sql.execute(statement)
        actions.append(Action(kind="resume_runtime", target=name, statement=statement))
    elif status in ("ACTIVE", "ACTIVATING"):
        notes.append(f"runtime {name} is already {status}: nothing to do")
    elif status == "ACTIVATE_FAILED":
        # the documented recovery of a failed activation (alter-openflow-runtime: RESUME RECOVERY);
        # one per start: if it fails again, the active check's budget ends the start with an alert
        statement = f"ALTER OPENFLOW RUNTIME {name} RESUME RECOVERY"
        sql.execute(statement)
        actions.append(Action(kind="resume_runtime_recovery", target=name, statement=statement))
        notes.append(f"runtime {name} was {status}: resumed with RESUME RECOVERY")
    elif status in FAILED:
        raise PreconditionFailed(
            f"Openflow runtime {name} is {status}",
            fix=f"ALTER OPENFLOW RUNTIME {name} RESUME RECOVERY, then start again",
        )
    elif status in GONE:
        raise PreconditionFailed(
            f"Openflow runtime {name} is {status}", fix="re-run the provisioning workflow"
        )
    else:  # SUSPENDING, CREATING...
        raise NotReadyYet(f"Openflow runtime {name} is {status}; it can be resumed once it settles")
    return _result("ResumeRuntime", started, actions, notes, {"runtime": name, "status_before": status})


def _wait(sql: Sql, function: str, want: str, name: str) -> None:
    """One server-side wait. Its error (a timeout, or a failed state) is not classified by number,
    which Snowflake does not document: the caller reads the status next and decides from it."""
    with contextlib.suppress(PreconditionFailed):
        sql.query(f"SELECT {function}({WAIT_SECONDS}, {literal(want)}, {literal(name)})")


def _reached(kind: str, name: str, status: str, want: str, state: Poll, max_checks: int) -> Poll:
    attempt = state.attempt + 1
    if status in FAILED:
        raise PreconditionFailed(
            f"Openflow {kind} {name} is {status} (waiting for {want})",
            fix=f"look at the {kind} in the Openflow UI; fix it, then run the power workflow again",
        )
    done = status == want
    if not done and attempt >= max_checks:
        raise BudgetExhausted(
            f"Openflow {kind} {name} is still {status} after {attempt} checks (waiting for {want})",
            fix="look at it in the Openflow UI, then run the power workflow again",
        )
    return Poll(attempt=attempt, done=done, status=status)


def runtime_reached(
    sql: Sql, request: ProvisionRequest, *, want: Literal["SUSPENDED", "ACTIVE"], state: Poll, max_checks: int
) -> Poll:
    name = runtime_name(request)
    _wait(sql, "SYSTEM$WAIT_FOR_OPENFLOW_RUNTIME_STATUS", want, name)
    status = _status(_runtime_row(sql, name))
    return _reached("runtime", name, status, want, state, max_checks)


# --- connector ----------------------------------------------------------------------------------------
def _connector_row(sql: Sql, name: str) -> dict[str, Any] | None:
    db, schema, short = split_qualified(name, 3, "connector")
    rows = sql.query(f"SHOW OPENFLOW CONNECTORS LIKE {literal(short)} IN SCHEMA {qualified(db, schema)}")
    if not rows:
        return None
    return sql.query(f"DESC OPENFLOW CONNECTOR {name}")[0]


def stop_connector(sql: Sql, request: ProvisionRequest) -> PhaseResult:
    started, name = utcnow(), connector_name(request)
    actions: list[Action] = []
    notes: list[str] = []
    row = _connector_row(sql, name)
    status = _status(row) if row else "MISSING"
    if status in ("RUNNING", "STARTING"):
        statement = f"ALTER OPENFLOW CONNECTOR {name} STOP"
        sql.execute(statement)
        actions.append(Action(kind="stop_connector", target=name, statement=statement))
    elif status in ("STOPPED", "STOPPING"):
        notes.append(f"connector {name} is already {status}: nothing to do")
    elif status == "MISSING":
        notes.append(f"connector {name} does not exist: nothing to stop")
    else:
        notes.append(f"connector {name} is {status}: not stopped; the runtime is suspended anyway")
    return _result("StopConnector", started, actions, notes, {"connector": name, "status_before": status})


def start_connector(sql: Sql, request: ProvisionRequest) -> PhaseResult:
    started, name = utcnow(), connector_name(request)
    actions: list[Action] = []
    notes: list[str] = []
    row = _connector_row(sql, name)
    if row is None:
        raise PreconditionFailed(
            f"Openflow connector {name} does not exist", fix="run the provisioning workflow"
        )
    status = _status(row)
    if status == "STOPPED":
        statement = f"ALTER OPENFLOW CONNECTOR {name} START"
        sql.execute(statement)
        actions.append(Action(kind="start_connector", target=name, statement=statement))
    elif status in ("RUNNING", "STARTING"):
        notes.append(f"connector {name} is already {status}: nothing to do")
    elif status == "STOPPING":
        raise NotReadyYet(f"Openflow connector {name} is STOPPING; it can be started once it has stopped")
    else:
        raise PreconditionFailed(
            f"Openflow connector {name} is {status}", fix="look at it in the Openflow UI, then start again"
        )
    return _result("StartConnector", started, actions, notes, {"connector": name, "status_before": status})


def connector_reached(
    sql: Sql, request: ProvisionRequest, *, want: Literal["STOPPED", "RUNNING"], state: Poll, max_checks: int
) -> Poll:
    name = connector_name(request)
    if _connector_row(sql, name) is None:
        if want == "STOPPED":
            return Poll(attempt=state.attempt + 1, done=True, status="MISSING")
        raise PreconditionFailed(
            f"Openflow connector {name} does not exist", fix="run the provisioning workflow"
        )
    _wait(sql, "SYSTEM$WAIT_FOR_OPENFLOW_CONNECTOR_STATUS", want, name)
    row = sql.query(f"DESC OPENFLOW CONNECTOR {name}")[0]
    status = _status(row)
    if want == "STOPPED" and status not in ("RUNNING", "STARTING", "STOPPING"):
        # STOPPED, or FAILED/TERMINATED: either way it reads nothing from the slot any more
        return Poll(attempt=state.attempt + 1, done=True, status=status)
    return _reached("connector", name, status, want, state, max_checks)


# --- warehouse ----------------------------------------------------------------------------------------
def suspend_warehouse(sql: Sql, request: ProvisionRequest) -> PhaseResult:
    started = utcnow()
    name = qualified(request.destination.warehouse)
    actions: list[Action] = []
    notes: list[str] = []
    rows = sql.query(f"SHOW WAREHOUSES LIKE {literal(name)}")
    state = str(rows[0].get("state") or "").upper() if rows else "MISSING"
    if state in ("STARTED", "RESUMING"):
        statement = f"ALTER WAREHOUSE {name} SUSPEND"
        try:
            sql.execute(statement)
            actions.append(Action(kind="suspend_warehouse", target=name, statement=statement))
        except PreconditionFailed as exc:
            if "cannot be suspended" not in exc.message:
                raise
            notes.append(f"warehouse {name} was suspended meanwhile: nothing to do")
    elif state == "MISSING":
        notes.append(f"warehouse {name} does not exist: nothing to suspend")
    else:
        notes.append(f"warehouse {name} is already {state}: nothing to do")
    return _result("SuspendWarehouse", started, actions, notes, {"warehouse": name, "state_before": state})
