"""The watch's objects in the artifact bucket, per deployment:
`watch/<DEPLOYMENT>/state.json` (what it remembers) and `watch/<DEPLOYMENT>/runs/<UTC time>.json`
(one per run; keys sort by time, so the newest are listed last). A lifecycle rule may expire runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.power.request_store import request_key
from openflow_autopilot.watch.models import WatchMemory, WatchRun

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "watch/"


def _base(deployment: str) -> str:
    name = request_key(deployment).removeprefix("requests/").removesuffix(".json")
    return f"{PREFIX}{name}/"


def load_memory(s3: S3Client, bucket: str, deployment: str) -> WatchMemory:
    try:
        with aws_call("s3:GetObject"):
            body = s3.get_object(Bucket=bucket, Key=_base(deployment) + "state.json")["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return WatchMemory(deployment=deployment)
        raise
    try:
        return WatchMemory.model_validate(json.loads(body))
    except ValueError:  # a damaged memory must not stop the watch: start afresh
        return WatchMemory(deployment=deployment)


def save_memory(s3: S3Client, bucket: str, memory: WatchMemory) -> None:
    with aws_call("s3:PutObject"):
        s3.put_object(
            Bucket=bucket,
            Key=_base(memory.deployment) + "state.json",
            Body=memory.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )


def run_key(run: WatchRun) -> str:
    return f"{_base(run.deployment)}runs/{run.at.strftime('%Y%m%dT%H%M%S.%fZ')}.json"


def save_run(s3: S3Client, bucket: str, run: WatchRun) -> str:
    key = run_key(run)
    with aws_call("s3:PutObject"):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=run.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )
    return key


def last_runs(s3: S3Client, bucket: str, deployment: str, *, limit: int = 12) -> list[WatchRun]:
    """The newest `limit` runs, oldest first."""
    keys: list[str] = []
    with aws_call("s3:ListObjectsV2"):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=_base(deployment) + "runs/"
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
    runs: list[WatchRun] = []
    for key in sorted(keys)[-limit:]:
        with aws_call("s3:GetObject"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            runs.append(WatchRun.model_validate(json.loads(body)))
        except ValueError:
            continue  # a damaged record is skipped, not fatal to the status view
    return runs
