"""The template bucket's S3 ObjectCreated notification (templates/): resume the executions
waiting for those templates (phases/template_intake.py)."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from openflow_autopilot.aws.clients import client
from openflow_autopilot.phases.template_intake import resume_on_upload

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient


class _Bucket(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str


class _S3(BaseModel):
    model_config = ConfigDict(extra="ignore")
    bucket: _Bucket
    object: _Object


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")
    s3: _S3


class S3Notification(BaseModel):
    """docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html"""

    model_config = ConfigDict(extra="ignore")
    Records: list[_Record] = Field(default_factory=list)


def template_uploaded(
    event: dict[str, Any], *, s3: S3Client | None = None, sfn: SFNClient | None = None
) -> list[dict[str, Any]]:
    notification = S3Notification.model_validate(event)
    s3 = s3 or client("s3")
    sfn = sfn or client("stepfunctions")
    return [
        resume_on_upload(s3, sfn, bucket=r.s3.bucket.name, key=urllib.parse.unquote_plus(r.s3.object.key))
        for r in notification.Records
    ]
