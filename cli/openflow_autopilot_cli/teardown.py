"""`openflow-autopilot teardown -c FILE [--yes] [--drop-source-objects] [--json]`.

Removes what the provisioning workflow built for the request in FILE, in the documented order (see
teardown.py). Before anything is contacted it prints what will be removed and asks for y/N; --yes
skips the question. The source's replication slot and publication are kept unless
--drop-source-objects is given.

Exit codes: 0 the teardown is complete (a second run is a no-op that reports "already gone") ·
1 a step failed (run it again once the cause is fixed), or the answer was not yes · 2 invalid input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TextIO

from openflow_autopilot.config import ProvisionRequest, load_request_file
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot_cli.teardown_workflow import (
    StepStatus,
    TeardownAccess,
    TeardownPlan,
    TeardownReport,
    TeardownStep,
    Timeouts,
    Waiter,
    aws_access,
    plan_teardown,
    run_teardown,
)

EXIT_OK = 0
EXIT_NOT_DONE = 1
EXIT_FAILED = 2  # AWS could not be reached or refused the caller
DEFAULT_POLL_SECONDS = 5.0

AccessFactory = Callable[[ProvisionRequest, argparse.Namespace], TeardownAccess]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `teardown` to the main CLI."""
    p = subparsers.add_parser(
        "teardown",
        help="remove what the provisioning workflow built for a request, in the documented order",
        description="Stops the connector, runs destroy.sh on the Openflow agent, waits until the "
        "deployment is NOT_REPORTING, deletes the CloudFormation stack, terminates the deployment (until "
        "it is DELETED) and removes the power schedules. The source's replication slot and publication "
        "are kept unless --drop-source-objects is given. Every step is idempotent: run it again after a "
        "failure.",
    )
    p.add_argument("-c", "--config", required=True, help="the provisioning request file (YAML or JSON)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--drop-source-objects",
        action="store_true",
        help="also drop the replication slot and the publication at the source",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--schedule-group",
        help="the power schedules' EventBridge Scheduler group (default: $SCHEDULE_GROUP, "
        "else openflow-autopilot-power)",
    )
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=DEFAULT_POLL_SECONDS,
        metavar="SECONDS",
        help=f"first interval between status checks; it grows to 30 s (default {DEFAULT_POLL_SECONDS:.0f})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="the longest any one wait may take (default: per step, up to about an hour for destroy.sh "
        "and the stack)",
    )
    p.set_defaults(func=run_teardown_command)


def _schedule_group(args: argparse.Namespace) -> str:
    return str(args.schedule_group or os.environ.get("SCHEDULE_GROUP") or FunctionEnv().schedule_group)


def _aws_access(request: ProvisionRequest, args: argparse.Namespace) -> TeardownAccess:
    timeout = args.timeout
    timeouts = Timeouts() if timeout is None else Timeouts(timeout, timeout, timeout, timeout, timeout)
    return aws_access(
        request,
        env=FunctionEnv.from_environ(),
        schedule_group=_schedule_group(args),
        waiter=Waiter(first_delay=args.poll_seconds, max_delay=max(args.poll_seconds, 30.0)),
        timeouts=timeouts,
    )


def _check_args(args: argparse.Namespace) -> None:
    if args.poll_seconds <= 0:
        raise InvalidRequest("--poll-seconds must be more than 0 seconds.")
    if args.timeout is not None and args.timeout <= 0:
        raise InvalidRequest("--timeout must be more than 0 seconds.")


def print_plan(plan: TeardownPlan, out: TextIO) -> None:
    print(
        f"Teardown of '{plan.request}': Openflow deployment {plan.deployment} in {plan.region}. "
        "In this order, it will:",
        file=out,
    )
    for number, line in enumerate(plan.lines(), start=1):
        print(f"  {number}. {line}", file=out)


def confirm(plan: TeardownPlan, *, stdin: TextIO, out: TextIO) -> bool:
    """Print the plan and read y/N; anything but y/yes (or end of input) is no."""
    print_plan(plan, out)
    print("Proceed? [y/N] ", end="", file=out, flush=True)
    answer = stdin.readline()
    if not answer.endswith("\n") or not stdin.isatty():  # end the prompt's line when nothing echoed
        print(file=out)
    return answer.strip().lower() in ("y", "yes")


def run_teardown_command(
    args: argparse.Namespace,
    *,
    access_factory: AccessFactory | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    _check_args(args)
    request = load_request_file(args.config)  # InvalidRequest names the field; nothing is contacted
    plan = plan_teardown(
        request, schedule_group=_schedule_group(args), drop_source_objects=args.drop_source_objects
    )
    talk = err if args.json else out  # --json keeps stdout for the report
    if not args.yes and not confirm(plan, stdin=stdin or sys.stdin, out=talk):
        print("Not confirmed: nothing was changed.", file=talk)
        return EXIT_NOT_DONE
    access = (access_factory or _aws_access)(request, args)
    if not args.json:
        print(f"Tearing down '{request.name}' ...", file=out, flush=True)
    total = len(plan.lines())

    def show(step: TeardownStep) -> None:
        if not args.json:
            print_step(step, total, out)

    report = run_teardown(request, access, drop_source=args.drop_source_objects, on_step=show)
    # AWS unreachable or refusing the caller is a failure to run, as for every command (exit 2, one
    # line with the fix); a step that found something in the way is "not done" (exit 1).
    code = EXIT_OK if report.completed else EXIT_FAILED if report.aws_access_failed else EXIT_NOT_DONE
    if args.json:
        json.dump({**report.model_dump(mode="json"), "exit_code": code}, out, indent=2)
        out.write("\n")
    else:
        print_outcome(report, out)
    if report.aws_access_failed:
        failed = next(s.title for s in report.steps if s.status is StepStatus.FAILED)
        fix = f" Fix: {report.fix}" if report.fix else ""
        print(f"error: teardown stopped at '{failed}': {report.error}{fix}", file=err)
    return code


def print_step(step: TeardownStep, total: int, out: TextIO) -> None:
    number = list(type(step.name)).index(step.name) + 1
    print(f"[{number}/{total}] {step.title}: {step.status.value}", file=out, flush=True)
    for detail in step.details:
        print(f"      {detail}", file=out)
    for statement in step.statements:
        print(f"      > {statement}", file=out)


def print_outcome(report: TeardownReport, out: TextIO) -> None:
    if report.completed:
        gone = all(s.status in (StepStatus.ALREADY_GONE, StepStatus.KEPT) for s in report.steps)
        print(
            "Teardown complete" + (": there was nothing left to remove." if gone else "."),
            file=out,
        )
        return
    skipped = [s.title for s in report.steps if s.status is StepStatus.NOT_RUN]
    print(f"Teardown stopped: {report.error}", file=out)
    if skipped:
        print(f"Not run: {'; '.join(skipped)}.", file=out)
    print("Fix the cause and run the same command again: finished steps report 'already gone'.", file=out)
