"""Where invocation evidence lives in the artifact bucket, and reading it back for one execution."""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING

from openflow_autopilot.aws.s3uri import execution_prefix
from openflow_autopilot.evidence.models import InvocationEvidence

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def evidence_prefix(execution: str) -> str:
    return f"{execution_prefix(execution)}/snowflake/"


def evidence_key(evidence: InvocationEvidence) -> str:
    """Keys sort by the invocation's start; the suffix keeps retries of a state apart."""
    stamp = re.sub(r"[^0-9]", "", evidence.started_at)[:17]
    phase = _UNSAFE.sub("-", evidence.phase)[:80] or "phase"
    return f"{evidence_prefix(evidence.execution)}{stamp}-{phase}-{uuid.uuid4().hex[:8]}.json"


def put_evidence(s3: S3Client, bucket: str, evidence: InvocationEvidence) -> str:
    key = evidence_key(evidence)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=evidence.model_dump_json(indent=1).encode(),
        ContentType="application/json",
        ServerSideEncryption="AES256",
    )
    return key


def load_evidence(s3: S3Client, bucket: str, execution: str) -> list[InvocationEvidence]:
    """Every invocation's evidence for the execution, in the order the invocations started."""
    prefix = evidence_prefix(execution)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
    found = []
    for key in sorted(keys):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        found.append(InvocationEvidence.model_validate(json.loads(body)))
    return sorted(found, key=lambda e: e.started_at)
