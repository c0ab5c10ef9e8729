"""Glue between the power state machine's events and the power steps: parse, open clients and
sessions, run one step, return a small JSON-able result. Handlers call exactly one function here.

The state machine's payload: `request` (read from S3 by Load), `power` (deployment, action, reason,
now, until), `decision`, `target` (where the compute is), `wal`, `phases` (each step's result),
`polls` (the wait loops' state) and `settings` (budgets). `at` in an event is the real time the
state was entered (`$$.State.EnteredTime`): WAL rates and records use it, while decisions use the
scheduled `now`. event.py reads the payload; the WalGuard, Record and Schedules states have their own
modules (wal_step.py, record_step.py, schedules_step.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.errors import BudgetExhausted, InvalidRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.phases import source as source_phase
from openflow_autopilot.phases.verify import insert_canary
from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.power import agent as agent_power
from openflow_autopilot.power import openflow as openflow_power
from openflow_autopilot.power.decide import decide
from openflow_autopilot.power.event import (
    artifact_bucket,
    poll,
    power_of,
    request_of,
    role_arn,
    setting,
    target_arn,
)
from openflow_autopilot.power.memory import load_memory, update_memory
from openflow_autopilot.power.nifi import nifi_secret_name, read_nifi_access, set_flow_state
from openflow_autopilot.power.nodegroups import (
    ComputeCheck,
    check_compute,
    find_data_plane_groups,
    find_groups,
    restore,
)
from openflow_autopilot.power.request_store import load_request
from openflow_autopilot.power.restart import cancel_restart
from openflow_autopilot.power.scheduler_api import (
    active_override,
    apply_override,
    remove_override,
)
from openflow_autopilot.power.slot import SlotCheck, check_slot, read_position
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.watch.heartbeat import look_for
from openflow_autopilot.watch.models import Heartbeat

CANARY_NOTE = "openflow-autopilot power start"


def _snowflake(
    request: ProvisionRequest, role: str, env: FunctionEnv, secrets: Any, connector: Connector
) -> Any:
    return request_session(request, role, env=env, secrets=secrets, connector=connector)


def _owner_role(request: ProvisionRequest) -> str:
    """Gen 2 runtimes belong to the Openflow admin role; gen 1 objects are seen by the login role."""
    gen1 = request.openflow.generation is Generation.GEN1
    return request.snowflake.login_role if gen1 else request.snowflake.admin_role


def _gen1(request: ProvisionRequest) -> bool:
    return request.openflow.generation is Generation.GEN1


def _noop(phase: str, note: str) -> PhaseResult:
    now = utcnow()
    return PhaseResult(phase=phase, status="unchanged", notes=[note], started_at=now, ended_at=now)


# --- Load and Decide ----------------------------------------------------------------------------------
def load(event: dict[str, Any], *, env: FunctionEnv, s3: Any = None) -> dict[str, Any]:
    """The execution's input checked, and the stored request loaded: the payload the states share."""
    raw = dict(event.get("input") or {})
    deployment = str(raw.get("deployment") or "")
    if not deployment:
        raise InvalidRequest(
            "deployment: missing", fix='start the power workflow with {"deployment": "<NAME>", ...}'
        )
    action = str(raw.get("action") or "")
    if action not in ("stop", "start", "extend"):
        raise InvalidRequest(f"action: {action!r} is not one of stop, start, extend")
    now = parse_instant(raw.get("now") or event.get("started_at"), "now")
    request = load_request(s3 or client("s3"), artifact_bucket(env), deployment)
    schedule = request.schedule
    return {
        "request": request.model_dump(mode="json"),
        "power": {
            "deployment": request.openflow.deployment_name,
            "action": action,
            "reason": str(raw.get("reason") or "manual"),
            "now": now.isoformat(),
            "until": raw.get("until"),
            "execution": event.get("execution"),
            # the state machine's Choice states branch on these, so they are always present
            "stop_agent": bool(schedule and schedule.agent_sleeps),
            "deep": bool(schedule and schedule.deep),
            "suspend_warehouse": bool(schedule and schedule.suspend_warehouse),
        },
        "settings": event.get("settings") or {},
        "phases": {},
        "polls": {},
        "target": None,
        "wal": None,
        "wake": None,  # deep sleep's wake: the agent health loop's state
    }


def decide_step(
    event: dict[str, Any], *, env: FunctionEnv, s3: Any = None, scheduler: Any = None
) -> dict[str, Any]:
    """Stop, start or skip, from the schedule, the override and the manual hold. An `extend` puts
    its override in place here; a manual stop cancels an override; any start cancels a pending
    early start."""
    request, power = request_of(event), power_of(event)
    deployment = str(power["deployment"])
    now = parse_instant(power["now"], "now")
    s3 = s3 or client("s3")
    scheduler = scheduler or client("scheduler")
    group = env.schedule_group
    memory = load_memory(s3, artifact_bucket(env), deployment)
    override = (
        active_override(scheduler, deployment=deployment, group=group, now=now) if request.schedule else None
    )
    decision = decide(
        request.schedule,
        action=str(power["action"]),
        reason=str(power.get("reason") or "manual"),
        now=now,
        override=override,
        hold=memory.hold,
        until=power.get("until"),
    )
    notes: list[str] = []
    if decision.override is not None:
        name = apply_override(
            scheduler,
            deployment=deployment,
            override=decision.override,
            target_arn=target_arn(event, env),
            role_arn=role_arn(env),
            group=group,
        )
        notes.append(f"override schedule {name} stops it at {decision.override.keep_on_until.isoformat()}")
    if decision.cancel_override and remove_override(scheduler, deployment=deployment, group=group):
        notes.append("the override was cancelled by the manual stop")
    if decision.run == "start" and cancel_restart(scheduler, deployment=deployment, group=group):
        notes.append("the pending early start (WAL guard) was removed: this start replaces it")
    return {**decision.model_dump(mode="json"), "notes": notes}


# --- Openflow (SQL) ------------------------------------------------------------------------------------
def connector_step(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> Any:
    """op: stop | start | stopped (one poll) | running (one poll)."""
    request, op = request_of(event), str(event["op"])
    region = request.aws.region
    if _gen1(request):
        if op in ("stopped", "running"):
            return openflow_power.Poll(attempt=1, done=True, status="gen 1 (not observable)")
        secrets = secrets or client("secretsmanager", region)
        access = read_nifi_access(secrets, nifi_secret_name(env.secrets_prefix, request.name))
        actions, notes = set_flow_state(access, "STOPPED" if op == "stop" else "RUNNING")
        now = utcnow()
        return PhaseResult(
            phase="StopConnector" if op == "stop" else "StartConnector",
            status="changed" if actions else "unchanged",
            actions=actions,
            notes=notes,
            started_at=now,
            ended_at=utcnow(),
        )
    with _snowflake(request, request.snowflake.login_role, env, secrets, connector) as sql:
        if op == "stop":
            return openflow_power.stop_connector(sql, request)
        if op == "start":
            return openflow_power.start_connector(sql, request)
        want: Literal["STOPPED", "RUNNING"] = "STOPPED" if op == "stopped" else "RUNNING"
        return openflow_power.connector_reached(
            sql,
            request,
            want=want,
            state=openflow_power.Poll.model_validate(poll(event, f"connector_{op}")),
            max_checks=setting(event, "max_checks", 60),
        )


def runtime_step(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> Any:
    """op: locate (the deployment's key, the runtime's node type, runtimes sharing its nodes) |
    suspend | resume | suspended (one poll) | active (one poll)."""
    request, op = request_of(event), str(event["op"])
    if op == "locate":
        with _snowflake(request, _owner_role(request), env, secrets, connector) as sql:
            return openflow_power.locate(sql, request)
    if op == "canary":
        return _canary_check(event, request, env=env, secrets=secrets, connector=connector)
    if _gen1(request):
        if op in ("suspended", "active"):
            return openflow_power.Poll(attempt=1, done=True, status="gen 1 (not observable)")
        return _noop(
            "SuspendRuntime" if op == "suspend" else "ResumeRuntime",
            "gen 1 runtimes have no SQL suspend/resume: their node groups are scaled instead",
        )
    with _snowflake(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        if op == "suspend":
            return openflow_power.suspend_runtime(sql, request)
        if op == "resume":
            return openflow_power.resume_runtime(sql, request)
        want: Literal["SUSPENDED", "ACTIVE"] = "SUSPENDED" if op == "suspended" else "ACTIVE"
        return openflow_power.runtime_reached(
            sql,
            request,
            want=want,
            state=openflow_power.Poll.model_validate(poll(event, f"runtime_{op}")),
            max_checks=setting(event, "max_checks", 60),
        )


def _canary_check(
    event: dict[str, Any], request: ProvisionRequest, *, env: FunctionEnv, secrets: Any, connector: Connector
) -> dict[str, Any]:
    """One look for the start's canary row in the destination (read as the login role, like the
    watch's heartbeat); `canary_seconds` is its latency once seen."""
    canary = Heartbeat.model_validate(event["canary"])
    state = poll(event, "canary")
    attempt = int(state.get("attempt") or 0) + 1
    at = parse_instant(event.get("at") or utcnow(), "at")
    with _snowflake(request, request.snowflake.login_role, env, secrets, connector) as sql:
        seen = look_for(sql, request.destination.database, canary, now=at)
    if seen.seen_at is None and attempt >= setting(event, "max_checks", 60):
        raise BudgetExhausted(
            f"the canary row {canary.id} written at the source at {canary.written_at.isoformat()} did not "
            f"arrive in {request.destination.database} within {attempt} checks",
            fix="look at the connector's bulletins in the Openflow UI and at the replication slot "
            "(openflow-autopilot source doctor); the runtime and the connector are running",
        )
    return {"attempt": attempt, "done": seen.seen_at is not None, "canary_seconds": seen.latency_seconds}


def warehouse_step(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> PhaseResult:
    request = request_of(event)
    with _snowflake(request, request.snowflake.login_role, env, secrets, connector) as sql:
        return openflow_power.suspend_warehouse(sql, request)


# --- AWS compute ------------------------------------------------------------------------------------------
def compute_step(event: dict[str, Any], *, eks: Any = None, autoscaling: Any = None) -> Any:
    """op: check (one poll of the stop's compute check) | restore (the start's remembered sizes) |
    sleep (one poll: every node group of the deployment to zero, for deep sleep). With `deep`,
    restore puts back every node group of the deployment, the management one included."""
    request, op = request_of(event), str(event["op"])
    deep = bool(event.get("deep"))
    target = dict(event.get("target") or {})
    key = str(target.get("key") or "")
    if not key:
        return _noop("RestoreCompute", "the deployment has no key yet: no node groups to look at")
    size = str(target.get("node_type") or request.runtime.size.value)
    eks = eks or client("eks", request.aws.region)
    autoscaling = autoscaling or client("autoscaling", request.aws.region)
    if op == "restore":
        started = utcnow()
        if deep:
            groups = find_data_plane_groups(eks, autoscaling, key=key)
        else:
            groups = find_groups(eks, autoscaling, key=key, size=size)
        actions, notes = [], []
        for group in groups:
            done, said = restore(eks, autoscaling, group)
            actions += done
            notes += said
        if not groups:
            notes.append(f"no node group found for deployment key {key}: nothing to restore")
        return PhaseResult(
            phase="RestoreCompute",
            status="changed" if actions else "unchanged",
            actions=actions,
            notes=notes,
            outputs={"groups": [g.describe() for g in groups]},
            started_at=started,
            ended_at=utcnow(),
        )
    if op == "sleep":
        # the agent is stopped by now, so nothing scales the groups back: scale at once
        return check_compute(
            eks,
            autoscaling,
            key=key,
            size=None,
            state=ComputeCheck.model_validate(poll(event, "data_plane")),
            grace_checks=0,
            max_checks=setting(event, "max_checks", 60),
            may_force=True,
            data_plane=True,
        )
    shared = list(target.get("shared_with") or [])
    return check_compute(
        eks,
        autoscaling,
        key=key,
        size=size,
        state=ComputeCheck.model_validate(poll(event, "compute")),
        grace_checks=0 if _gen1(request) else setting(event, "compute_grace_checks", 10),
        max_checks=setting(event, "max_checks", 60),
        may_force=not shared,
        shared_with=shared,
    )


def agent_step(event: dict[str, Any], *, ec2: Any = None, ssm: Any = None) -> Any:
    """op: stop | start | running, stopped (one poll) | stop_timers | timers_stopped (deep sleep)."""
    request, op = request_of(event), str(event["op"])
    key = str((event.get("target") or {}).get("key") or "")
    ec2 = ec2 or client("ec2", request.aws.region)
    if op in ("stop_timers", "timers_stopped"):
        ssm = ssm or client("ssm", request.aws.region)
        if op == "stop_timers":
            return agent_power.stop_timers(ec2, ssm, key)
        sent = dict(((event.get("phases") or {}).get("StopAgentTimers") or {}).get("outputs") or {})
        return agent_power.timers_stopped(ssm, sent)
    if op in ("running", "stopped"):
        want: Literal["running", "stopped"] = "running" if op == "running" else "stopped"
        return agent_power.agent_reached(
            ec2,
            key,
            want=want,
            state=openflow_power.Poll.model_validate(poll(event, f"agent_{op}")),
            max_checks=setting(event, "max_checks", 60),
        )
    return agent_power.set_agent(ec2, key, want="stopped" if op == "stop" else "running")


# --- the replication slot after a start ---------------------------------------------------------------
def slot_step(
    event: dict[str, Any], *, secrets: Any = None, rds: Any = None, s3: Any = None, env: FunctionEnv
) -> Any:
    """op: baseline (before the connector starts) | check (one poll: has the slot advanced?) |
    canary_write (a canary row at the source, for `canary` of the runtime step)."""
    request, op = request_of(event), str(event["op"])
    region = request.aws.region
    at = parse_instant(event.get("at") or utcnow(), "at")
    admin = source_phase.admin_login(
        request,
        secrets=secrets or client("secretsmanager", region),
        rds=(rds or client("rds", region)) if request.source.rds_instance_id else None,
    )
    if op == "canary_write":
        # a row at the source after every start, which the check must see in Snowflake
        with connect(admin.dsn()) as conn:
            canary = insert_canary(conn, note=CANARY_NOTE)
        return Heartbeat(id=canary.id, written_at=datetime.fromisoformat(canary.inserted_at)).model_dump(
            mode="json"
        )
    with connect(admin.dsn()) as conn:
        position = read_position(conn, source_phase.slot_name(request), at=at)
    if op == "baseline":
        return SlotCheck(baseline=position)
    state = SlotCheck.model_validate(poll(event, "slot"))
    result = check_slot(position, state, max_checks=setting(event, "max_checks", 60))
    if result.done:  # a WAL sample for the next stop's rate
        update_memory(
            s3 or client("s3", region),
            artifact_bucket(env),
            str(power_of(event)["deployment"]),
            wal_sample=position.sample(),
        )
    return result
