"""The provisioning state machine's Task states up to the source (statemachines/provision.asl.json),
one function each, named as the state; functions/<state>/app.py calls exactly one of them. Each
parses its state's input (steps/provision_inputs.py) and calls phases/ with typed values. The
states after the stack (agent health to the canary) are in steps/delivery.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from openflow_autopilot import notify
from openflow_autopilot.aws.clients import client
from openflow_autopilot.aws.s3uri import S3Location
from openflow_autopilot.config import Generation, parse_request
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv, SchedulesEnv, StackEnv
from openflow_autopilot.phases import source as source_phase
from openflow_autopilot.phases.deployment import ensure_deployment
from openflow_autopilot.phases.prerequisites import run_prerequisites
from openflow_autopilot.phases.stack import check_stack as stack_poll
from openflow_autopilot.phases.stack import ensure_stack, find_stack
from openflow_autopilot.phases.template_doctor import repair_template
from openflow_autopilot.phases.template_intake import await_upload, read_template
from openflow_autopilot.postgres.source_admin import source_admin
from openflow_autopilot.power.schedules_step import ensure_schedules
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.steps.inputs import parse
from openflow_autopilot.steps.provision_inputs import (
    AwaitTemplateInput,
    CheckSourceInput,
    CheckStackInput,
    RebootSourceInput,
    SchedulesInput,
    StepInput,
    TemplateInput,
    ValidateInput,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


def _parse[M: BaseModel](model: type[M], event: dict[str, Any]) -> M:
    return parse(model, event, "provisioning")


# --- the request, the Snowflake account, the deployment ---------------------------------------
def validate(event: dict[str, Any]) -> dict[str, Any]:
    """Validate: the normalised request, or InvalidRequest naming the fields."""
    given = _parse(ValidateInput, event)
    request = parse_request(given.request)
    state: dict[str, Any] = {"request": request.model_dump(mode="json"), "phases": {}}
    if given.origin:
        state["origin"] = given.origin  # a ticket or Slack command: Notify reports back there
    return state


def snowflake_prerequisites(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """SnowflakePrerequisites: the roles, grants and network rule the deployment needs (§1)."""
    given = _parse(StepInput, event)
    return run_prerequisites(given.request, env=env, secrets=secrets, connector=connector)


def deployment(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """Deployment. Gen 2: create the deployment as the Openflow admin role (its owner). Gen 1: find
    the integration the UI created, as the login role, which can see and alter it."""
    request = _parse(StepInput, event).request
    gen1 = request.openflow.generation is Generation.GEN1
    role = request.snowflake.login_role if gen1 else request.snowflake.admin_role
    with request_session(request, role, env=env, secrets=secrets, connector=connector) as sql:
        return ensure_deployment(sql, request)


# --- the template and the stack ----------------------------------------------------------------
def await_template(
    event: dict[str, Any],
    *,
    env: ArtifactsEnv,
    s3: S3Client | None = None,
    sns: SNSClient | None = None,
    sfn: SFNClient | None = None,
) -> dict[str, Any]:
    """AwaitTemplate: remember the task token, tell humans exactly what to upload where."""
    given = _parse(AwaitTemplateInput, event)
    request = given.request
    s3 = s3 or client("s3", request.aws.region)
    result = await_upload(
        s3,
        sfn or client("stepfunctions", request.aws.region),
        bucket=env.require_artifact_bucket(),
        deployment=request.openflow.deployment_name,
        task_token=given.task_token,
        execution=given.execution or "",
        timeout_seconds=given.timeout_seconds,
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


def template_doctor(event: dict[str, Any], *, env: ArtifactsEnv, s3: S3Client | None = None) -> PhaseResult:
    """TemplateDoctor: the uploaded template's known defects found and (template_repair) fixed."""
    given = _parse(TemplateInput, event)
    key = given.deployment.key if given.deployment else None
    return repair_template(
        s3 or client("s3", given.request.aws.region),
        bucket=env.require_artifact_bucket(),
        execution=given.execution or "manual",
        template_uri=given.template_s3_uri,
        expected_parameters={"DataPlaneKey": key} if key else None,
        repair=given.request.openflow.template_repair == "apply",
    )


def stack(
    event: dict[str, Any],
    *,
    env: StackEnv,
    cfn: CloudFormationClient | None = None,
    s3: S3Client | None = None,
) -> PhaseResult:
    """Stack: create (or update) the deployment's CloudFormation stack from the repaired template."""
    given = _parse(TemplateInput, event)
    request = given.request
    cfn = cfn or client("cloudformation", request.aws.region)
    stack_name, _ = find_stack(cfn, request.openflow.deployment_name)  # refuses another deployment's
    return ensure_stack(
        cfn,
        template_body=read_template(s3 or client("s3", request.aws.region), given.template_s3_uri),
        stack_name=stack_name,
        template=S3Location.parse(given.template_s3_uri),
        region=request.aws.region,
        parameters={},
        tags={
            "openflow:deployment": request.openflow.deployment_name,
            "openflow:key": (given.deployment.key if given.deployment else None) or "",
            "managed-by": "openflow-autopilot",
        },
        allow_recreate=request.allow_recreate_stack,
        role_arn=env.stack_role_arn,
    )


def check_stack(
    event: dict[str, Any], *, cfn: CloudFormationClient | None = None, ec2: EC2Client | None = None
) -> dict[str, Any]:
    """CheckStack: one poll of the stack (and its agent instance once it is complete)."""
    given = _parse(CheckStackInput, event)
    region = given.request.aws.region
    return stack_poll(
        cfn or client("cloudformation", region),
        ec2 or client("ec2", region),
        stack=given.stack,
        deployment_key=given.deployment.key if given.deployment else None,
        max_attempts=given.max_attempts,
    )


# --- the source database ---------------------------------------------------------------------------
def source_preflight(
    event: dict[str, Any], *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> PhaseResult:
    """SourcePreflight: read-only checks of the source; blocking findings stop the run here."""
    request = _parse(StepInput, event).request
    return source_phase.preflight(request, source_admin(request, secrets=secrets, rds=rds))


def source_parameters(event: dict[str, Any], *, rds: RDSClient | None = None) -> PhaseResult:
    """SourceParameters: the RDS parameter group with logical replication; reboots only when the
    request allows it (else AwaitRebootApproval asks)."""
    request = _parse(StepInput, event).request
    return source_phase.rds_parameters(request, rds=rds or client("rds", request.aws.region))


def reboot_source(event: dict[str, Any], *, rds: RDSClient | None = None) -> PhaseResult:
    """RebootSource: the same phase once a human approved the reboot."""
    given = _parse(RebootSourceInput, event)
    request = given.request
    return source_phase.rds_parameters(
        request,
        rds=rds or client("rds", request.aws.region),
        allow_reboot=True if given.approval.approved else None,
    )


def check_source(event: dict[str, Any], *, rds: RDSClient | None = None) -> dict[str, Any]:
    """CheckSource: one poll, the instance available and its parameters in sync."""
    given = _parse(CheckSourceInput, event)
    request = given.request
    return source_phase.rds_ready(
        request,
        rds=rds or client("rds", request.aws.region),
        state=given.source,
        max_attempts=given.max_attempts,
    )


def source_prepare(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
) -> PhaseResult:
    """SourcePrepare: the connector's user, its password secret, the publication and the slot."""
    request = _parse(StepInput, event).request
    secrets = secrets or client("secretsmanager", request.aws.region)
    return source_phase.prepare(
        request,
        source_admin(request, secrets=secrets, rds=rds),
        secrets=secrets,
        secret_name=source_phase.connector_secret_name(request, env.secrets_prefix),
    )


# --- the end ----------------------------------------------------------------------------------------
def schedules(
    event: dict[str, Any],
    *,
    env: SchedulesEnv,
    s3: S3Client | None = None,
    scheduler: EventBridgeSchedulerClient | None = None,
) -> PhaseResult:
    """Schedules: store the request for the power workflow and match the deployment's EventBridge
    Scheduler schedules to its schedule (none: always on, schedules removed)."""
    given = _parse(SchedulesInput, event)
    now = parse_instant(given.now, "now") if given.now else datetime.now(UTC)
    return ensure_schedules(
        given.request, now=now, state_machine=given.state_machine, env=env, s3=s3, scheduler=scheduler
    )
