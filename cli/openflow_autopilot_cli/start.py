"""`openflow-autopilot start -c FILE [--stack NAME] [--region R] [--name N] [--follow]`.

Validates the request locally (a bad request starts nothing), finds the provisioning state machine
in the deployed stack's outputs and starts an execution with {"request": ...}, the same input the
webhook and Slack triggers give it. With --follow, prints each state as it is entered and the
per-phase summary at the end; exit 0 SUCCEEDED, 1 any other end.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import error_code
from openflow_autopilot.errors import ConfigurationError

DEFAULT_STACK = "openflow-autopilot"


def state_machine_arn(cfn: Any, stack: str, output: str = "ProvisionStateMachineArn") -> str:
    try:
        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except ClientError as exc:
        # CloudFormation answers a missing stack with ValidationError "Stack with id X does not exist"
        # (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html);
        # anything else (denied, throttled, no credentials) is the CLI's one-line AWS failure.
        if error_code(exc) != "ValidationError":
            raise
        raise ConfigurationError(
            f"cannot read stack {stack}: {exc.response.get('Error', {}).get('Message', '')}",
            fix="pass --stack with the name you deployed with sam deploy",
        ) from None
    arn = next((o["OutputValue"] for o in outputs if o["OutputKey"] == output), None)
    if not arn:
        raise ConfigurationError(f"stack {stack} has no {output} output", fix="deploy template.yaml again")
    return str(arn)


def _cmd_start(args: argparse.Namespace) -> int:
    import boto3

    from openflow_autopilot.config import load_request_file
    from openflow_autopilot.triggers.sfn import execution_name, start_named_execution
    from openflow_autopilot_cli.executions import StateEvent, build_report, follow

    request = load_request_file(args.config)
    region = args.region or request.aws.region
    sfn = boto3.client("stepfunctions", region_name=region)
    arn = state_machine_arn(boto3.client("cloudformation", region_name=region), args.stack)
    name = args.name or execution_name(request.name, datetime.now(UTC).isoformat(), "cli")
    started = start_named_execution(
        sfn, state_machine_arn=arn, name=name, payload={"request": request.model_dump(mode="json")}
    )
    print(("already started: " if started.already_started else "started: ") + started.execution_arn)
    if not args.follow:
        return 0

    def show(event: StateEvent) -> None:
        if event.kind == "entered":
            print(f"  {event.at:%H:%M:%S} {event.state}")
        elif event.kind == "failed":
            print(f"  {event.at:%H:%M:%S} failed: {event.detail}")

    description, events = follow(
        sfn, started.execution_arn, on_event=show, poll_seconds=2.0, timeout_seconds=args.timeout
    )
    report = build_report(description, events)
    for phase in report.phases:
        seconds = f"{phase.seconds:.0f} s" if phase.seconds is not None else "-"
        print(f"{phase.name:<24} {phase.status:<9} {seconds:>7}  {len(phase.actions)} action(s)")
    print(f"{report.status}" + (f": {report.error}: {report.cause}" if report.error else ""))
    return 0 if report.status == "SUCCEEDED" else 1


def register(sub: Any) -> None:
    p = sub.add_parser("start", help="start the deployed provisioning workflow for a request file")
    p.add_argument("-c", "--config", type=Path, required=True, help="the request file (validated first)")
    p.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default: {DEFAULT_STACK})")
    p.add_argument("--region", help="default: the request's aws.region")
    p.add_argument("--name", help="execution name (default: derived from the request name and the time)")
    p.add_argument("--follow", action="store_true", help="wait and print each state, then the summary")
    p.add_argument("--timeout", type=float, default=6 * 3600, help="--follow gives up after (seconds)")
    p.set_defaults(func=_cmd_start)
