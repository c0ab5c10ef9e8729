"""Records the power workflow writes, stored as JSON lines in S3: the on/off records after each stop
or start (`power-records/`), and the WAL guard's refused and shortened stops (`power-guard/`).

S3 cannot append, so each record is its own one-line object under
`<prefix>/<YYYY-MM (UTC)>/<deployment>/<time>-<kind>.jsonl`: concurrent writers never lose a
record, writing the same record twice is harmless, and reading a month concatenates its lines.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from openflow_autopilot.errors import InvalidRequest, PreconditionFailed
from openflow_autopilot.power.months import month_bounds, parse_month

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_UNSAFE = re.compile(r"[^0-9A-Za-z_.=-]")
RECORDS_PREFIX = "power-records"
GUARD_PREFIX = "power-guard"


class NoPowerRecords(PreconditionFailed):
    """No on/off records exist for the deployment and month asked about."""


class PowerRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: str = Field(min_length=1)
    action: Literal["start", "stop"]
    at: AwareDatetime
    reason: str = Field("schedule", description="schedule | manual | override-end | ...")
    note: str | None = None


class WalGuardRecord(BaseModel):
    """A stop the WAL guard refused, or shortened to an early start (power/wal.py's verdict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: str = Field(min_length=1)
    at: AwareDatetime
    decision: Literal["refuse", "shorten"]
    reason: str
    off_hours: float
    headroom_hours: float | None = None
    restart_at: AwareDatetime | None = None


_LABELS: dict[type[BaseModel], str] = {PowerRecord: "power record", WalGuardRecord: "WAL guard record"}


def _prefix(key_prefix: str) -> str:
    prefix = key_prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def _segment(deployment: str) -> str:
    return _UNSAFE.sub("_", deployment)


def record_key(key_prefix: str, record: PowerRecord | WalGuardRecord) -> str:
    at = record.at.astimezone(UTC)
    kind = record.action if isinstance(record, PowerRecord) else record.decision
    return f"{_prefix(key_prefix)}{at:%Y-%m}/{_segment(record.deployment)}/{at:%Y%m%dT%H%M%S%fZ}-{kind}.jsonl"


def append_record(s3: S3Client, bucket: str, key_prefix: str, record: PowerRecord | WalGuardRecord) -> str:
    """Store one record; returns its key."""
    key = record_key(key_prefix, record)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=(record.model_dump_json() + "\n").encode(),
        ContentType="application/x-ndjson",
    )
    return key


def load_records(
    s3: S3Client, bucket: str, key_prefix: str, month: str, *, deployment: str | None = None
) -> list[PowerRecord]:
    """Every on/off record stored for the UTC month 'YYYY-MM' (optionally one deployment's), oldest first."""
    return _load(PowerRecord, s3, bucket, key_prefix, month, deployment)


def load_guard_records(
    s3: S3Client, bucket: str, month: str, *, deployment: str, key_prefix: str = GUARD_PREFIX
) -> list[WalGuardRecord]:
    """The WAL guard's refused and shortened stops of one deployment in the UTC month, oldest first."""
    return _load(WalGuardRecord, s3, bucket, key_prefix, month, deployment)


def _load[Line: (PowerRecord, WalGuardRecord)](
    model: type[Line], s3: S3Client, bucket: str, key_prefix: str, month: str, deployment: str | None
) -> list[Line]:
    year, mon = parse_month(month)
    prefix = f"{_prefix(key_prefix)}{year:04d}-{mon:02d}/"
    if deployment is not None:
        prefix += f"{_segment(deployment)}/"
    records: list[Line] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8")
            for number, line in enumerate(body.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    records.append(model.model_validate_json(line))
                except ValidationError as exc:
                    raise InvalidRequest(
                        f"s3://{bucket}/{item['Key']}:{number} is not a {_LABELS[model]}: "
                        f"{exc.errors()[0]['msg']}"
                    ) from None
    return sorted(records, key=lambda r: r.at)


def _shift(month: str, months: int) -> str:
    year, mon = parse_month(month)
    index = year * 12 + (mon - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def load_history(
    s3: S3Client,
    bucket: str,
    key_prefix: str,
    month: str,
    *,
    deployment: str | None = None,
    timezone: str = "UTC",
    lookback_months: int = 12,
) -> list[PowerRecord]:
    """The records of `month` (in `timezone`) and its neighbours (a local month spans two UTC
    months), plus earlier months back to one holding a record from before the month starts:
    what the month's starting state needs."""
    begin, _ = month_bounds(timezone, month)
    records = [
        r
        for m in (_shift(month, -1), month, _shift(month, 1))
        for r in load_records(s3, bucket, key_prefix, m, deployment=deployment)
    ]
    for back in range(2, lookback_months + 1):
        if any(r.at < begin for r in records):
            break
        records += load_records(s3, bucket, key_prefix, _shift(month, -back), deployment=deployment)
    return sorted(records, key=lambda r: r.at)
