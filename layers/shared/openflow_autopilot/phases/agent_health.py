"""Agent health: one step of the loop "check the deployment -> read the agent's journals over SSM
-> diagnose -> remediate -> wait", until the deployment is ACTIVE or the budget is spent.

Each call does one step and returns; the state machine waits in between with intervals that
grow, so a 90-minute budget stays a few hundred history events. The step's state (pending
command, remediation counts, a short history) rides in the phase's outputs; full diagnoses go
to S3.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from openflow_autopilot.aws.s3uri import execution_prefix
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import BudgetExhausted, NotReadyYet
from openflow_autopilot.openflow.agent.collect import invocation_status, read_output, send_collect
from openflow_autopilot.openflow.agent.diagnose import Diagnosis, diagnose, existing_repositories
from openflow_autopilot.openflow.agent.remediate import plan_remediation, run_remediation
from openflow_autopilot.phases.models import Action, PhaseResult, utcnow
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

MAX_HISTORY = 20


def deployment_status(sql: Sql, request: ProvisionRequest) -> str:
    name = qualified(request.openflow.deployment_name)
    rows = sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(name)}")
    return str(rows[0].get("status") or "").upper() if rows else "MISSING"


def _finding_line(diagnosis: Diagnosis) -> str:
    parts = []
    for f in diagnosis.findings:
        if f.severity.value in ("error", "warning") and not f.resolved:
            missing = (
                f" ({len(f.missing_repositories)} missing: {', '.join(f.missing_repositories)})"
                if f.missing_repositories
                else ""
            )
            parts.append(f"{f.id}{missing}")
    return "; ".join(parts) or diagnosis.summary


def check_agent(
    request: ProvisionRequest,
    *,
    sql: Sql,
    ssm: Any,
    s3: Any,
    ecr: Any,
    bucket: str,
    execution: str,
    instance_id: str,
    state: dict[str, Any],
    max_attempts: int,
    max_remediations: int,
    base_wait_seconds: int,
    max_wait_seconds: int,
    now: datetime | None = None,
) -> PhaseResult:
    started = utcnow()
    now = now or datetime.now(UTC)
    attempt = int(state.get("attempt", 0)) + 1
    history: list[str] = list(state.get("history", []))
    actions = [Action.model_validate(a) for a in state.get("actions", [])]
    remediations: dict[str, int] = dict(state.get("remediations", {}))
    command_id: str | None = state.get("command_id")
    prefix = f"{execution_prefix(execution)}/agent"
    last = state.get("last_diagnosis")

    status = deployment_status(sql, request)
    done = status == "ACTIVE"
    if done:
        history.append(f"check {attempt}: deployment {status}")
    elif command_id:
        try:
            invocation = invocation_status(ssm, command_id, instance_id)
        except NotReadyYet:
            invocation = None
        if invocation is None or not invocation.done:
            history.append(f"check {attempt}: deployment {status}; waiting for the journal read")
        else:
            diagnosis = diagnose(
                read_output(s3, invocation), existing_repositories=existing_repositories(ecr), now=now
            )
            key = f"{prefix}/diagnosis-{attempt}.json"
            s3.put_object(Bucket=bucket, Key=key, Body=diagnosis.model_dump_json(indent=2).encode())
            last = {
                "summary": _finding_line(diagnosis),
                "state": diagnosis.state,
                "s3_uri": f"s3://{bucket}/{key}",
            }
            plan = plan_remediation(
                diagnosis,
                attempts_so_far=remediations,
                max_attempts=max_remediations,
                diagnose_only=request.diagnose_only,
            )
            remediations = dict(plan.attempts_after)
            did = []
            for item in plan.run:
                result = run_remediation(
                    item,
                    ecr=ecr,
                    ssm=ssm,
                    instance_id=instance_id,
                    output_bucket=bucket,
                    output_prefix=prefix,
                    tags=(
                        {"Key": "openflow:deployment", "Value": request.openflow.deployment_name},
                        {"Key": "created-by", "Value": "openflow-autopilot"},
                    ),
                )
                if result.created_repositories:
                    actions.append(
                        Action(
                            kind="create_ecr_repositories",
                            target=", ".join(result.created_repositories),
                            statement=f"ecr:CreateRepository x{len(result.created_repositories)} "
                            f"({item.id}, attempt {item.attempt})",
                        )
                    )
                if result.rerun_command_id:
                    actions.append(
                        Action(
                            kind="rerun_agent_services",
                            target=instance_id,
                            statement="systemctl start openflow-sync-images, "
                            "then openflow-apply-infrastructure",
                        )
                    )
                did.append(item.id)
            skipped = [f"{s.finding_id}: {s.detail}" for s in plan.skipped if s.reason != "covered"]
            history.append(
                f"check {attempt}: deployment {status}; diagnosis: {last['summary']}"
                + (f"; remediation: {', '.join(did)}" if did else "")
                + (f"; not remediated: {'; '.join(skipped)}" if skipped else "")
            )
            command_id = None
    else:
        try:
            command_id = send_collect(ssm, instance_id, output_bucket=bucket, output_prefix=prefix)
            history.append(f"check {attempt}: deployment {status}; reading the agent's journals over SSM")
        except NotReadyYet as exc:
            history.append(f"check {attempt}: deployment {status}; {exc.message}")

    if not done and attempt >= max_attempts:
        raise BudgetExhausted(
            f"deployment {request.openflow.deployment_name} is still {status} after {attempt} checks; "
            f"last diagnosis: {(last or {}).get('summary', 'none yet')}",
            call="agent health",
            fix="read the diagnosis named above (its full text is in S3), fix the cause, then redrive",
        )
    wait = min(max_wait_seconds, int(base_wait_seconds * (1.5 ** min(attempt, 20))))
    outputs = {
        "done": done,
        "status": status,
        "attempt": attempt,
        "command_id": command_id,
        "remediations": remediations,
        "wait_seconds": max(wait, base_wait_seconds),
        "history": history[-MAX_HISTORY:],
        "actions": [a.model_dump() for a in actions],
        "last_diagnosis": last,
    }
    notes = history[-MAX_HISTORY:] if done else history[-3:]
    return PhaseResult(
        phase="AgentHealth",
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=notes,
        outputs=outputs,
        started_at=started,
        ended_at=utcnow(),
    )


def diagnosis_json(diagnosis: Diagnosis) -> str:
    return json.dumps(diagnosis.model_dump(mode="json"))
