"""`openflow-autopilot watch status -c FILE [--last N] [--json]`: the watch's last runs, read from the
artifact bucket (the stack's ArtifactBucketName output); `watch run -c FILE` starts one run now."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openflow_autopilot.config import load_request_file
from openflow_autopilot.errors import ConfigurationError, InvalidRequest

DEFAULT_STACK = "openflow-autopilot"


def _output(cfn: Any, stack: str, key: str) -> str:
    from openflow_autopilot_cli.start import state_machine_arn

    return state_machine_arn(cfn, stack, output=key)


def _cmd_status(args: argparse.Namespace) -> int:
    import boto3

    from openflow_autopilot.watch import status, store

    if args.last < 1 or args.last > 500:
        raise InvalidRequest(f"--last: {args.last} is not between 1 and 500", fix="e.g. --last 12")
    request = load_request_file(args.config)
    region = args.region or request.aws.region
    deployment = request.openflow.deployment_name
    # AWS failures (credentials, region, endpoint, denied) are the CLI's one-line errors (cli_errors).
    bucket = args.bucket or _output(
        boto3.client("cloudformation", region_name=region), args.stack, "ArtifactBucketName"
    )
    runs = store.last_runs(boto3.client("s3", region_name=region), bucket, deployment, limit=args.last)
    if args.json:
        print(json.dumps({"deployment": deployment, **status.summary(runs)}, indent=2))
    else:
        print(status.text(deployment, runs))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    request = load_request_file(args.config)
    region = args.region or request.aws.region
    try:
        arn = _output(boto3.client("cloudformation", region_name=region), args.stack, "WatchStateMachineArn")
        started = boto3.client("stepfunctions", region_name=region).start_execution(
            stateMachineArn=arn,
            name=f"watch-by-hand-{datetime.now(UTC):%Y%m%dT%H%M%S}",
            input=json.dumps({"deployment": request.openflow.deployment_name}),
        )
    except (BotoCoreError, ClientError) as exc:
        raise ConfigurationError(
            f"cannot start the watch: {type(exc).__name__}", fix="check AWS credentials, --region and --stack"
        ) from None
    print(f"started {started['executionArn']}; `watch status -c {args.config}` shows it once it ends")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("watch", help="the watch: its last runs, or one run now")
    verbs = p.add_subparsers(dest="verb", required=True)
    s = verbs.add_parser("status", help="the last runs: findings, heals, heartbeat latency, retained WAL")
    s.add_argument("-c", "--config", type=Path, required=True, help="the request file")
    s.add_argument("--last", type=int, default=12, help="how many runs (default 12)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default: {DEFAULT_STACK})")
    s.add_argument("--bucket", help="the artifact bucket (default: the stack's ArtifactBucketName output)")
    s.add_argument("--region", help="default: the request's aws.region")
    s.set_defaults(func=_cmd_status)
    r = verbs.add_parser("run", help="start one watch run now")
    r.add_argument("-c", "--config", type=Path, required=True, help="the request file")
    r.add_argument("--stack", default=DEFAULT_STACK, help=f"the deployed stack (default: {DEFAULT_STACK})")
    r.add_argument("--region", help="default: the request's aws.region")
    r.set_defaults(func=_cmd_run)
