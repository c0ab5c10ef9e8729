"""The Task states several state machines share, one function each; their functions' names say
they are shared: acquire_lock (every AcquireLock), release_lock (ReleaseLock and
ReleaseLockAfterFailure), notify (Notify, NotifySuccess, NotifyFailure) and await_approval
(AwaitRuntime, AwaitRebootApproval, AwaitConnector)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from openflow_autopilot import approvals
from openflow_autopilot import notify as notifications
from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv, LockEnv
from openflow_autopilot.locks import Released, give_back, take_lock
from openflow_autopilot.phases.approval_text import approval_text
from openflow_autopilot.steps.inputs import parse
from openflow_autopilot.steps.provision_inputs import AwaitApprovalInput

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


# --- the inputs --------------------------------------------------------------------------------------
class PowerAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str = "run"


class AcquireLockInput(BaseModel):
    """{request, kind: provision|power, on_conflict: fail|skip, execution, started_at, now?, power?}"""

    model_config = ConfigDict(extra="ignore")

    request: ProvisionRequest
    kind: Literal["provision", "power"]
    on_conflict: Literal["fail", "skip"] = "fail"
    execution: str = ""
    started_at: str = ""
    now: str | None = None
    power: PowerAction = Field(default_factory=PowerAction)


class HeldLock(BaseModel):
    """`$.lock` as AcquireLock returned it."""

    model_config = ConfigDict(extra="ignore")

    acquired: bool = False
    key: str | None = None


class ReleaseLockInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lock: HeldLock = Field(default_factory=HeldLock)
    execution: str = ""


class NotifyInput(BaseModel):
    """The whole execution state (any machine's), and which execution it is."""

    model_config = ConfigDict(extra="ignore")

    state: dict[str, Any] = Field(default_factory=dict)
    execution: str | None = None


def _epoch(value: str | None) -> int:
    if not value:
        return int(time.time())
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise InvalidRequest(f"now: {value!r} is not an ISO date-time") from None


# --- the states ---------------------------------------------------------------------------------------
def acquire_lock(
    event: dict[str, Any],
    *,
    env: LockEnv,
    dynamodb: DynamoDBClient | None = None,
    sfn: SFNClient | None = None,
) -> dict[str, Any]:
    """AcquireLock (provisioning and power): the deployment's lock, or who holds it."""
    given = parse(AcquireLockInput, event, "calling")
    if not given.execution:
        raise InvalidRequest("execution: missing (the state machine passes $$.Execution.Id)")
    state = take_lock(
        given.request,
        kind=given.kind,
        on_conflict=given.on_conflict,
        me=given.execution,
        started_at=given.started_at,
        now=_epoch(given.now),
        action=given.power.action,
        env=env,
        dynamodb=dynamodb,
        sfn=sfn,
    )
    return state.model_dump(mode="json")


def release_lock(
    event: dict[str, Any], *, env: LockEnv, dynamodb: DynamoDBClient | None = None
) -> dict[str, Any]:
    """ReleaseLock and ReleaseLockAfterFailure: the lock given back if this execution holds it; a
    run that never took it (or lost it) releases nothing and says so."""
    given = parse(ReleaseLockInput, event, "calling")
    if not given.lock.acquired or not given.lock.key or not given.execution:
        return Released(released=False, note="this run did not hold the lock").model_dump(mode="json")
    return give_back(given.lock.key, me=given.execution, env=env, dynamodb=dynamodb).model_dump(mode="json")


def notify(event: dict[str, Any], *, env: FunctionEnv) -> notifications.Notification:
    """Notify, NotifySuccess and NotifyFailure (every machine): what happened and what to do."""
    given = parse(NotifyInput, event, "calling")
    return notifications.send(
        {"state": given.state, "execution": given.execution}, default_topic_arn=env.notify_topic_arn
    )


def await_approval(
    event: dict[str, Any], *, env: ArtifactsEnv, s3: S3Client | None = None, sns: SNSClient | None = None
) -> dict[str, Any]:
    """AwaitRuntime, AwaitRebootApproval and AwaitConnector (provisioning): store the task token
    under an approval id and ask humans."""
    given = parse(AwaitApprovalInput, event, "provisioning")
    request = given.request
    text = approval_text(request, given.kind, source=given.source, destination=given.destination)
    approval = approvals.create_approval(
        s3 or client("s3", request.aws.region),
        bucket=env.require_artifact_bucket(),
        kind=given.kind,
        request_name=request.name,
        execution=given.execution or "",
        task_token=given.task_token,
        text=text,
    )
    how = (
        f"Approve: openflow-autopilot resume {approval.id}   "
        f"Reject: openflow-autopilot resume {approval.id} --reject"
    )
    notifications.send_action_needed(
        request,
        subject=f"Openflow Autopilot: {request.name} is waiting for your approval ({given.kind})",
        text=f"{text}\n{how}",
        default_topic_arn=env.notify_topic_arn,
        sns=sns,
        approval_id=approval.id,
    )
    return {"approval_id": approval.id, "kind": given.kind}
