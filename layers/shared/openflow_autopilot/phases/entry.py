"""Glue between a Lambda event and a phase: parse, fetch credentials, open sessions, run.

Handlers stay a few lines: they call one function from here with the event.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from openflow_autopilot import approvals, notify
from openflow_autopilot.aws.clients import client
from openflow_autopilot.aws.s3uri import S3Location
from openflow_autopilot.config import Generation, ProvisionRequest, parse_request
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.phases import source as source_phase
from openflow_autopilot.phases.connector import gen1_connector_instructions
from openflow_autopilot.phases.deployment import ensure_deployment
from openflow_autopilot.phases.prerequisites import ensure_prerequisites
from openflow_autopilot.phases.runtime import gen1_runtime_instructions
from openflow_autopilot.phases.stack import check_stack, ensure_stack, find_stack
from openflow_autopilot.phases.template_doctor import repair_template
from openflow_autopilot.phases.template_intake import await_upload, read_template, resume_on_upload
from openflow_autopilot.snowflake.login import recorded, request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector, load_credentials, session


def validate(event: dict[str, Any]) -> dict[str, Any]:
    """The Validate state: the normalised request, or InvalidRequest naming the fields."""
    request = parse_request(event.get("request"))
    state: dict[str, Any] = {"request": request.model_dump(mode="json"), "phases": {}}
    if event.get("origin"):
        state["origin"] = event["origin"]  # a ticket or Slack command: Notify reports back there
    return state


def snowflake_prerequisites(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: Any = None,
    connector: Connector = _default_connector,
    apply: bool = True,
) -> PhaseResult:
    request = parse_request(event.get("request"))
    return run_prerequisites(request, env=env, secrets=secrets, connector=connector, apply=apply)


def run_prerequisites(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    secrets: Any = None,
    connector: Connector = _default_connector,
    apply: bool = True,
) -> PhaseResult:
    secrets = secrets or client("secretsmanager", request.aws.region)
    creds = load_credentials(secrets, request.snowflake.credentials_secret_arn)
    opened = session(
        request.snowflake.account,
        creds,
        role=request.snowflake.login_role,
        endpoint=env.snowflake_endpoint,
        connector=connector,
    )
    with recorded(opened, request.snowflake.login_role) as sql:
        return ensure_prerequisites(sql, request, apply=apply, login_user=creds.user)


def _session_as(
    request: ProvisionRequest, role: str, *, env: FunctionEnv, secrets: Any, connector: Connector
) -> Any:
    return request_session(request, role, env=env, secrets=secrets, connector=connector)


def deployment(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: Any = None,
    connector: Connector = _default_connector,
    apply: bool = True,
) -> PhaseResult:
    """Gen 2: create the deployment as the Openflow admin role (its owner). Gen 1: find the
    integration the UI created, as the login role, which can see and alter it."""
    request = parse_request(event.get("request"))
    gen1 = request.openflow.generation is Generation.GEN1
    role = request.snowflake.login_role if gen1 else request.snowflake.admin_role
    with _session_as(request, role, env=env, secrets=secrets, connector=connector) as sql:
        return ensure_deployment(sql, request, apply=apply)


def await_template(
    event: dict[str, Any], *, env: FunctionEnv, s3: Any = None, sns: Any = None, sfn: Any = None
) -> dict[str, Any]:
    """Pause point: remember the task token, tell humans exactly what to upload where."""
    request = parse_request(event.get("request"))
    bucket = _artifact_bucket(env)
    s3 = s3 or client("s3", request.aws.region)
    result = await_upload(
        s3,
        sfn or client("stepfunctions", request.aws.region),
        bucket=bucket,
        deployment=request.openflow.deployment_name,
        task_token=str(event["task_token"]),
        execution=str(event.get("execution", "")),
        timeout_seconds=int(event.get("timeout_seconds", 86400)),
    )
    if result["resumed"]:
        return result
    notify.send_action_needed(
        request,
        subject=f"Openflow Autopilot: {request.name} needs the deployment template",
        text=result["instructions"],
        default_topic_arn=env.notify_topic_arn,
        sns=sns,
    )
    return result


def template_uploaded(event: dict[str, Any], *, s3: Any = None, sfn: Any = None) -> list[dict[str, Any]]:
    """S3 ObjectCreated records -> resume the executions waiting for those templates."""
    s3 = s3 or client("s3")
    sfn = sfn or client("stepfunctions")
    results = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        results.append(resume_on_upload(s3, sfn, bucket=bucket, key=key))
    return results


def template_doctor(event: dict[str, Any], *, env: FunctionEnv, s3: Any = None) -> PhaseResult:
    request = parse_request(event.get("request"))
    deployment_info = event.get("deployment") or {}
    expected = {"DataPlaneKey": str(deployment_info["key"])} if deployment_info.get("key") else None
    return repair_template(
        s3 or client("s3", request.aws.region),
        bucket=_artifact_bucket(env),
        execution=str(event.get("execution", "manual")),
        template_uri=str(event["template_s3_uri"]),
        expected_parameters=expected,
        repair=request.openflow.template_repair == "apply",
    )


def stack(event: dict[str, Any], *, env: FunctionEnv, cfn: Any = None, s3: Any = None) -> PhaseResult:
    request = parse_request(event.get("request"))
    deployment_info = event.get("deployment") or {}
    template_uri = str(event["template_s3_uri"])
    cfn = cfn or client("cloudformation", request.aws.region)
    stack_name, _ = find_stack(cfn, request.openflow.deployment_name)  # refuses another deployment's
    return ensure_stack(
        cfn,
        template_body=read_template(s3 or client("s3", request.aws.region), template_uri),
        stack_name=stack_name,
        template=S3Location.parse(template_uri),
        region=request.aws.region,
        parameters={},
        tags={
            "openflow:deployment": request.openflow.deployment_name,
            "openflow:key": str(deployment_info.get("key") or ""),
            "managed-by": "openflow-autopilot",
        },
        allow_recreate=request.allow_recreate_stack,
        role_arn=env.stack_role_arn,
    )


def stack_status(event: dict[str, Any], *, cfn: Any = None, ec2: Any = None) -> dict[str, Any]:
    request = parse_request(event.get("request"))
    deployment_info = event.get("deployment") or {}
    return check_stack(
        cfn or client("cloudformation", request.aws.region),
        ec2 or client("ec2", request.aws.region),
        stack=dict(event["stack"]),
        deployment_key=deployment_info.get("key"),
        max_attempts=int(event.get("max_attempts", 120)),
    )


def _artifact_bucket(env: FunctionEnv) -> str:
    return env.require_artifact_bucket()


# --- the source database -----------------------------------------------------------------
def _source_admin(request: ProvisionRequest, *, secrets: Any, rds: Any) -> source_phase.SourceAdmin:
    return source_phase.admin_login(
        request,
        secrets=secrets or client("secretsmanager", request.aws.region),
        rds=(rds or client("rds", request.aws.region)) if request.source.rds_instance_id else None,
    )


def source_preflight(event: dict[str, Any], *, secrets: Any = None, rds: Any = None) -> PhaseResult:
    request = parse_request(event.get("request"))
    return source_phase.preflight(request, _source_admin(request, secrets=secrets, rds=rds))


def source_parameters(event: dict[str, Any], *, rds: Any = None) -> PhaseResult:
    """RDS: the parameter group with logical replication; reboots only when allowed (or approved)."""
    request = parse_request(event.get("request"))
    approved = bool((event.get("approval") or {}).get("approved"))
    return source_phase.rds_parameters(
        request,
        rds=rds or client("rds", request.aws.region),
        allow_reboot=True if approved else None,
    )


def source_status(event: dict[str, Any], *, rds: Any = None) -> dict[str, Any]:
    request = parse_request(event.get("request"))
    return source_phase.rds_ready(
        request,
        rds=rds or client("rds", request.aws.region),
        state=dict(event.get("source") or {}),
        max_attempts=int(event.get("max_attempts", 120)),
    )


def source_prepare(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, rds: Any = None
) -> PhaseResult:
    request = parse_request(event.get("request"))
    secrets = secrets or client("secretsmanager", request.aws.region)
    return source_phase.prepare(
        request,
        _source_admin(request, secrets=secrets, rds=rds),
        secrets=secrets,
        secret_name=source_phase.connector_secret_name(request, env.secrets_prefix),
    )


def await_approval(
    event: dict[str, Any], *, env: FunctionEnv, s3: Any = None, sns: Any = None
) -> dict[str, Any]:
    """Pause point for a human decision: store the token under an approval id, ask humans."""
    request = parse_request(event.get("request"))
    kind = str(event["kind"])
    text = approval_text(request, kind, event)
    approval = approvals.create_approval(
        s3 or client("s3", request.aws.region),
        bucket=_artifact_bucket(env),
        kind=kind,  # type: ignore[arg-type]
        request_name=request.name,
        execution=str(event.get("execution", "")),
        task_token=str(event["task_token"]),
        text=text,
    )
    how = (
        f"Approve: openflow-autopilot resume {approval.id}   "
        f"Reject: openflow-autopilot resume {approval.id} --reject"
    )
    notify.send_action_needed(
        request,
        subject=f"Openflow Autopilot: {request.name} is waiting for your approval ({kind})",
        text=f"{text}\n{how}",
        default_topic_arn=env.notify_topic_arn,
        sns=sns,
        approval_id=approval.id,
    )
    return {"approval_id": approval.id, "kind": kind}


def approval_text(request: ProvisionRequest, kind: str, event: dict[str, Any] | None = None) -> str:
    event = event or {}
    if kind == "reboot":
        return (
            f"RDS instance {request.source.rds_instance_id} must reboot to turn on logical replication "
            "(rds.logical_replication = 1 is pending-reboot); the database is unavailable for a few minutes. "
            "The request does not allow a reboot now (source.allow_reboot: false)."
        )
    if kind == "gen1_runtime":
        return gen1_runtime_instructions(request, resume_hint="approve this request (the command is below)")
    if kind == "gen1_connector":
        source, destination = dict(event.get("source") or {}), dict(event.get("destination") or {})
        if not source or not destination:
            raise ConfigurationError(
                "the gen1_connector approval needs the source and destination phases' outputs",
                fix="pass source and destination in the AwaitConnector state's payload",
            )
        return (
            gen1_connector_instructions(
                request,
                source=source,
                destination=destination,
                password_secret_arn=str(source["password_secret_arn"]),
                key_secret_arn=str(destination["key_secret_arn"]),
            )
            + "\nThen approve this request (the command is below); the workflow then proves a row replicates."
        )
    raise ConfigurationError(f"unknown approval kind {kind!r}")
