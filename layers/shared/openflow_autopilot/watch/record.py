"""The Record state's work: the run as a WatchRun from the parts its states left (a failed state
becomes a finding, so a watch that cannot see still alerts), what the next run remembers, and the
alert when the verdict changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.watch import alerts, store
from openflow_autopilot.watch.heartbeat import freshness
from openflow_autopilot.watch.models import (
    Finding,
    FreshnessPart,
    Heal,
    OpenflowPart,
    SlotPart,
    StepError,
    WatchMemory,
    WatchPart,
    WatchRun,
    WokePart,
    worst,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient


def _error_finding(error: StepError) -> Finding:
    try:
        message = str(json.loads(error.cause).get("errorMessage") or error.cause)
    except (ValueError, AttributeError):
        message = error.cause
    return Finding(
        kind="watch_error",
        severity="critical",
        message=f"the watch could not finish: {error.error}: {message[:500]}",
        fix="the message names the call that failed and its fix; the next run tries again",
    )


@dataclass(frozen=True)
class RunParts:
    """What the run's states left for Record (None: the state did not run)."""

    openflow: OpenflowPart | None = None
    freshness: FreshnessPart | None = None
    slot: SlotPart | None = None
    woke: WokePart | None = None
    error: StepError | None = None


def build_run(
    request: ProvisionRequest, memory: WatchMemory, watch: WatchPart, parts: RunParts, at: datetime
) -> tuple[WatchRun, WatchMemory]:
    """The run's record and the memory it leaves (pure)."""
    findings: list[Finding] = []
    heals: list[Heal] = []
    counts = {
        d: dict(c)
        for d, c in (memory.heals or {}).items()
        if d >= (at - timedelta(days=2)).date().isoformat()
    }
    if parts.openflow is not None:
        findings += parts.openflow.findings
        heals += parts.openflow.heals
        counts.update(parts.openflow.heal_counts)
    breaches, pending = memory.breaches, memory.pending
    heartbeat_seconds = None
    check = parts.freshness
    if check is not None:
        pending = check.pending[-48:]
        found, breaches = freshness(
            check.seen,
            pending,
            now=at,
            slo_seconds=request.watch.freshness_slo_seconds,
            breaches=memory.breaches,
        )
        findings.append(found)
        heartbeat_seconds = check.heartbeat_seconds
    reading = parts.slot.reading if parts.slot is not None else None
    if parts.slot is not None:
        findings += parts.slot.findings
    if parts.error is not None:
        findings.append(_error_finding(parts.error))
    woke = parts.woke.execution if parts.woke is not None else None
    run = WatchRun(
        deployment=watch.deployment or request.openflow.deployment_name,
        at=at,
        mode=watch.mode,
        findings=findings,
        heals=heals,
        heartbeat_seconds=heartbeat_seconds,
        slot=reading,
        severity=worst([f.severity for f in findings]),
        woke=woke,
        execution=watch.execution,
    )
    updated = memory.model_copy(
        update={
            "heals": counts,
            "pending": pending,
            "breaches": breaches,
            "last_slot": reading or memory.last_slot,
            "last_slot_at": at if reading is not None else memory.last_slot_at,
            "wal_sample": parts.slot.wal_sample if parts.slot is not None else memory.wal_sample,
            "woke_at": at if woke else memory.woke_at,
        }
    )
    return run, updated


def record_run(
    request: ProvisionRequest,
    memory: WatchMemory,
    watch: WatchPart,
    parts: RunParts,
    *,
    at: datetime,
    env: FunctionEnv,
    s3: S3Client | None = None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
) -> dict[str, Any]:
    """The run's findings stored, the memory saved, and an alert when something changed."""
    run, memory = build_run(request, memory, watch, parts, at)
    s3 = s3 or client("s3")
    bucket = env.require_artifact_bucket()
    kind = alerts.decide(run, memory)
    if kind is not None:
        subject, text = alerts.message(run, kind)
        delivered = alerts.send(
            request,
            subject=subject,
            text=text,
            default_topic_arn=env.notify_topic_arn,
            sns=sns,
            secrets=secrets,
        )
        run = run.model_copy(update={"alerts_sent": len(delivered), "alert": subject})
        memory = memory.model_copy(
            update={
                "alerted_severity": run.severity if kind == "alert" else "ok",
                "alerted_kinds": alerts.alert_kinds(run) if kind == "alert" else [],
            }
        )
    key = store.save_run(s3, bucket, run)
    store.save_memory(s3, bucket, memory)
    return {
        "key": key,
        "severity": run.severity,
        "alerts_sent": run.alerts_sent,
        "alert": run.alert,
        "findings": [{"kind": f.kind, "severity": f.severity} for f in run.findings],
        "heals": [h.remedy for h in run.heals],
        "heartbeat_seconds": run.heartbeat_seconds,
        "woke": run.woke,
    }
