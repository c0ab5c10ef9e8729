"""The CloudFormation stack phase: create the deployment's stack from the repaired template (or
update it), then report its status once per call; the state machine waits between calls.

Failures are diagnosed from the stack events: the first resource that failed and its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import error_code, error_message, translate
from openflow_autopilot.aws.s3uri import S3Location
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.core.tags import MANAGED_BY, OWNER_TAG
from openflow_autopilot.errors import (
    BudgetExhausted,
    PreconditionFailed,
    StackFailed,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_ec2 import EC2Client

DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_FAILED",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
    "IMPORT_ROLLBACK_FAILED",
}
CAPABILITIES: list[CapabilityType] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]


def stack_name_for(deployment: str) -> str:
    """openflow-<deployment>-<hash> in CloudFormation's alphabet ([A-Za-z][-A-Za-z0-9]*, at most 128:
    docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html). Folding and
    replacing characters makes different deployments (SALES_CDC, SALES$CDC, "sales-cdc") look alike,
    so the name ends with a hash of the deployment's exact name."""
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:8]
    return f"{legacy_stack_name(deployment)}-{digest}"


def legacy_stack_name(deployment: str) -> str:
    """The name earlier releases gave the stack (no hash): still used for a stack that carries this
    deployment's tags, so an upgrade never creates a second stack."""
    return "openflow-" + re.sub(r"[^A-Za-z0-9-]", "-", deployment.lower()).strip("-")[:100]


def owner_problem(stack: dict[str, Any], deployment: str) -> str | None:
    """Why an existing stack is not this deployment's (its tags), or None when it is."""
    tags = {t.get("Key"): t.get("Value") for t in stack.get("Tags") or []}
    if tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
        return (
            f"stack {stack.get('StackName')} was not created by openflow-autopilot (no {MANAGED_BY[0]} tag)"
        )
    if tags.get(OWNER_TAG) != deployment:
        return (
            f"stack {stack.get('StackName')} belongs to deployment {tags.get(OWNER_TAG)!r} ({OWNER_TAG} tag)"
        )
    return None


def find_stack(cfn: CloudFormationClient, deployment: str) -> tuple[str, dict[str, Any] | None]:
    """The deployment's stack name and the stack, if any: the hashed name, or an earlier release's
    name when that stack carries this deployment's tags. A stack of another deployment is refused."""
    name = stack_name_for(deployment)
    stack = describe(cfn, name)
    if stack is None:
        legacy = describe(cfn, legacy_stack_name(deployment))
        if legacy is not None and owner_problem(legacy, deployment) is None:
            return legacy_stack_name(deployment), legacy
        return name, None
    problem = owner_problem(stack, deployment)
    if problem is not None:
        raise PreconditionFailed(
            f"{problem}: it is never adopted, updated or deleted by this deployment's run",
            call="cloudformation:DescribeStacks",
            fix="delete or rename that stack if it is a leftover, or check openflow.deployment_name",
        )
    return name, stack


def template_url(location: S3Location, region: str) -> str:
    return f"https://{location.bucket}.s3.{region}.amazonaws.com/{location.key}"


def _aws_error(exc: ClientError, call: str) -> Exception:
    """aws/calls' mapping; anything it leaves to the caller is a PreconditionFailed here."""
    mapped = translate(exc, call, invalid=frozenset())
    return mapped or PreconditionFailed(f"{call}: {error_code(exc)}: {error_message(exc)}", call=call)


def describe(cfn: CloudFormationClient, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise _aws_error(exc, "cloudformation:DescribeStacks") from None
    stack = cast("dict[str, Any]", stacks[0])
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack


def first_failure(cfn: CloudFormationClient, stack_name: str) -> str:
    """The oldest FAILED event's resource and reason: the cause; later failures are consequences."""
    events: list[Any] = []  # StackEventTypeDef, read by their documented keys
    kwargs: dict[str, Any] = {"StackName": stack_name}
    while True:
        page = cfn.describe_stack_events(**kwargs)
        events.extend(page["StackEvents"])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    if not failed:
        return "no resource reported a failure"
    first = min(failed, key=lambda e: e["Timestamp"])
    return (
        f"{first['LogicalResourceId']} ({first.get('ResourceType', '?')}) {first['ResourceStatus']}: "
        f"{first.get('ResourceStatusReason', 'no reason given')}"
    )


def _role(role_arn: str | None) -> dict[str, Any]:
    return {"RoleARN": role_arn} if role_arn else {}


def _create(
    cfn: CloudFormationClient,
    stack_name: str,
    url: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    role_arn: str | None,
) -> str:
    try:
        stack_id: str = cfn.create_stack(
            **_role(role_arn),
            StackName=stack_name,
            TemplateURL=url,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            OnFailure="ROLLBACK",
        )["StackId"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "AlreadyExistsException":
            # The SDK retried a CreateStack whose answer was lost (or a concurrent run created it):
            # the stack exists now, and the state machine waits for it like any stack in progress.
            existing = describe(cfn, stack_name)
            if existing is not None:
                return str(existing["StackId"])
        raise _aws_error(exc, "cloudformation:CreateStack") from None
    return stack_id


def ensure_stack(
    cfn: CloudFormationClient,
    *,
    stack_name: str,
    template: S3Location,
    region: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    allow_recreate: bool,
    role_arn: str | None = None,
    template_body: str | None = None,
) -> PhaseResult:
    started = utcnow()
    url = template_url(template, region)
    stack = describe(cfn, stack_name)
    actions: list[Action] = []
    notes: list[str] = []
    if stack is None:
        _create(cfn, stack_name, url, parameters, tags, role_arn)
        actions.append(
            Action(kind="create_stack", target=stack_name, statement=f"CreateStack from {template.uri}")
        )
        operation = "create"
    elif stack["StackStatus"] == "ROLLBACK_COMPLETE":
        reason = first_failure(cfn, stack_name)
        if not allow_recreate:
            raise StackFailed(
                f"stack {stack_name} is ROLLBACK_COMPLETE from an earlier attempt; first failure: {reason}",
                call="cloudformation:DescribeStacks",
                fix="fix the cause, then delete the stack or set allow_recreate_stack: true in the request",
            )
        cfn.delete_stack(StackName=stack_name)
        actions.append(
            Action(kind="delete_stack", target=stack_name, statement="DeleteStack (ROLLBACK_COMPLETE)")
        )
        notes.append(f"deleted the rolled-back stack (first failure was: {reason}); it is created again")
        operation = "recreate"
    elif stack["StackStatus"].endswith("_IN_PROGRESS"):
        notes.append(f"stack {stack_name} is {stack['StackStatus']}: waiting for it")
        operation = "wait"
    elif template_body is not None and _unchanged(cfn, stack, template_body, parameters):
        notes.append(f"stack {stack_name} already runs this template: no update")
        operation = "none"
    else:
        try:
            cfn.update_stack(
                **_role(role_arn),
                StackName=stack_name,
                TemplateURL=url,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=CAPABILITIES,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            actions.append(
                Action(kind="update_stack", target=stack_name, statement=f"UpdateStack from {template.uri}")
            )
            operation = "update"
        except ClientError as exc:
            if "No updates are to be performed" not in exc.response.get("Error", {}).get("Message", ""):
                raise _aws_error(exc, "cloudformation:UpdateStack") from None
            operation = "none"
    return PhaseResult(
        phase="Stack",
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=notes,
        outputs={
            "stack_name": stack_name,
            "operation": operation,
            "template_url": url,
            "parameters": parameters,
            "tags": tags,
            "role_arn": role_arn,
            "attempt": 0,
        },
        started_at=started,
        ended_at=utcnow(),
    )


def _unchanged(
    cfn: CloudFormationClient, stack: dict[str, Any], template_body: str, parameters: dict[str, str]
) -> bool:
    """Same template text and the same explicit parameter values: nothing to update."""
    current = cfn.get_template(StackName=stack["StackName"])["TemplateBody"]
    if isinstance(current, dict):  # boto3 hands back a JSON template already parsed
        try:
            same = current == json.loads(template_body)
        except json.JSONDecodeError:
            same = False
    else:
        same = str(current).strip() == template_body.strip()
    if not same:
        return False
    live = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    return all(live.get(k) == v for k, v in parameters.items())


def find_agent_instance(ec2: EC2Client, deployment_key: str) -> str | None:
    """The agent instance: Name tag openflow-agent-<key>, newest running/pending one."""
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [f"openflow-agent-{deployment_key}"]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        return None
    newest = max(instances, key=lambda i: i["LaunchTime"])
    return str(newest["InstanceId"])


def check_stack(
    cfn: CloudFormationClient,
    ec2: EC2Client,
    *,
    stack: dict[str, Any],
    deployment_key: str | None,
    max_attempts: int,
) -> dict[str, Any]:
    """One poll. Returns the stack state with done=True when complete; raises on failure or budget."""
    name = stack["stack_name"]
    attempt = int(stack.get("attempt", 0)) + 1
    current = describe(cfn, name)
    if current is None:
        if stack.get("operation") == "recreate":
            _create(
                cfn,
                name,
                stack["template_url"],
                stack.get("parameters", {}),
                stack.get("tags", {}),
                stack.get("role_arn"),
            )
            return {
                **stack,
                "operation": "create",
                "attempt": attempt,
                "status": "CREATE_IN_PROGRESS",
                "done": False,
            }
        raise StackFailed(f"stack {name} does not exist", call="cloudformation:DescribeStacks")
    status = current["StackStatus"]
    if status in FAILED or (status.endswith("_COMPLETE") and status.startswith("DELETE")):
        if status == "ROLLBACK_COMPLETE" and stack.get("operation") == "recreate" and attempt == 1:
            status = "DELETE_IN_PROGRESS"  # the delete we asked for has not shown yet
        else:
            raise StackFailed(
                f"stack {name} ended {status}; first failure: {first_failure(cfn, name)}",
                call="cloudformation:CreateStack"
                if stack.get("operation") == "create"
                else "cloudformation:UpdateStack",
                fix="fix the cause named above (stack events in the CloudFormation console give the detail), "
                "then set allow_recreate_stack: true or delete the stack, and start the workflow again",
            )
    if status in DONE:
        outputs = {o["OutputKey"]: o["OutputValue"] for o in current.get("Outputs", [])}
        agent = find_agent_instance(ec2, deployment_key) if deployment_key else None
        return {
            **stack,
            "attempt": attempt,
            "status": status,
            "done": True,
            "outputs": outputs,
            "agent_instance_id": agent or outputs.get("AgentInstanceId"),
        }
    if attempt >= max_attempts:
        raise BudgetExhausted(
            f"stack {name} is still {status} after {attempt} checks",
            call="cloudformation:DescribeStacks",
            fix="look at the stack in the CloudFormation console; start the workflow again to keep waiting",
        )
    return {**stack, "attempt": attempt, "status": status, "done": False}
