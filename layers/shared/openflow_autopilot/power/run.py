"""The power run's first steps, with typed values: Load (the stored request and the run's `power`
part) and Decide (stop, start or skip, from the schedule, the override and the manual hold)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.decide import decide
from openflow_autopilot.power.event import artifact_bucket, role_arn, target_arn
from openflow_autopilot.power.memory import load_memory
from openflow_autopilot.power.models import PowerPart
from openflow_autopilot.power.request_store import load_request
from openflow_autopilot.power.restart import cancel_restart
from openflow_autopilot.power.scheduler_api import active_override, apply_override, remove_override

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient


def load_run(
    deployment: str,
    action: Literal["stop", "start", "extend"],
    *,
    now: datetime,
    reason: str,
    until: str | None,
    execution: str | None,
    settings: dict[str, Any],
    env: FunctionEnv,
    s3: S3Client | None = None,
) -> dict[str, Any]:
    """The payload the states share: the stored request, `power`, and the empty parts the later
    states fill (phases, polls, target, wal, wake: deep sleep's agent health loop)."""
    request = load_request(s3 or client("s3"), artifact_bucket(env), deployment)
    schedule = request.schedule
    power = PowerPart(
        deployment=request.openflow.deployment_name,
        action=action,
        reason=reason,
        now=now,
        until=until,
        execution=execution,
        stop_agent=bool(schedule and schedule.agent_sleeps),
        deep=bool(schedule and schedule.deep),
        suspend_warehouse=bool(schedule and schedule.suspend_warehouse),
    )
    return {
        "request": request.model_dump(mode="json"),
        "power": power.model_dump(mode="json"),
        "settings": settings,
        "phases": {},
        "polls": {},
        "target": None,
        "wal": None,
        "wake": None,
    }


def decide_run(
    request: ProvisionRequest,
    power: PowerPart,
    *,
    state_machine: str | None,
    env: FunctionEnv,
    s3: S3Client | None = None,
    scheduler: EventBridgeSchedulerClient | None = None,
) -> dict[str, Any]:
    """An `extend` puts its override in place here; a manual stop cancels an override; any start
    cancels a pending early start (the WAL guard's)."""
    s3 = s3 or client("s3")
    scheduler = scheduler or client("scheduler")
    group = env.schedule_group
    deployment = power.deployment
    memory = load_memory(s3, artifact_bucket(env), deployment)
    override = (
        active_override(scheduler, deployment=deployment, group=group, now=power.now)
        if request.schedule
        else None
    )
    decision = decide(
        request.schedule,
        action=power.action,
        reason=power.reason,
        now=power.now,
        override=override,
        hold=memory.hold,
        until=power.until,
    )
    notes: list[str] = []
    if decision.override is not None:
        name = apply_override(
            scheduler,
            deployment=deployment,
            override=decision.override,
            target_arn=target_arn(state_machine, env),
            role_arn=role_arn(env),
            group=group,
        )
        notes.append(f"override schedule {name} stops it at {decision.override.keep_on_until.isoformat()}")
    if decision.cancel_override and remove_override(scheduler, deployment=deployment, group=group):
        notes.append("the override was cancelled by the manual stop")
    if decision.run == "start" and cancel_restart(scheduler, deployment=deployment, group=group):
        notes.append("the pending early start (WAL guard) was removed: this start replaces it")
    return {**decision.model_dump(mode="json"), "notes": notes}
