"""Human approvals for paused executions (a reboot, a runtime created in the UI, ...).

A paused state stores its task token server-side, under an opaque approval id, and tells
humans the id. Approving (CLI `openflow-autopilot resume`, or a Slack button) looks the token up
and sends it — the token itself never travels through chat or tickets. Each approval resolves
once: the resolution is written with S3's If-None-Match, so a second click (or a race) is told
it was already handled.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from openflow_autopilot.errors import InvalidRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

ApprovalKind = Literal["reboot", "gen1_runtime", "gen1_connector"]


class Approval(BaseModel):
    id: str
    kind: ApprovalKind
    request_name: str
    execution: str
    text: str = Field(description="what the human is asked to do or approve")
    task_token: str = Field(repr=False)
    created_at: str


class Resolution(BaseModel):
    approval_id: str
    approved: bool
    by: str
    at: str
    already_handled: bool = False
    message: str


def _key(approval_id: str) -> str:
    return f"approvals/{approval_id}.json"


def _resolved_key(approval_id: str) -> str:
    return f"approvals/{approval_id}.resolved.json"


def create_approval(
    s3: S3Client,
    *,
    bucket: str,
    kind: ApprovalKind,
    request_name: str,
    execution: str,
    task_token: str,
    text: str,
) -> Approval:
    approval = Approval(
        id=secrets.token_urlsafe(9).replace("-", "x").replace("_", "y"),
        kind=kind,
        request_name=request_name,
        execution=execution,
        text=text,
        task_token=task_token,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    s3.put_object(
        Bucket=bucket,
        Key=_key(approval.id),
        Body=approval.model_dump_json().encode(),
        ServerSideEncryption="AES256",
    )
    return approval


def load_approval(s3: S3Client, *, bucket: str, approval_id: str) -> Approval:
    if not approval_id.isalnum():
        raise InvalidRequest(
            f"approval id {approval_id!r} is not valid", fix="copy the id from the notification"
        )
    try:
        body = s3.get_object(Bucket=bucket, Key=_key(approval_id))["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise InvalidRequest(
            f"no approval {approval_id} is waiting", fix="check the id in the notification"
        ) from None
    return Approval.model_validate_json(body)


def resolve_approval(
    s3: S3Client,
    sfn: SFNClient,
    *,
    bucket: str,
    approval_id: str,
    approved: bool,
    by: str,
    now: datetime | None = None,
) -> Resolution:
    """Approve or reject once. A second call reports who handled it."""
    approval = load_approval(s3, bucket=bucket, approval_id=approval_id)
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    resolution = Resolution(
        approval_id=approval_id,
        approved=approved,
        by=by,
        at=at,
        message=f"{'approved' if approved else 'rejected'} by {by}",
    )
    try:
        s3.put_object(
            Bucket=bucket,
            Key=_resolved_key(approval_id),
            Body=resolution.model_dump_json().encode(),
            IfNoneMatch="*",
        )
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "PreconditionFailed",
            "412",
            "ConditionalRequestConflict",
        ):
            raise
        earlier = Resolution.model_validate_json(
            s3.get_object(Bucket=bucket, Key=_resolved_key(approval_id))["Body"].read()
        )
        return earlier.model_copy(
            update={"already_handled": True, "message": f"already handled: {earlier.message} at {earlier.at}"}
        )
    output = {"approved": approved, "by": by, "approval_id": approval_id}
    try:
        if approved:
            sfn.send_task_success(taskToken=approval.task_token, output=json.dumps(output))
        else:
            sfn.send_task_failure(
                taskToken=approval.task_token,
                error="ApprovalRejected",
                cause=f"{approval.kind} rejected by {by}",
            )
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.TaskDoesNotExist, sfn.exceptions.InvalidToken):
        return resolution.model_copy(
            update={"message": "the execution is no longer waiting (it timed out or ended)"}
        )
    return resolution
