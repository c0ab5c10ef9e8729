"""The validated provisioning request, kept in the artifact bucket for the power workflow.

Scheduler events carry only the deployment's name; the power workflow reads everything else (the
schedule, the source, the runtime and connector names, where to notify) from
`requests/<DEPLOYMENT>.json`, written by the provisioning workflow when it creates the schedules.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import InvalidRequest, PreconditionFailed
from openflow_autopilot.snowflake.identifiers import IdentifierError, check_identifier

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "requests/"


def request_key(deployment: str) -> str:
    """`requests/<DEPLOYMENT>.json`; the name is a Snowflake identifier, so it is a safe key."""
    try:
        return f"{PREFIX}{check_identifier(deployment, 'deployment')}.json"
    except IdentifierError as exc:
        raise InvalidRequest(str(exc), fix="pass the Openflow deployment's name") from None


def save_request(s3: S3Client, bucket: str, request: ProvisionRequest) -> str:
    """Store the request (no secrets in it: secrets are ARNs); returns the key. Re-saving the same
    request changes nothing. The key (and the schedules' names) come from the deployment's name, which
    Snowflake makes unique within an account only: a stored request of the same deployment name in
    another Snowflake account is another deployment's, and is refused rather than replaced."""
    key = request_key(request.openflow.deployment_name)
    stored = _stored_account(s3, bucket, key)
    if stored is not None and stored.upper() != request.snowflake.account.upper():
        raise PreconditionFailed(
            f"s3://{bucket}/{key} holds deployment {request.openflow.deployment_name} of Snowflake account "
            f"{stored}, not {request.snowflake.account}: its schedules and power settings would be replaced",
            call="s3:GetObject",
            fix="give this deployment another name, or deploy a second openflow-autopilot stack for the "
            "other account",
        )
    body = json.dumps(request.model_dump(mode="json"), indent=2, sort_keys=True).encode()
    with aws_call("s3:PutObject"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def _stored_account(s3: S3Client, bucket: str, key: str) -> str | None:
    """The Snowflake account of the request stored at `key`, None when there is none (or it is not
    one: it is then replaced)."""
    try:
        with aws_call("s3:GetObject"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        account = json.loads(body)["snowflake"]["account"]
    except (ValueError, KeyError, TypeError):
        return None
    return account if isinstance(account, str) else None


def load_request(s3: S3Client, bucket: str, deployment: str) -> ProvisionRequest:
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
