"""The validated provisioning request, kept in the artifact bucket for the power workflow.

Scheduler events carry only the deployment's name; the power workflow reads everything else (the
schedule, the source, the runtime and connector names, where to notify) from
`requests/<DEPLOYMENT>.json`, written by the provisioning workflow when it creates the schedules.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import InvalidRequest, PreconditionFailed
from openflow_autopilot.snowflake.identifiers import IdentifierError, check_identifier

PREFIX = "requests/"


def request_key(deployment: str) -> str:
    """`requests/<DEPLOYMENT>.json`; the name is a Snowflake identifier, so it is a safe key."""
    try:
        return f"{PREFIX}{check_identifier(deployment, 'deployment')}.json"
    except IdentifierError as exc:
        raise InvalidRequest(str(exc), fix="pass the Openflow deployment's name") from None


def save_request(s3: Any, bucket: str, request: ProvisionRequest) -> str:
    """Store the request (no secrets in it: secrets are ARNs); returns the key. Re-saving the same
    request changes nothing."""
    key = request_key(request.openflow.deployment_name)
    body = json.dumps(request.model_dump(mode="json"), indent=2, sort_keys=True).encode()
    with aws_call("s3:PutObject"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def load_request(s3: Any, bucket: str, deployment: str) -> ProvisionRequest:
    key = request_key(deployment)
    try:
        with aws_call("s3:GetObject"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            raise PreconditionFailed(
                f"no stored request for deployment {deployment} (s3://{bucket}/{key})",
                fix="run the provisioning workflow for it: its last phase stores the request and "
                "creates the schedules",
            ) from None
        raise
    try:
        data = json.loads(body)
    except ValueError:
        raise PreconditionFailed(f"s3://{bucket}/{key} is not JSON", fix="re-run the provisioning") from None
    return parse_request(data)
