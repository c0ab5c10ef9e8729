"""What the power workflow remembers between runs, per deployment, in the artifact bucket:
the manual hold (a manual start or stop, respected until the next scheduled action), the last
WAL sample (so the next stop's WAL guard knows the rate), and the last outcome.

`power/<DEPLOYMENT>/state.json`. One writer at a time per deployment is the normal case (the
schedules are minutes apart); each update re-reads the object and changes only its own fields.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import AwareDatetime, BaseModel, ConfigDict

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.postgres.models import WalSample
from openflow_autopilot.power.request_store import request_key
from openflow_autopilot.power.schedule import ManualHold

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "power/"


class PowerMemory(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deployment: str
    hold: ManualHold | None = None
    wal_sample: WalSample | None = None
    last_action: str | None = None
    last_outcome: str | None = None
    last_at: AwareDatetime | None = None


def memory_key(deployment: str) -> str:
    name = request_key(deployment).removeprefix("requests/").removesuffix(".json")
    return f"{PREFIX}{name}/state.json"


def load_memory(s3: S3Client, bucket: str, deployment: str) -> PowerMemory:
    key = memory_key(deployment)
    try:
        with aws_call("s3:GetObject"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return PowerMemory(deployment=deployment)
        raise
    try:
        return PowerMemory.model_validate(json.loads(body))
    except ValueError:
        # A damaged memory must not block stopping or starting: start afresh.
        return PowerMemory(deployment=deployment)


def update_memory(s3: S3Client, bucket: str, deployment: str, **changes: Any) -> PowerMemory:
    """Re-read, apply `changes` (field=value; None clears), write back."""
    current = load_memory(s3, bucket, deployment)
    updated = current.model_copy(update=changes)
    with aws_call("s3:PutObject"):
        s3.put_object(
            Bucket=bucket,
            Key=memory_key(deployment),
            Body=updated.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )
    return updated
