"""EventBridge Scheduler schedules that send one deployment's start/stop events to the power
state machine. Every function is "ensure": re-running it with the same input changes nothing.

Names: `<deployment>-<action>-<index>` for the recurring schedules (stale ones from an earlier
schedule are deleted) and `<deployment>-override` for a temporary override's one-time stop.
The target input carries `now` = the Scheduler's `<aws.scheduler.scheduled-time>`, so the state
machine decides with the time the action was meant for, not the time it happened to run.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.schedule import Override
from openflow_autopilot.power.schedule_cron import ScheduleSpec

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

# https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # e.g. 2022-03-22T18:59:43Z
# A start delivered hours late could undo the stop that followed it: give up on old events.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 1800, "MaximumRetryAttempts": 10}
_BAD_NAME_CHARS = re.compile(r"[^0-9A-Za-z_.-]")
_MAX_BASE = 40  # leaves room for "-override" / "-start-NN" within the 64-character limit
_CONFLICT = frozenset({"ConflictException"})


def _aws(call: str) -> AbstractContextManager[None]:
    """aws/calls' mapping; a ConflictException (a concurrent change to the schedule) is tried again,
    a ValidationException is the schedule's fault."""
    return aws_call(
        call, retry=_CONFLICT, invalid=frozenset({"ValidationException"}), invalid_error=InvalidRequest
    )


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


def name_base(deployment: str) -> str:
    """A Scheduler-safe name stem for a deployment (letters, digits, - _ .; at most 40 characters)."""
    if not deployment:
        raise InvalidRequest("deployment: empty name", fix="pass the Openflow deployment name")
    base = _BAD_NAME_CHARS.sub("-", deployment)
    if len(base) > _MAX_BASE or base != deployment:
        digest = hashlib.sha256(deployment.encode()).hexdigest()[:8]
        base = f"{base[: _MAX_BASE - 9]}-{digest}"
    return base


def _own(base: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(base)}-(?:(?:start|stop)-\d+|override)$")


def _input(deployment: str, action: str, reason: str, **extra: Any) -> str:
    return json.dumps(
        {"deployment": deployment, "action": action, "reason": reason, "now": SCHEDULED_TIME, **extra}
    )


def _ensure_group(scheduler: EventBridgeSchedulerClient, group: str) -> None:
    try:
        with _aws("scheduler:GetScheduleGroup"):
            scheduler.get_schedule_group(Name=group)
    except ClientError as exc:
        if not _not_found(exc):
            raise
        with _aws("scheduler:CreateScheduleGroup"):
            scheduler.create_schedule_group(Name=group)


def _get(scheduler: EventBridgeSchedulerClient, name: str, group: str) -> dict[str, Any] | None:
    try:
        with _aws("scheduler:GetSchedule"):
            current = cast("dict[str, Any]", scheduler.get_schedule(Name=name, GroupName=group))
            return current
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise


def _same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    target, want = current.get("Target", {}), wanted["Target"]
    try:
        same_input = json.loads(target.get("Input", "null")) == json.loads(want["Input"])
    except ValueError:
        same_input = False
    return (
        same_input
        and all(current.get(k) == wanted[k] for k in ("ScheduleExpression", "ScheduleExpressionTimezone"))
        and current.get("State") == wanted["State"]
        and current.get("FlexibleTimeWindow", {}).get("Mode") == "OFF"
        and target.get("Arn") == want["Arn"]
        and target.get("RoleArn") == want["RoleArn"]
        and target.get("RetryPolicy") == want["RetryPolicy"]
    )


def _put(scheduler: EventBridgeSchedulerClient, wanted: dict[str, Any]) -> None:
    current = _get(scheduler, wanted["Name"], wanted["GroupName"])
    if current is None:
        with _aws("scheduler:CreateSchedule"):
            scheduler.create_schedule(**wanted)
    elif not _same(current, wanted):
        with _aws("scheduler:UpdateSchedule"):
            scheduler.update_schedule(**wanted)


def _names(scheduler: EventBridgeSchedulerClient, group: str, base: str) -> list[str]:
    own = _own(base)
    names: list[str] = []
    with _aws("scheduler:ListSchedules"):
        for page in scheduler.get_paginator("list_schedules").paginate(
            GroupName=group, NamePrefix=f"{base}-"
        ):
            names += [s["Name"] for s in page.get("Schedules", []) if own.match(s["Name"])]
    return names


def _delete(scheduler: EventBridgeSchedulerClient, name: str, group: str) -> None:
    try:
        with _aws("scheduler:DeleteSchedule"):
            scheduler.delete_schedule(Name=name, GroupName=group)
    except ClientError as exc:
        if not _not_found(exc):  # already gone: that is the goal
            raise


def apply_schedules(
    scheduler: EventBridgeSchedulerClient,
    *,
    deployment: str,
    specs: list[ScheduleSpec],
    target_arn: str,
    role_arn: str,
    group: str,
) -> list[str]:
    """Create or update one schedule per spec and delete this deployment's stale ones (the
    override is left alone). Returns the names of the schedules now in place, in spec order."""
    base = name_base(deployment)
    _ensure_group(scheduler, group)
    counters = {"start": 0, "stop": 0}
    wanted: list[dict[str, Any]] = []
    for spec in specs:
        name = f"{base}-{spec.action}-{counters[spec.action]}"
        counters[spec.action] += 1
        wanted.append(
            {
                "Name": name,
                "GroupName": group,
                "ScheduleExpression": spec.expression,
                "ScheduleExpressionTimezone": spec.timezone,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Description": f"{spec.action} {deployment}: {spec.expression} {spec.timezone}",
                "Target": {
                    "Arn": target_arn,
                    "RoleArn": role_arn,
                    "Input": _input(deployment, spec.action, "schedule"),
                    "RetryPolicy": RETRY_POLICY,
                },
            }
        )
    for params in wanted:
        _put(scheduler, params)
    keep = {params["Name"] for params in wanted} | {f"{base}-override"}
    for name in _names(scheduler, group, base):
        if name not in keep:
            _delete(scheduler, name, group)
    return [params["Name"] for params in wanted]


def remove_schedules(scheduler: EventBridgeSchedulerClient, *, deployment: str, group: str) -> list[str]:
    """Delete every schedule of this deployment (recurring and override). Returns the names deleted."""
    base = name_base(deployment)
    try:
        names = _names(scheduler, group, base)
    except ClientError as exc:
        if _not_found(exc):  # no group, so no schedules
            return []
        raise
    for name in names:
        _delete(scheduler, name, group)
    return names


def apply_override(
    scheduler: EventBridgeSchedulerClient,
    *,
    deployment: str,
    override: Override,
    target_arn: str,
    role_arn: str,
    group: str,
) -> str:
    """A one-time stop at the override's end (deleted by the Scheduler after it runs). The state
    machine stops then only if desired_state says 'off'. Returns the schedule's name."""
    _ensure_group(scheduler, group)
    until = override.keep_on_until.astimezone(UTC)
    record = {
        "keep_on_until": until.isoformat(),
        "since": override.since.astimezone(UTC).isoformat() if override.since else None,
    }
    name = f"{name_base(deployment)}-override"
    _put(
        scheduler,
        {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": f"at({until:%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "ActionAfterCompletion": "DELETE",
            "Description": f"override: keep {deployment} on until {until.isoformat()}",
            "Target": {
                "Arn": target_arn,
                "RoleArn": role_arn,
                "Input": _input(deployment, "stop", "override-end", override=record),
                "RetryPolicy": RETRY_POLICY,
            },
        },
    )
    return name


def active_override(
    scheduler: EventBridgeSchedulerClient, *, deployment: str, group: str, now: datetime
) -> Override | None:
    """The override in force at `now`, read back from its schedule; None if there is none."""
    try:
        current = _get(scheduler, f"{name_base(deployment)}-override", group)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    if current is None:
        return None
    try:
        record = json.loads(current.get("Target", {}).get("Input", "{}"))["override"]
        override = Override.model_validate(record)
    except (ValueError, KeyError, TypeError):
        return None  # not one of ours: ignore rather than guess
    return override if now < override.keep_on_until else None


def remove_override(scheduler: EventBridgeSchedulerClient, *, deployment: str, group: str) -> bool:
    """Cancel an override. Returns whether one existed."""
    name = f"{name_base(deployment)}-override"
    existed = _get(scheduler, name, group) is not None
    _delete(scheduler, name, group)
    return existed


# --- the watch's schedule ----------------------------------------------------------------------------
def watch_schedule_name(deployment: str) -> str:
    return f"{name_base(deployment)}-watch"


def apply_watch_schedule(
    scheduler: EventBridgeSchedulerClient,
    *,
    deployment: str,
    interval_minutes: int,
    target_arn: str,
    role_arn: str,
    group: str,
) -> str:
    """`<deployment>-watch`: rate(N minutes) to the watch state machine, whose Load decides what a run
    looks at (everything while on, the slot hourly while asleep). Returns its name."""
    _ensure_group(scheduler, group)
    name = watch_schedule_name(deployment)
    unit = "minute" if interval_minutes == 1 else "minutes"
    _put(
        scheduler,
        {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": f"rate({interval_minutes} {unit})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Description": f"watch {deployment} every {interval_minutes} {unit}",
            "Target": {
                "Arn": target_arn,
                "RoleArn": role_arn,
                "Input": json.dumps({"deployment": deployment, "now": SCHEDULED_TIME}),
                # a watch run delivered late is worth nothing: the next one comes soon
                "RetryPolicy": {"MaximumEventAgeInSeconds": 60 * interval_minutes, "MaximumRetryAttempts": 2},
            },
        },
    )
    return name


def remove_watch_schedule(scheduler: EventBridgeSchedulerClient, *, deployment: str, group: str) -> bool:
    """Delete the deployment's watch schedule; True when there was one."""
    return _remove(scheduler, watch_schedule_name(deployment), group)


# --- the weekly digest's schedule ----------------------------------------------------------------
def digest_schedule_name(deployment: str) -> str:
    return f"{name_base(deployment)}-digest"


def digest_expression(day: str, at: str) -> str:
    """cron(M H ? * DAY *) for 'mon' and 'HH:MM': the day-of-week field takes MON..SUN
    (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based)."""
    hours, minutes = at.split(":")
    return f"cron({int(minutes)} {int(hours)} ? * {day.upper()} *)"


def apply_digest_schedule(
    scheduler: EventBridgeSchedulerClient,
    *,
    deployment: str,
    day: str,
    at: str,
    timezone: str,
    target_arn: str,
    role_arn: str,
    group: str,
) -> str:
    """`<deployment>-digest`: weekly, straight to the digest function (a Lambda templated target:
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html), with the
    scheduled time as `now` so the digest covers the week it was meant for. Returns its name."""
    _ensure_group(scheduler, group)
    name = digest_schedule_name(deployment)
    expression = digest_expression(day, at)
    _put(
        scheduler,
        {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Description": f"weekly digest of {deployment}: {expression} {timezone}",
            "Target": {
                "Arn": target_arn,
                "RoleArn": role_arn,
                "Input": json.dumps({"deployment": deployment, "now": SCHEDULED_TIME}),
                # a digest a day late still says what the week cost; one two days late is noise
                "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 10},
            },
        },
    )
    return name


def remove_digest_schedule(scheduler: EventBridgeSchedulerClient, *, deployment: str, group: str) -> bool:
    """Delete the deployment's digest schedule; True when there was one."""
    return _remove(scheduler, digest_schedule_name(deployment), group)


def _remove(scheduler: EventBridgeSchedulerClient, name: str, group: str) -> bool:
    try:
        if _get(scheduler, name, group) is None:
            return False
    except ClientError as exc:
        if _not_found(exc):
            return False
        raise
    _delete(scheduler, name, group)
    return True
