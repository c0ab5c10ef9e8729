"""The Schedules state (the provisioning workflow's last phase): store the request for the power
workflow and ensure the deployment's EventBridge Scheduler schedules (power, watch, digest)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.event import artifact_bucket, role_arn, target_arn
from openflow_autopilot.power.request_store import save_request
from openflow_autopilot.power.schedule import next_transitions
from openflow_autopilot.power.schedule_cron import scheduler_expressions
from openflow_autopilot.power.scheduler_api import (
    apply_digest_schedule,
    apply_schedules,
    apply_watch_schedule,
    name_base,
    remove_digest_schedule,
    remove_schedules,
    remove_watch_schedule,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient


def _snapshot(scheduler: EventBridgeSchedulerClient, group: str, base: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    try:
        with aws_call("scheduler:ListSchedules"):
            pages = scheduler.get_paginator("list_schedules").paginate(GroupName=group, NamePrefix=f"{base}-")
            names = [s["Name"] for page in pages for s in page.get("Schedules", [])]
        for name in names:
            with aws_call("scheduler:GetSchedule"):
                s = scheduler.get_schedule(Name=name, GroupName=group)
            found[name] = [
                s.get(k) for k in ("ScheduleExpression", "ScheduleExpressionTimezone", "State")
            ] + [json.loads(s.get("Target", {}).get("Input") or "null")]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    return found


def ensure_schedules(
    request: ProvisionRequest,
    *,
    now: datetime,
    state_machine: str | None,
    env: FunctionEnv,
    s3: S3Client | None = None,
    scheduler: EventBridgeSchedulerClient | None = None,
) -> PhaseResult:
    """Store the request for the power workflow and create, update or remove the deployment's
    EventBridge Scheduler schedules to match its schedule (none: always on, schedules removed).
    `now` dates the DST notes; `state_machine` is what the power schedules start (default: the
    environment's POWER_STATE_MACHINE_ARN)."""
    started = utcnow()
    deployment = request.openflow.deployment_name
    group = env.schedule_group
    s3 = s3 or client("s3")
    scheduler = scheduler or client("scheduler")
    key = save_request(s3, artifact_bucket(env), request)
    base = name_base(deployment)
    before = _snapshot(scheduler, group, base)
    notes: list[str] = []
    outputs: dict[str, Any] = {"request_key": key, "group": group}
    schedule = request.schedule
    if schedule is None:
        removed = remove_schedules(scheduler, deployment=deployment, group=group)
        notes.append(
            "no schedule: the deployment stays on" + (f"; removed {', '.join(removed)}" if removed else "")
        )
        outputs["schedules"] = []
    else:
        specs = scheduler_expressions(schedule, now=now)
        names = apply_schedules(
            scheduler,
            deployment=deployment,
            specs=specs,
            target_arn=target_arn(state_machine, env),
            role_arn=role_arn(env),
            group=group,
        )
        for name, spec in zip(names, specs, strict=True):
            notes.append(f"{name}: {spec.action} {','.join(spec.days)} {spec.time} {spec.timezone}")
            notes += spec.notes
        outputs["schedules"] = names
        outputs["next"] = [
            {"at": t.at.isoformat(), "action": t.action} for t in next_transitions(schedule, now, n=4)
        ]
    if request.watch.enabled:
        if not env.watch_state_machine_arn:
            raise ConfigurationError(
                "the watch state machine's ARN is unknown", fix="set WATCH_STATE_MACHINE_ARN"
            )
        name = apply_watch_schedule(
            scheduler,
            deployment=deployment,
            interval_minutes=request.watch.interval_minutes,
            target_arn=env.watch_state_machine_arn,
            role_arn=role_arn(env),
            group=group,
        )
        notes.append(
            f"{name}: watch every {request.watch.interval_minutes} min (the slot hourly while asleep)"
        )
        outputs["watch_schedule"] = name
    elif remove_watch_schedule(scheduler, deployment=deployment, group=group):
        notes.append("watch.enabled is false: the watch schedule was removed")
    digest = request.digest
    if digest.enabled:
        if not env.digest_function_arn:
            raise ConfigurationError("the digest function's ARN is unknown", fix="set DIGEST_FUNCTION_ARN")
        name = apply_digest_schedule(
            scheduler,
            deployment=deployment,
            day=digest.day,
            at=digest.time,
            timezone=request.digest_timezone,
            target_arn=env.digest_function_arn,
            role_arn=role_arn(env),
            group=group,
        )
        notes.append(f"{name}: weekly digest {digest.day} {digest.time} {request.digest_timezone}")
        outputs["digest_schedule"] = name
    elif remove_digest_schedule(scheduler, deployment=deployment, group=group):
        notes.append("digest.enabled is false: the digest schedule was removed")
    after = _snapshot(scheduler, group, base)
    return PhaseResult(
        phase="Schedules",
        status="changed" if before != after else "unchanged",
        notes=list(dict.fromkeys(notes)),
        outputs=outputs,
        started_at=started,
        ended_at=utcnow(),
    )
