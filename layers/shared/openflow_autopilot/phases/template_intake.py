"""Template intake. The deployment's CloudFormation template can only be downloaded from the
Openflow UI, so unless the request names its S3 location, the execution pauses on a task token
and asks a human to upload it; the upload's ObjectCreated event resumes the execution.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from openflow_autopilot.aws.s3uri import S3Location, pending_token_key, template_upload_key
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.template.source import MAX_TEMPLATE_BYTES, decode_template, too_large

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient


class PendingTemplate(BaseModel):
    """What the upload handler needs to resume the right execution."""

    deployment: str
    task_token: str
    execution: str
    upload_uri: str


def instructions(deployment: str, upload: S3Location, timeout_seconds: int) -> str:
    hours = timeout_seconds / 3600
    return (
        f"Action needed: download the CloudFormation template for deployment {deployment} from the "
        f"Openflow UI (Snowsight > Ingestion > Openflow > Deployments > {deployment} > download the "
        f"template) and upload it, unchanged, to {upload.uri} "
        f"(aws s3 cp <file> {upload.uri}). The workflow resumes by itself when the file arrives; "
        f"it gives up after {hours:g} hours."
    )


def already_uploaded(s3: S3Client, upload: S3Location) -> bool:
    try:
        s3.head_object(Bucket=upload.bucket, Key=upload.key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def await_upload(
    s3: S3Client,
    sfn: SFNClient,
    *,
    bucket: str,
    deployment: str,
    task_token: str,
    execution: str,
    timeout_seconds: int,
) -> dict[str, Any]:
    """Resume at once when the template is already there (a rerun); otherwise record the task
    token where the upload handler finds it and return the human instructions."""
    upload = S3Location(bucket, template_upload_key(deployment))
    if already_uploaded(s3, upload):
        output = {"template_s3_uri": upload.uri, "uploaded": False}
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        return {"upload_uri": upload.uri, "instructions": None, "resumed": True}
    pending = PendingTemplate(
        deployment=deployment, task_token=task_token, execution=execution, upload_uri=upload.uri
    )
    s3.put_object(
        Bucket=bucket,
        Key=pending_token_key(deployment),
        Body=pending.model_dump_json().encode(),
        ServerSideEncryption="AES256",
    )
    return {
        "upload_uri": upload.uri,
        "instructions": instructions(deployment, upload, timeout_seconds),
        "resumed": False,
    }


def resume_on_upload(s3: S3Client, sfn: SFNClient, *, bucket: str, key: str) -> dict[str, Any]:
    """Handle one ObjectCreated record: resume the execution waiting for this template, if any."""
    if not key.startswith("templates/") or not key.endswith((".yaml", ".yml", ".json", ".template")):
        return {"resumed": False, "reason": f"{key} is not a template upload"}
    deployment = key.removeprefix("templates/").rsplit(".", 1)[0]
    try:
        body = s3.get_object(Bucket=bucket, Key=pending_token_key(deployment))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {"resumed": False, "reason": f"no execution is waiting for a template for {deployment}"}
    pending = PendingTemplate.model_validate_json(body)
    output = {"template_s3_uri": S3Location(bucket, key).uri, "uploaded": True}
    try:
        sfn.send_task_success(taskToken=pending.task_token, output=json.dumps(output))
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist):
        s3.delete_object(Bucket=bucket, Key=pending_token_key(deployment))
        return {"resumed": False, "reason": f"the execution waiting for {deployment} has already ended"}
    s3.delete_object(Bucket=bucket, Key=pending_token_key(deployment))
    return {"resumed": True, "execution": pending.execution, "template_s3_uri": output["template_s3_uri"]}


def read_template(s3: S3Client, uri: str) -> str:
    loc = S3Location.parse(uri)
    try:
        response = s3.get_object(Bucket=loc.bucket, Key=loc.key)
        size = int(response.get("ContentLength") or 0)
        if size > MAX_TEMPLATE_BYTES:  # refused before it is read into the function's memory
            raise too_large(size)
        body: bytes = response["Body"].read(MAX_TEMPLATE_BYTES + 1)
    except s3.exceptions.NoSuchKey:
        raise PreconditionFailed(
            f"the template {uri} does not exist",
            call="s3:GetObject",
            fix="upload the template there, or correct request.openflow.template_s3_uri",
        ) from None
    return decode_template(body)  # UTF-8 and at most 1 MiB, or a TemplateError naming the fix
