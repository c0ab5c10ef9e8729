"""`openflow-autopilot doctor agent --instance-id ID [--region R] [--json] [--fix] [--timeout SECONDS]`.

Reads the Openflow agent's journals over SSM RunCommand (the same script the state machine runs),
diagnoses them and, only with --fix, runs the automatic remediations once.

Exit codes: 0 no error finding (healthy, or still bootstrapping) · 1 error findings · 2 the journal
could not be collected or read (instance not registered with SSM, command timed out, empty or
binary output, invalid input).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from openflow_autopilot.errors import AutopilotError, InvalidRequest, NotReadyYet
from openflow_autopilot.openflow.agent.collect import (
    DEFAULT_OUTPUT_PREFIX,
    invocation_status,
    read_output,
    send_collect,
)
from openflow_autopilot.openflow.agent.diagnose import diagnose
from openflow_autopilot.openflow.agent.models import Diagnosis, Finding
from openflow_autopilot.openflow.agent.remediate import (
    CREATED_BY_TAG,
    PlannedRemediation,
    RemediationPlan,
    RemediationResult,
    plan_remediation,
    run_remediation,
)
from openflow_autopilot.openflow.agent.repository_check import existing_repositories
from openflow_autopilot.openflow.agent.signatures import Severity
from openflow_autopilot_cli import errors as cli_errors

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_CANNOT_COLLECT = 2
DEFAULT_TIMEOUT = 120.0
_PROG = "openflow-autopilot doctor agent"


class AgentAccess(Protocol):
    """What the command needs from AWS; tests pass a fake."""

    def collect(self, instance_id: str, *, timeout: float) -> str: ...

    def existing_repositories(self) -> set[str]: ...

    def remediate(
        self, item: PlannedRemediation, *, instance_id: str, tags: Sequence[Mapping[str, str]]
    ) -> RemediationResult: ...


class CollectTimedOut(AutopilotError):
    """The collection command did not finish within --timeout."""


class AwsAgentAccess:
    """SSM, S3 and ECR in one region. The polling loop lives here, in the command line only: the
    state machine polls with Wait states instead."""

    def __init__(
        self,
        region: str | None,
        *,
        output_bucket: str | None = None,
        output_prefix: str = DEFAULT_OUTPUT_PREFIX,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        from openflow_autopilot.aws.clients import client

        given = clients or {}
        self.ssm: SSMClient = given.get("ssm") or client("ssm", region)
        self.s3: S3Client = given.get("s3") or client("s3", region)
        self.ecr: ECRClient = given.get("ecr") or client("ecr", region)
        self.output_bucket = output_bucket
        self.output_prefix = output_prefix
        self._sleep = sleep
        self._clock = clock

    def collect(self, instance_id: str, *, timeout: float) -> str:
        command_id = send_collect(
            self.ssm, instance_id, output_bucket=self.output_bucket, output_prefix=self.output_prefix
        )
        deadline = self._clock() + timeout
        delay = 1.0
        while True:
            try:
                status = invocation_status(self.ssm, command_id, instance_id)
            except NotReadyYet:  # the invocation appears a moment after SendCommand
                status = None
            if status is not None and status.done:
                break
            if self._clock() + delay > deadline:
                state = status.status if status else "not delivered"
                raise CollectTimedOut(
                    f"the collection command {command_id} is still {state} after {timeout:.0f} s",
                    fix="retry with a longer --timeout; check that the instance's SSM agent is online",
                )
            self._sleep(delay)
            delay = min(delay * 1.5, 5.0)
        if not status.output_available:
            raise CollectTimedOut(
                f"the collection command {command_id} ended {status.status} ({status.status_details}) "
                "without output",
                fix="check the instance in the SSM console (Fleet Manager) and retry",
            )
        return read_output(self.s3 if status.output_s3 else None, status)

    def existing_repositories(self) -> set[str]:
        return existing_repositories(self.ecr)

    def remediate(
        self, item: PlannedRemediation, *, instance_id: str, tags: Sequence[Mapping[str, str]]
    ) -> RemediationResult:
        return run_remediation(
            item,
            ecr=self.ecr,
            ssm=self.ssm,
            instance_id=instance_id,
            tags=tags,
            output_bucket=self.output_bucket,
            output_prefix=self.output_prefix,
        )


# --- argparse ----------------------------------------------------------------------------------------
def _doctor_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The `doctor` group's subcommands, creating the group unless another module already did."""
    existing = subparsers.choices.get("doctor")
    if existing is not None:
        for action in existing._actions:  # argparse keeps a group's subparsers only here
            if isinstance(action, argparse._SubParsersAction):
                return action
        return existing.add_subparsers(dest="doctor_command", metavar="COMMAND", required=True)
    doctor = subparsers.add_parser("doctor", help="Diagnose parts of a running Openflow deployment.")
    return doctor.add_subparsers(dest="doctor_command", metavar="COMMAND", required=True)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `doctor agent` to the main CLI (creating the `doctor` group if needed)."""
    agent = _doctor_commands(subparsers).add_parser(
        "agent",
        help="Read the Openflow agent's journals over SSM and diagnose why a deployment is not ACTIVE.",
        description="Run the agent health check on demand: read the agent instance's journals over SSM "
        "RunCommand, match them against known failures and explain them. Nothing is changed unless "
        "--fix is given. Exit 0: no error finding; 1: error findings; 2: could not collect or read "
        "the journal.",
    )
    agent.add_argument(
        "--instance-id", required=True, help="The agent instance (Name tag openflow-agent-<key>)."
    )
    agent.add_argument("--region", help="AWS region of the deployment (default: the AWS CLI's).")
    agent.add_argument("--json", action="store_true", help="Print the diagnosis as JSON.")
    agent.add_argument(
        "--fix",
        action="store_true",
        help="Run the automatic remediations once (e.g. create missing ECR repositories).",
    )
    agent.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"How long to wait for the collection command (default {DEFAULT_TIMEOUT:.0f}).",
    )
    agent.add_argument(
        "--output-bucket",
        help="S3 bucket for the command's full output (else SSM's inline 24,000 characters).",
    )
    agent.add_argument(
        "--output-prefix", default=DEFAULT_OUTPUT_PREFIX, help="Key prefix in --output-bucket."
    )
    agent.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Tag for ECR repositories created by --fix (repeatable; default created-by=openflow-autopilot).",
    )
    agent.set_defaults(func=run_doctor_agent)


# --- the command -------------------------------------------------------------------------------------
def _tags(values: Sequence[str]) -> list[dict[str, str]]:
    tags = []
    for value in values:
        key, separator, text = value.partition("=")
        if not separator or not key:
            raise InvalidRequest(f"--tag takes KEY=VALUE (got '{value[:60]}').")
        tags.append({"Key": key, "Value": text})
    return tags or [dict(CREATED_BY_TAG)]


def run_doctor_agent(
    args: argparse.Namespace,
    *,
    access: AgentAccess | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        tags = _tags(args.tag)
        if args.timeout <= 0:
            raise InvalidRequest("--timeout must be more than 0 seconds.")
        access = access or AwsAgentAccess(
            args.region, output_bucket=args.output_bucket, output_prefix=args.output_prefix
        )
        text = access.collect(args.instance_id, timeout=args.timeout)
    except NotReadyYet as exc:
        failure = cli_errors.CliFailure(
            "NotReadyYet",
            f"{exc.message}: the instance is not running, still booting, or its SSM agent is not online",
            "start the instance, wait until Fleet Manager shows it Online, and check that its role has "
            "AmazonSSMManagedInstanceCore",
        )
        return _cannot_collect(args, failure.line(), out, err, failure)
    except AutopilotError as exc:
        described = cli_errors.describe(exc)
        return _cannot_collect(args, described.line() if described else str(exc), out, err, described)

    notes: list[str] = []
    existing: set[str] | None = None
    try:
        existing = access.existing_repositories()
    except AutopilotError as exc:  # without ECR, the journal alone still gives a diagnosis
        notes.append(f"ECR was not checked: {exc}")
    diagnosis = diagnose(text, existing_repositories=existing, now=now)
    plan = plan_remediation(diagnosis, attempts_so_far={}, max_attempts=1, diagnose_only=not args.fix)
    results: list[RemediationResult] = []
    failures: list[str] = []
    if args.fix:
        for item in plan.run:
            try:
                results.append(access.remediate(item, instance_id=args.instance_id, tags=tags))
            except AutopilotError as exc:
                failures.append(f"{item.id}: {exc}")

    code = _exit_code(diagnosis)
    if args.json:
        payload: dict[str, Any] = {
            "instance_id": args.instance_id,
            "region": args.region,
            "exit_code": code,
            "notes": notes,
            "diagnosis": diagnosis.model_dump(mode="json"),
            "remediation": {
                "fix": bool(args.fix),
                "plan": plan.model_dump(mode="json"),
                "results": [r.model_dump(mode="json") for r in results],
                "failures": failures,
            },
        }
        json.dump(payload, out, indent=2)
        out.write("\n")
    else:
        _print_text(args, diagnosis, plan, results, failures, notes, out)
    return code


def _exit_code(diagnosis: Diagnosis) -> int:
    if diagnosis.state == "unreadable":
        return EXIT_CANNOT_COLLECT
    return EXIT_ERRORS if diagnosis.errors else EXIT_OK


def _cannot_collect(
    args: argparse.Namespace,
    message: str,
    out: TextIO,
    err: TextIO,
    failure: cli_errors.CliFailure | None = None,
) -> int:
    # One line on stderr as every command's failure; with --json the same as an object on stdout.
    print(f"error: could not collect the journal of {args.instance_id}: {message}", file=err)
    if getattr(args, "json", False):
        payload: dict[str, Any] = {
            "instance_id": args.instance_id,
            "exit_code": EXIT_CANNOT_COLLECT,
            "error": failure.error if failure else "CannotCollect",
            "message": failure.message if failure else message,
            "fix": failure.fix if failure else None,
        }
        json.dump(payload, out, indent=2)
        out.write("\n")
    return EXIT_CANNOT_COLLECT


# --- human output ------------------------------------------------------------------------------------
_WRAP = textwrap.TextWrapper(width=100, initial_indent="    ", subsequent_indent="    ")


def _when(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%SZ") if stamp else "-"


def _print_finding(finding: Finding, out: TextIO) -> None:
    span = ""
    if finding.first_seen and finding.last_seen:
        span = f", {_when(finding.first_seen)} .. {_when(finding.last_seen)}"
    print(
        f"{finding.severity.value.upper():7} {finding.id}: {finding.title} (x{finding.count}{span})", file=out
    )
    if finding.missing_repositories:
        print(f"    missing: {', '.join(finding.missing_repositories)}", file=out)
    since = [r.name for r in finding.repositories if r.state == "already created since"]
    if since:
        print(f"    already created since: {', '.join(since)}", file=out)
    for line in finding.evidence:
        first, *rest = line.text.splitlines() or [""]
        repeat = f" (x{line.count})" if line.count > 1 else ""
        source = f"{line.source}: " if line.source else ""
        print(f"    [{line.section} {_when(line.timestamp)}] {source}{first}{repeat}", file=out)
        for extra in rest[:6]:
            print(f"        {extra}", file=out)
    print("\n".join(_WRAP.wrap(finding.explanation)), file=out)


def _print_text(
    args: argparse.Namespace,
    diagnosis: Diagnosis,
    plan: RemediationPlan,
    results: list[RemediationResult],
    failures: list[str],
    notes: list[str],
    out: TextIO,
) -> None:
    lines = sum(s.lines for s in diagnosis.sections)
    print(
        f"Agent {args.instance_id}{f' ({args.region})' if args.region else ''}: "
        f"{len(diagnosis.sections)} sections, {lines:,} lines collected.",
        file=out,
    )
    print(f"[{diagnosis.state}] {diagnosis.summary}", file=out)
    for note in notes:
        print(f"note: {note}", file=out)
    shown = [f for f in diagnosis.findings if f.severity is not Severity.INFO or f.resolved]
    shown += [f for f in diagnosis.findings if f.severity is Severity.INFO and not f.resolved]
    for finding in shown:
        print(file=out)
        _print_finding(finding, out)
    if args.fix:
        print(file=out)
        for result in results:
            print(f"fixed: {result.id}: {result.message}", file=out)
            if result.created_repositories:
                print(f"    created: {', '.join(result.created_repositories)}", file=out)
        for failure in failures:
            print(f"fix failed: {failure}", file=out)
        if results:
            print(
                "The services take minutes; run this command again in about 10 minutes to confirm.", file=out
            )
        elif not failures:
            print("Nothing to fix automatically.", file=out)
    elif plan.skipped:
        would = sorted({s.remediation for s in plan.skipped if s.reason == "diagnose_only" and s.remediation})
        if would:
            print(f"\nRun again with --fix to: {'; '.join(would)}.", file=out)
