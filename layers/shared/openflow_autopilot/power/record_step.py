"""The RecordStop and RecordStart states: an on/off record when something changed (for cost --actual
and the digest), and what the workflow remembers for next time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from openflow_autopilot.aws.clients import client
from openflow_autopilot.cost.records import (
    RECORDS_PREFIX,
    PowerRecord,
    append_record,
)
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.compute_check import ComputeCheck
from openflow_autopilot.power.decide import Decision
from openflow_autopilot.power.event import artifact_bucket
from openflow_autopilot.power.memory import update_memory
from openflow_autopilot.power.models import PhaseSeen, PowerPart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _changed(phases: dict[str, PhaseSeen], compute: ComputeCheck | None) -> bool:
    return any(p.status == "changed" for p in phases.values()) or bool(compute and compute.actions)


def _summary(phases: dict[str, PhaseSeen], compute: ComputeCheck | None) -> str:
    parts = []
    for name, result in phases.items():
        kinds = [a.kind for a in result.actions]
        parts.append(f"{name}: {', '.join(k for k in kinds if k) or 'no change'}")
    if compute and compute.actions:
        parts.append("compute: " + ", ".join(a.kind for a in compute.actions))
    return "; ".join(parts)[:900]


def record_outcome(
    power: PowerPart,
    decision: Decision,
    phases: dict[str, PhaseSeen],
    compute: ComputeCheck | None,
    *,
    restart_at: str | None,
    at: datetime,
    env: FunctionEnv,
    s3: S3Client | None = None,
) -> dict[str, Any]:
    """After a stop or start: an on/off record (only if something changed), and the memory: the
    manual hold this run creates, and the outcome."""
    deployment = power.deployment
    s3 = s3 or client("s3")
    bucket = artifact_bucket(env)
    action: Literal["stop", "start"] = "stop" if decision.run == "stop" else "start"
    result = "stopped" if action == "stop" else "started"
    changed = _changed(phases, compute)
    key = None
    if changed:
        reason = "override" if decision.action == "extend" else power.reason
        key = append_record(
            s3,
            bucket,
            RECORDS_PREFIX,
            PowerRecord(
                deployment=deployment,
                action=action,
                at=at,
                reason=reason,
                note=_summary(phases, compute) or None,
            ),
        )
    update_memory(
        s3,
        bucket,
        deployment,
        hold=decision.hold,
        last_action=action,
        last_outcome=result if changed else f"already {result}",
        last_at=at,
    )
    return {
        "result": result,
        "changed": changed,
        "record_key": key,
        "why": decision.why,
        "restart_at": restart_at,
        "note": None if changed else f"nothing changed: it was already {result} (no record written)",
    }
