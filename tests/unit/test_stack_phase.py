"""The stack phase's decisions: create, update only when the template changed, refuse or
recreate a rolled-back stack, diagnose a failure from the stack events, bound the wait."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from openflow_autopilot.aws.s3uri import S3Location
from openflow_autopilot.errors import BudgetExhausted, PreconditionFailed, StackFailed
from openflow_autopilot.phases.stack import (
    check_stack,
    ensure_stack,
    find_stack,
    legacy_stack_name,
    stack_name_for,
)

TEMPLATE = '{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}'
LOCATION = S3Location("artifacts", "executions/e1/template/repaired.yaml")


class FakeCfn:
    """A stack in a chosen state with chosen events (moto never fails a stack)."""

    def __init__(self, status: str | None, events: list[dict[str, Any]] | None = None) -> None:
        self.status = status
        self.events = events or []
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.status is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status, "Outputs": []}]}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": self.events}

    def create_stack(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("create")
        self.status = "CREATE_IN_PROGRESS"
        return {"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/x/1"}

    def delete_stack(self, StackName: str) -> None:
        self.calls.append("delete")
        self.status = None


def event(resource: str, status: str, reason: str, minutes: int) -> dict[str, Any]:
    return {
        "LogicalResourceId": resource,
        "ResourceType": "AWS::EC2::Instance",
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
        "Timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    }


ROLLED_BACK = [
    event("OpenflowAgentInstance", "CREATE_FAILED", "You are not authorized to perform: iam:PassRole", 1),
    event("NatGateway", "CREATE_FAILED", "Resource creation cancelled", 2),
    event("InfraVPC", "DELETE_COMPLETE", "", 3),
]


def ensure(cfn: Any, **kwargs: Any) -> Any:
    return ensure_stack(
        cfn,
        stack_name="openflow-d",
        template=LOCATION,
        region="us-east-1",
        parameters={},
        tags={"managed-by": "openflow-autopilot"},
        **{"allow_recreate": False, **kwargs},
    )


def test_a_stack_name_is_derived_from_the_deployment_in_cloudformations_alphabet() -> None:
    digest = hashlib.sha256(b"SALES_CDC_DEPLOYMENT").hexdigest()[:8]
    assert stack_name_for("SALES_CDC_DEPLOYMENT") == f"openflow-sales-cdc-deployment-{digest}"
    assert legacy_stack_name("SALES_CDC_DEPLOYMENT") == "openflow-sales-cdc-deployment"


def test_deployments_whose_names_fold_alike_get_different_stacks() -> None:
    names = {stack_name_for(d) for d in ("SALES_CDC", "SALES$CDC", "sales-cdc", "Sales_Cdc")}
    assert len(names) == 4
    long = stack_name_for("A" * 250 + "1"), stack_name_for("A" * 250 + "2")
    assert long[0] != long[1] and all(len(n) <= 128 and n[0].isalpha() for n in long)


def _stack(cfn: Any, name: str, tags: dict[str, str]) -> None:
    cfn.create_stack(
        StackName=name,
        TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}',
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


@mock_aws
def test_a_stack_of_another_deployment_is_refused_and_an_earlier_releases_stack_is_kept() -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    ours = {"managed-by": "openflow-autopilot", "openflow:deployment": "SALES_CDC"}
    assert find_stack(cfn, "SALES_CDC") == (stack_name_for("SALES_CDC"), None)
    # an earlier release named it without the hash: that stack is still this deployment's
    _stack(cfn, "openflow-sales-cdc", ours)
    name, stack = find_stack(cfn, "SALES_CDC")
    assert name == "openflow-sales-cdc" and stack is not None
    # "sales-cdc" (quoted) folds to the same legacy name, but the stack's tags name SALES_CDC
    assert find_stack(cfn, "sales-cdc") == (stack_name_for("sales-cdc"), None)
    # a stack under the new name that is not this deployment's is never adopted
    _stack(cfn, stack_name_for("OTHER"), {"managed-by": "openflow-autopilot", "openflow:deployment": "X"})
    with pytest.raises(PreconditionFailed, match="belongs to deployment 'X'"):
        find_stack(cfn, "OTHER")
    _stack(cfn, stack_name_for("HAND_MADE"), {})
    with pytest.raises(PreconditionFailed, match="was not created by openflow-autopilot"):
        find_stack(cfn, "HAND_MADE")


def test_a_missing_stack_is_created_from_the_repaired_template_url() -> None:
    cfn = FakeCfn(None)
    result = ensure(cfn)
    assert cfn.calls == ["create"]
    assert result.outputs["operation"] == "create"
    assert (
        result.outputs["template_url"]
        == "https://artifacts.s3.us-east-1.amazonaws.com/executions/e1/template/repaired.yaml"
    )


def test_a_rolled_back_stack_is_refused_with_its_first_failure_unless_recreation_is_allowed() -> None:
    cfn = FakeCfn("ROLLBACK_COMPLETE", ROLLED_BACK)
    with pytest.raises(StackFailed) as info:
        ensure(cfn)
    message = str(info.value)
    assert "OpenflowAgentInstance" in message and "iam:PassRole" in message
    assert "NatGateway" not in message  # a consequence, not the cause
    assert "allow_recreate_stack" in message
    assert cfn.calls == []


def test_a_rolled_back_stack_is_deleted_and_created_again_when_the_request_allows_it() -> None:
    cfn = FakeCfn("ROLLBACK_COMPLETE", ROLLED_BACK)
    result = ensure(cfn, allow_recreate=True)
    assert cfn.calls == ["delete"] and result.outputs["operation"] == "recreate"
    state = check_stack(cfn, None, stack=result.outputs, deployment_key=None, max_attempts=5)
    assert cfn.calls == ["delete", "create"]
    assert state["done"] is False and state["operation"] == "create"


def test_a_stack_that_rolls_back_while_waited_for_fails_with_the_diagnosed_reason() -> None:
    cfn = FakeCfn("ROLLBACK_IN_PROGRESS", ROLLED_BACK)
    stack = {"stack_name": "openflow-d", "operation": "create", "attempt": 0}
    assert check_stack(cfn, None, stack=stack, deployment_key=None, max_attempts=5)["done"] is False
    cfn.status = "ROLLBACK_COMPLETE"
    with pytest.raises(StackFailed, match=r"ended ROLLBACK_COMPLETE; first failure: OpenflowAgentInstance"):
        check_stack(cfn, None, stack=stack, deployment_key=None, max_attempts=5)


def test_waiting_is_bounded_by_the_attempt_budget() -> None:
    cfn = FakeCfn("CREATE_IN_PROGRESS")
    stack: dict[str, Any] = {"stack_name": "openflow-d", "operation": "create", "attempt": 0}
    for _ in range(2):
        stack = check_stack(cfn, None, stack=stack, deployment_key=None, max_attempts=3)
    with pytest.raises(BudgetExhausted, match="still CREATE_IN_PROGRESS after 3 checks"):
        check_stack(cfn, None, stack=stack, deployment_key=None, max_attempts=3)


@mock_aws
def test_an_unchanged_template_is_not_updated_and_a_changed_one_is() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key=LOCATION.key, Body=TEMPLATE.encode())
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    first = ensure(cfn, template_body=TEMPLATE)
    assert [a.kind for a in first.actions] == ["create_stack"]
    again = ensure(cfn, template_body=TEMPLATE)
    assert again.actions == [] and again.outputs["operation"] == "none"
    changed = TEMPLATE.replace('"Bucket"', '"Bucket2"')
    s3.put_object(Bucket="artifacts", Key=LOCATION.key, Body=changed.encode())
    assert [a.kind for a in ensure(cfn, template_body=changed).actions] == ["update_stack"]


@mock_aws
def test_a_completed_stack_reports_its_outputs_and_the_agent_instance_by_its_name_tag() -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "openflow-agent-abc123"}]}
        ],
    )
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key=LOCATION.key, Body=TEMPLATE.encode())
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    result = ensure(cfn)
    state = check_stack(cfn, ec2, stack=result.outputs, deployment_key="abc123", max_attempts=3)
    assert state["done"] is True and state["status"] == "CREATE_COMPLETE"
    assert state["agent_instance_id"].startswith("i-")
