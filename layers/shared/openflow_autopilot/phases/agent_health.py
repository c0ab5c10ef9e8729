"""Agent health: one step of the loop "check the deployment -> read the agent's journals over SSM
-> diagnose -> remediate -> wait", until the deployment is ACTIVE or the budget is spent.

Gen 2 is done when the deployment is ACTIVE. Gen 1 has no deployment status in SQL: it is done
when its data plane integration is enabled and the agent's journal shows its success line
("All resources applied successfully") with no unresolved error after it, so every gen 1 step
reads the journals.

Each call does one step and returns; the state machine waits in between with intervals that
grow, so a 90-minute budget stays a few hundred history events. The step's state (pending
command, remediation counts, a short history) rides in the phase's outputs; full diagnoses go
to S3.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.s3uri import execution_prefix
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import BudgetExhausted, NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.agent.collect import invocation_status, read_output, send_collect
from openflow_autopilot.openflow.agent.diagnose import diagnose
from openflow_autopilot.openflow.agent.models import Diagnosis
from openflow_autopilot.openflow.agent.remediate import plan_remediation, run_remediation
from openflow_autopilot.openflow.agent.repository_check import existing_repositories
from openflow_autopilot.openflow.names import norm_name
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

MAX_HISTORY = 20


def deployment_status(sql: Sql, request: ProvisionRequest) -> str:
    name = qualified(request.openflow.deployment_name)
    rows = sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(name)}")
    return str(rows[0].get("status") or "").upper() if rows else "MISSING"


def integration_status(sql: Sql, name: str) -> str:
    """Gen 1: ENABLED, DISABLED or MISSING for the data plane integration `name`."""
    rows = [
        r
        for r in sql.query("SHOW OPENFLOW DATA PLANE INTEGRATIONS")
        if norm_name(r.get("name")) == norm_name(name)
    ]
    if not rows:
        return "MISSING"
    enabled = str(rows[0].get("enabled")).lower() in ("true", "1", "y", "yes")
    return "ENABLED" if enabled else "DISABLED"


def gen1_agent_instance(cfn: CloudFormationClient, *, data_plane_id: str) -> str:
    """The agent instance of an existing gen 1 deployment: the EC2 instance of the CloudFormation
    stack whose DataPlaneUUID parameter is the integration's data_plane_id."""
    wanted = data_plane_id.lower()
    if wanted:
        for page in cfn.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                if stack["StackStatus"].startswith("DELETE"):
                    continue
                params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
                if str(params.get("DataPlaneUUID") or "").lower() != wanted:
                    continue
                resources = cfn.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
                for r in resources:
                    if r["ResourceType"] == "AWS::EC2::Instance" and r.get("PhysicalResourceId"):
                        return str(r["PhysicalResourceId"])
    raise PreconditionFailed(
        f"no agent instance found for the gen 1 deployment (data plane {data_plane_id or 'unknown'}): "
        "no CloudFormation stack in this region has that DataPlaneUUID with an EC2 instance",
        call="cloudformation:DescribeStacks",
        fix="set request.openflow.agent_instance_id to the agent's EC2 instance id (its Name tag is "
        "openflow-agent-<key>), or set aws.region to the deployment's region",
    )


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
    ssm: SSMClient,
    s3: S3Client,
    ecr: ECRClient,
    bucket: str,
    execution: str,
    instance_id: str,
    state: dict[str, Any],
    integration: str | None = None,
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

    gen1 = request.openflow.generation is Generation.GEN1
    if gen1:
        status = integration_status(sql, integration or request.openflow.data_plane_integration or "")
    else:
        status = deployment_status(sql, request)
    what = "integration" if gen1 else "deployment"
    done = status == "ACTIVE"
    if done:
        history.append(f"check {attempt}: {what} {status}")
    elif command_id:
        try:
            invocation = invocation_status(ssm, command_id, instance_id)
        except NotReadyYet:
            invocation = None
        if invocation is None or not invocation.done:
            history.append(f"check {attempt}: {what} {status}; waiting for the journal read")
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
            # gen 1: the agent's success line (and nothing wrong after it) is the readiness signal
            done = gen1 and diagnosis.healthy and status == "ENABLED"
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
                f"check {attempt}: {what} {status}; diagnosis: {last['summary']}"
                + (f"; remediation: {', '.join(did)}" if did else "")
                + (f"; not remediated: {'; '.join(skipped)}" if skipped else "")
            )
            command_id = None
    else:
        try:
            command_id = send_collect(ssm, instance_id, output_bucket=bucket, output_prefix=prefix)
            history.append(f"check {attempt}: {what} {status}; reading the agent's journals over SSM")
        except NotReadyYet as exc:
            history.append(f"check {attempt}: {what} {status}; {exc.message}")

    if not done and attempt >= max_attempts:
        raise BudgetExhausted(
            f"deployment {integration or request.openflow.deployment_name} is still "
            f"{status + ' without a healthy agent' if gen1 else status} after {attempt} checks; "
            f"last diagnosis: {(last or {}).get('summary', 'none yet')}",
            call="agent health",
            fix="read the diagnosis named above (its full text is in S3), fix the cause, "
            "then start the workflow again with the same request",
        )
    wait = min(max_wait_seconds, int(base_wait_seconds * (1.5 ** min(attempt, 20))))
    outputs = {
        "done": done,
        "status": status,
        "instance_id": instance_id,
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
