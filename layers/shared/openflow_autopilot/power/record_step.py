"""The RecordStop and RecordStart states: an on/off record when something changed (for cost --actual
and the digest), and what the workflow remembers for next time."""

from __future__ import annotations

from typing import Any, Literal

from openflow_autopilot.aws.clients import client
from openflow_autopilot.core.results import utcnow
from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.cost.records import (
    RECORDS_PREFIX,
    PowerRecord,
    append_record,
)
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.decide import Decision
from openflow_autopilot.power.event import artifact_bucket, power_of
from openflow_autopilot.power.memory import update_memory


def _changed(event: dict[str, Any]) -> bool:
    phases = event.get("phases") or {}
    if any(isinstance(p, dict) and p.get("status") == "changed" for p in phases.values()):
        return True
    compute = (event.get("polls") or {}).get("compute") or {}
    return bool(compute.get("actions"))


def _summary(event: dict[str, Any]) -> str:
    parts = []
    for name, result in (event.get("phases") or {}).items():
        if isinstance(result, dict):
            kinds = [a.get("kind") for a in result.get("actions") or []]
            parts.append(f"{name}: {', '.join(k for k in kinds if k) or 'no change'}")
    compute = (event.get("polls") or {}).get("compute") or {}
    if compute.get("actions"):
        parts.append("compute: " + ", ".join(str(a.get("kind")) for a in compute["actions"]))
    return "; ".join(parts)[:900]


def record_step(event: dict[str, Any], *, env: FunctionEnv, s3: Any = None) -> dict[str, Any]:
    """After a stop or start: an on/off record (only if something changed), and the memory: the
    manual hold this run creates, and the outcome."""
    power = power_of(event)
    decision = Decision.model_validate(event["decision"])
    deployment = str(power["deployment"])
    at = parse_instant(event.get("at") or utcnow(), "at")
    s3 = s3 or client("s3")
    bucket = artifact_bucket(env)
    action: Literal["stop", "start"] = "stop" if decision.run == "stop" else "start"
    result = "stopped" if action == "stop" else "started"
    changed = _changed(event)
    key = None
    if changed:
        reason = "override" if decision.action == "extend" else str(power.get("reason") or "manual")
        key = append_record(
            s3,
            bucket,
            RECORDS_PREFIX,
            PowerRecord(
                deployment=deployment, action=action, at=at, reason=reason, note=_summary(event) or None
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
    restart_at = (event.get("wal") or {}).get("restart_at")
    return {
        "result": result,
        "changed": changed,
        "record_key": key,
        "why": decision.why,
        "restart_at": restart_at,
        "note": None if changed else f"nothing changed: it was already {result} (no record written)",
    }
