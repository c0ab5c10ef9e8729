"""`openflow-autopilot`: the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openflow_autopilot.config import load_request_file
from openflow_autopilot_cli import agent as cli_agent
from openflow_autopilot_cli import cost as cli_cost
from openflow_autopilot_cli import errors as cli_errors
from openflow_autopilot_cli import keys as cli_keys
from openflow_autopilot_cli import report as cli_report
from openflow_autopilot_cli import source as cli_source
from openflow_autopilot_cli import start as cli_start
from openflow_autopilot_cli import teardown as cli_teardown
from openflow_autopilot_cli import template as cli_template
from openflow_autopilot_cli import watch as cli_watch


def _register_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`demo` and `sandbox serve` live with the sandbox (openflow_sandbox.commands), which a checkout
    installs beside the CLI; without it the two commands are absent."""
    try:
        from openflow_sandbox import commands
    except ImportError:
        return
    commands.register(sub)


def _cmd_validate(args: argparse.Namespace) -> int:
    request = load_request_file(args.config)
    print(f"{args.config}: valid request '{request.name}' (Openflow gen {int(request.openflow.generation)})")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    """Read-only: every implemented phase reads state and lists what it would change."""
    from openflow_autopilot.lambda_env import FunctionEnv
    from openflow_autopilot.phases.prerequisites import run_prerequisites

    request = load_request_file(args.config)
    env = FunctionEnv.from_environ()
    results = [run_prerequisites(request, env=env, apply=False)]
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
        return 0
    for result in results:
        print(f"{result.phase}: {len(result.actions)} action(s) would be taken")
        for action in result.actions:
            print(f"  - {action.kind}: {action.target}")
            if action.statement:
                print(f"      {action.statement}")
        for note in result.notes:
            print(f"  note: {note}")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    """Approve (or reject) a paused execution by its approval id, as a Slack button would."""
    import getpass

    import boto3

    from openflow_autopilot.approvals import resolve_approval

    bucket = args.bucket
    if not bucket:
        cfn = boto3.client("cloudformation", region_name=args.region)
        outputs = cfn.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
        bucket = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ArtifactBucketName"), None)
        if not bucket:
            print(
                f"error: stack {args.stack} has no ArtifactBucketName output; pass --bucket", file=sys.stderr
            )
            return 2
    resolution = resolve_approval(
        boto3.client("s3", region_name=args.region),
        boto3.client("stepfunctions", region_name=args.region),
        bucket=bucket,
        approval_id=args.approval_id,
        approved=not args.reject,
        by=args.by or f"cli:{getpass.getuser()}",
    )
    print(resolution.message)
    return 1 if resolution.already_handled else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openflow-autopilot",
        description="Provision Snowflake Openflow on AWS with a PostgreSQL CDC source, and keep it cheap.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "resume", help="approve or reject a paused execution (its approval id is in the notification)"
    )
    p.add_argument("approval_id")
    p.add_argument("--reject", action="store_true", help="reject instead of approve: the execution fails")
    p.add_argument("--bucket", help="the artifact bucket (default: from the stack's outputs)")
    p.add_argument(
        "--stack", default="openflow-autopilot", help="the deployed stack (default: openflow-autopilot)"
    )
    p.add_argument("--region", default=None)
    p.add_argument("--by", help="who decides (default: cli:<your user name>)")
    p.set_defaults(func=_cmd_resume)

    p = sub.add_parser("validate", help="check a request file; nothing is contacted")
    p.add_argument("-c", "--config", type=Path, required=True)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("plan", help="print the actions each phase would take, changing nothing")
    p.add_argument("-c", "--config", type=Path, required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plan)

    # Each command family registers itself; they import their heavy dependencies lazily.
    for module in (
        cli_source,
        cli_template,
        cli_agent,
        cli_cost,
        cli_keys,
        cli_report,
        cli_start,
        cli_teardown,
        cli_watch,
    ):
        module.register(sub)
    _register_sandbox(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    json_output = bool(getattr(args, "json", False))
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return cli_errors.quiet_broken_pipe()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line (and a JSON object with --json), never a traceback
        if cli_errors.debugging():
            raise
        failure = cli_errors.describe(exc)
        try:
            if failure is None:
                return cli_errors.unexpected(
                    exc, json_output=json_output, stdout=sys.stdout, stderr=sys.stderr
                )
            return cli_errors.report(failure, json_output=json_output, stdout=sys.stdout, stderr=sys.stderr)
        except BrokenPipeError:
            return cli_errors.quiet_broken_pipe()


if __name__ == "__main__":
    sys.exit(main())
