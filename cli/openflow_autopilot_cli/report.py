"""`openflow-autopilot report EXECUTION_ARN [--json] [--bucket B] [--stack NAME] [--region R]`.

What one execution did: its phases (from the execution's history), every statement it sent to
Snowflake with the phase, role and time (secret literals masked), and every connector configuration
version it wrote, read from the execution's artifacts (`executions/<name>/snowflake/` in the
artifact bucket). Bad input or an unreachable AWS is one line naming the fix, exit 2.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openflow_autopilot.aws.calls import DENIED
from openflow_autopilot.errors import ConfigurationError, InvalidRequest, PermissionDenied

DEFAULT_STACK = "openflow-autopilot"
_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:execution:[^:\s]+:[^:\s]+$"
)
PERMISSIONS = (
    "states:DescribeExecution and states:GetExecutionHistory on the execution, "
    "cloudformation:DescribeStacks on the stack (or pass --bucket), s3:ListBucket and s3:GetObject "
    "on the artifact bucket"
)


def execution_region(arn: str) -> str:
    """The region named in a Step Functions execution ARN (InvalidRequest if it is not one)."""
    m = _ARN.match(arn.strip())
    if m is None:
        raise InvalidRequest(
            f"{arn!r} is not a Step Functions execution ARN",
            fix="pass the ARN that `start` printed, e.g. "
            "arn:aws:states:us-east-1:123456789012:execution:ProvisionStateMachine-abc:sales-cdc-1",
        )
    return m["region"]


@contextmanager
def aws_errors(what: str, arn: str) -> Iterator[None]:
    """The answers that mean something for a report (a wrong ARN, a wrong bucket, a missing permission);
    every other AWS failure is left to the CLI's one mapping (cli_errors), like any command's."""
    from botocore import exceptions as bce

    try:
        yield
    except bce.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code") or ""), str(error.get("Message") or exc)
        if code == "ExecutionDoesNotExist":
            raise InvalidRequest(
                f"execution {arn} does not exist",
                fix="check the ARN (aws stepfunctions list-executions --state-machine-arn <its state "
                "machine>) and that your credentials are for its account",
            ) from None
        if code == "InvalidArn":
            raise InvalidRequest(f"{arn!r} is not a valid execution ARN: {message}") from None
        if code in DENIED or code == "403":
            raise PermissionDenied(
                f"AWS denied the call to {what}: {message}",
                fix=f"allow your IAM identity {PERMISSIONS}",
            ) from None
        if code == "NoSuchBucket":
            raise ConfigurationError(
                f"the artifact bucket does not exist: {message}",
                fix="pass --bucket with the stack's ArtifactBucketName output",
            ) from None
        raise


def artifact_bucket(cfn: Any, stack: str, arn: str) -> str:
    """The stack's ArtifactBucketName output."""
    from botocore.exceptions import ClientError

    with aws_errors(f"read stack {stack}", arn):
        try:
            outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        except ClientError as exc:
            if "does not exist" in str(exc):
                raise ConfigurationError(
                    f"stack {stack} does not exist",
                    fix="pass --stack with the name you deployed, or --bucket",
                ) from None
            raise
    bucket = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ArtifactBucketName"), None)
    if not bucket:
        raise ConfigurationError(f"stack {stack} has no ArtifactBucketName output", fix="pass --bucket")
    return str(bucket)


def build(arn: str, *, sfn: Any, s3: Any, bucket: str) -> dict[str, Any]:
    """The report as JSON-able data: the execution's phases and its evidence."""
    from openflow_autopilot.evidence.store import evidence_prefix, load_evidence
    from openflow_autopilot.evidence.view import execution_evidence
    from openflow_autopilot_cli.executions import build_report, history

    with aws_errors("read the execution", arn):
        description = sfn.describe_execution(executionArn=arn)
        events = history(sfn, arn)
    with aws_errors(f"read the execution's artifacts in bucket {bucket}", arn):
        invocations = load_evidence(s3, bucket, arn)
    report = build_report(description, events)
    return {
        **report.model_dump(mode="json"),
        "evidence_location": f"s3://{bucket}/{evidence_prefix(arn)}",
        **execution_evidence(invocations).model_dump(mode="json"),
    }


def render(data: dict[str, Any]) -> list[str]:
    from openflow_autopilot.evidence.view import ExecutionEvidence, render_text

    lines = [f"{data['execution_arn']}: {data['status']}"]
    if data.get("error"):
        lines.append(f"  {data['error']}: {data.get('cause') or ''}".rstrip())
    for phase in data.get("phases") or []:
        seconds = f"{phase['seconds']:.0f} s" if phase.get("seconds") is not None else "-"
        actions = len(phase.get("actions") or [])
        lines.append(f"  {phase['name']:<24} {phase['status']:<9} {seconds:>7}  {actions} action(s)")
    lines += render_text(ExecutionEvidence.model_validate(data))
    lines.append(f"Stored at {data['evidence_location']}")
    return lines


def _cmd_report(args: argparse.Namespace) -> int:
    import boto3

    arn = str(args.execution_arn).strip()
    region = args.region or execution_region(arn)
    with aws_errors("create the AWS clients", arn):
        sfn = boto3.client("stepfunctions", region_name=region)
        s3 = boto3.client("s3", region_name=region)
        cfn = None if args.bucket else boto3.client("cloudformation", region_name=region)
    bucket = args.bucket or artifact_bucket(cfn, args.stack, arn)
    data = build(arn, sfn=sfn, s3=s3, bucket=bucket)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(render(data)))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="what an execution did: its phases, every Snowflake statement (secrets masked), the "
        "connector configurations it wrote",
    )
    p.add_argument("execution_arn", help="the execution's ARN (as `start` prints it)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--bucket", help="the artifact bucket (default: the stack's ArtifactBucketName output)")
    p.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default: {DEFAULT_STACK})")
    p.add_argument("--region", help="default: the region in the ARN")
    p.set_defaults(func=_cmd_report)
