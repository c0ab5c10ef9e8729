"""The Record state: every run as a WatchRun (a failed step becomes a finding, so a watch that
cannot see still alerts), what the next run remembers, and the alert when the verdict changed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.postgres.models import WalSample
from openflow_autopilot.watch import alerts, store
from openflow_autopilot.watch.event import at_of, memory_of, request_of, watch_of
from openflow_autopilot.watch.heartbeat import freshness
from openflow_autopilot.watch.models import (
    Finding,
    Heal,
    Heartbeat,
    SlotReading,
    WatchMemory,
    WatchRun,
    worst,
)


def _error_finding(error: dict[str, Any]) -> Finding:
    cause = str(error.get("Cause") or "")
    try:
        message = str(json.loads(cause).get("errorMessage") or cause)
    except ValueError:
        message = cause
    return Finding(
        kind="watch_error",
        severity="critical",
        message=f"the watch could not finish: {error.get('Error')}: {message[:500]}",
        fix="the message names the call that failed and its fix; the next run tries again",
    )


def build_run(event: dict[str, Any], at: datetime) -> tuple[WatchRun, WatchMemory]:
    """The run's record and the memory it leaves, from the steps' parts (pure)."""
    request, memory, watch = request_of(event), memory_of(event), watch_of(event)
    findings: list[Finding] = []
    heals: list[Heal] = []
    openflow = event.get("openflow") or {}
    findings += [Finding.model_validate(f) for f in openflow.get("findings") or []]
    heals += [Heal.model_validate(h) for h in openflow.get("heals") or []]
    counts = {
        d: dict(c)
        for d, c in (memory.heals or {}).items()
        if d >= (at - timedelta(days=2)).date().isoformat()
    }
    counts.update(openflow.get("heal_counts") or {})
    check = event.get("freshness")
    breaches, pending = memory.breaches, memory.pending
    heartbeat_seconds = None
    if check:
        seen = [Heartbeat.model_validate(b) for b in check.get("seen") or []]
        pending = [Heartbeat.model_validate(b) for b in check.get("pending") or []][-48:]
        found, breaches = freshness(
            seen, pending, now=at, slo_seconds=request.watch.freshness_slo_seconds, breaches=memory.breaches
        )
        findings.append(found)
        heartbeat_seconds = check.get("heartbeat_seconds")
    slot = event.get("slot") or {}
    reading = SlotReading.model_validate(slot["reading"]) if slot.get("reading") else None
    findings += [Finding.model_validate(f) for f in slot.get("findings") or []]
    if event.get("error"):
        findings.append(_error_finding(event["error"]))
    woke = (event.get("woke") or {}).get("execution")
    run = WatchRun(
        deployment=str(watch.get("deployment") or request.openflow.deployment_name),
        at=at,
        mode=watch.get("mode") or "on",
        findings=findings,
        heals=heals,
        heartbeat_seconds=heartbeat_seconds,
        slot=reading,
        severity=worst([f.severity for f in findings]),
        woke=woke,
        execution=watch.get("execution"),
    )
    updated = memory.model_copy(
        update={
            "heals": counts,
            "pending": pending,
            "breaches": breaches,
            "last_slot": reading or memory.last_slot,
            "last_slot_at": at if reading is not None else memory.last_slot_at,
            "wal_sample": WalSample.model_validate(slot["wal_sample"])
            if slot.get("wal_sample")
            else memory.wal_sample,
            "woke_at": at if woke else memory.woke_at,
        }
    )
    return run, updated


def record_step(
    event: dict[str, Any], *, env: FunctionEnv, s3: Any = None, sns: Any = None, secrets: Any = None
) -> dict[str, Any]:
    """The run's findings stored, the memory saved, and an alert when something changed."""
    request = request_of(event)
    at = at_of(event)
    run, memory = build_run(event, at)
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
