"""The early start a shortened stop needs: a one-time EventBridge Scheduler schedule
`<deployment>-restart` that starts the deployment again (reason "wal-guard") before its source runs
out of room for WAL. A start of any kind makes it pointless, so every start removes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from openflow_autopilot.power.scheduler_api import (
    RETRY_POLICY,
    _delete,
    _ensure_group,
    _get,
    _input,
    _put,
    name_base,
)

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

REASON = "wal-guard"


def restart_name(deployment: str) -> str:
    return f"{name_base(deployment)}-restart"


def schedule_restart(
    scheduler: EventBridgeSchedulerClient,
    *,
    deployment: str,
    at: datetime,
    target_arn: str,
    role_arn: str,
    group: str,
) -> str:
    _ensure_group(scheduler, group)
    when = at.astimezone(UTC)
    name = restart_name(deployment)
    _put(
        scheduler,
        {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": f"at({when:%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "ActionAfterCompletion": "DELETE",
            "Description": f"start {deployment} early: its source cannot keep WAL for the whole stop",
            "Target": {
                "Arn": target_arn,
                "RoleArn": role_arn,
                "Input": _input(deployment, "start", REASON),
                "RetryPolicy": RETRY_POLICY,
            },
        },
    )
    return name


def cancel_restart(scheduler: EventBridgeSchedulerClient, *, deployment: str, group: str) -> bool:
    """Remove a pending early start; returns whether one existed."""
    name = restart_name(deployment)
    if _get(scheduler, name, group) is None:  # a missing group reads as no schedule, too
        return False
    _delete(scheduler, name, group)
    return True
