"""Runs for the same deployment never interleave, end to end in the sandbox: of two provisioning
executions started at once one proceeds and the other stops before touching anything, saying which
execution is in progress; a power stop during provisioning is skipped without touching anything,
and the same stop works once provisioning has ended."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from openflow_autopilot.approvals import resolve_approval
from openflow_autopilot_cli.executions import ExecutionReport, build_report, follow
from openflow_sandbox.environment import REGION, Sandbox
from openflow_sandbox.power_rehearsal import _statuses, create_schedules, ensure_compute, run_power

pytestmark = pytest.mark.sandbox

STOP_AT = "2026-03-10T20:00:00+09:00"  # a Tuesday evening: the schedule's stop


def start(sandbox: Sandbox, request: dict[str, Any], name: str) -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return str(
        sfn.start_execution(
            stateMachineArn=sandbox.provision_arn, name=name, input=json.dumps({"request": request})
        )["executionArn"]
    )


def wait(arn: str, timeout_seconds: float = 600) -> ExecutionReport:
    description, events = follow(
        boto3.client("stepfunctions", region_name=REGION), arn, timeout_seconds=timeout_seconds
    )
    return build_report(description, events)


def lock_items(sandbox: Sandbox) -> list[dict[str, Any]]:
    assert sandbox.app is not None
    table = sandbox.app.resources["LockTable"]
    items: list[dict[str, Any]] = boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"]
    return items


def failure_notes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        inv.result
        for inv in sandbox.moto.registry.invocations
        if "NotifyFunction" in inv.function_name
        and inv.error_type is None
        and inv.result["status"] == "FAILED"
    ]


def test_of_two_provisioning_runs_started_at_once_one_proceeds_and_the_other_stops_early(
    sandbox: Sandbox,
) -> None:
    request = sandbox.request()
    first, second = start(sandbox, request, "at-once-1"), start(sandbox, request, "at-once-2")
    reports = {arn: wait(arn) for arn in (first, second)}

    assert sorted(r.status for r in reports.values()) == ["FAILED", "SUCCEEDED"]
    [winner] = [arn for arn, r in reports.items() if r.status == "SUCCEEDED"]
    [loser] = [arn for arn, r in reports.items() if r.status == "FAILED"]
    won, lost = reports[winner], reports[loser]
    names = [p.name for p in won.phases]
    assert names[:3] == ["Validate", "AcquireLock", "SourcePreflight"]
    assert names[-2:] == ["ReleaseLock", "NotifySuccess"]

    assert lost.error == "AlreadyInProgress"
    assert [p.name for p in lost.phases] == [
        "Validate",
        "AcquireLock",
        "NotifyFailure",
    ]  # before SourcePreflight
    [note] = failure_notes(sandbox)
    assert note["diagnosis"]["phase"] == "AcquireLock" and note["diagnosis"]["error"] == "AlreadyInProgress"
    message = note["diagnosis"]["message"]
    assert "already in progress" in message and f"provisioning execution {winner}" in message
    assert f"stop-execution --execution-arn {winner}" in str(note)
    assert lock_items(sandbox) == []  # the winner gave it back; the loser never held it


def test_a_power_stop_during_provisioning_is_skipped_and_the_same_stop_works_afterwards(
    sandbox: Sandbox,
) -> None:
    assert sandbox.human is not None
    request = sandbox.request()
    deployment = request["openflow"]["deployment_name"]
    create_schedules(sandbox, request, now=STOP_AT)  # the request is stored, as after an earlier run
    # The engineer is slow to approve the reboot: provisioning pauses there, holding the lock.
    sandbox.human.approves = False
    provisioning = start(sandbox, request, "provisioning")
    deadline = time.monotonic() + 300
    while not (asks := [m for m in sandbox.human.messages if m.get("approval_id")]):
        assert time.monotonic() < deadline, "provisioning never asked for the reboot approval"
        time.sleep(0.2)
    key = ensure_compute(sandbox, sandbox.compute, request)  # the deployment's node groups
    sandbox.compute.sync()
    runtime_before, connector_before = _statuses(sandbox, request)
    sizes_before = sandbox.compute.sizes(key)
    assert runtime_before == "ACTIVE"

    skipped = run_power(sandbox, deployment, "stop", now=STOP_AT, name="stop-during-provisioning")
    assert skipped.status == "SUCCEEDED", skipped.cause
    assert [p.name for p in skipped.phases] == ["Load", "AcquireLock", "Notify"]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    outcome = json.loads(sfn.describe_execution(executionArn=skipped.execution_arn)["output"])["outcome"]
    assert outcome["result"] == "skipped"
    assert outcome["why"].startswith(f"skipped: provisioning execution {provisioning}")
    assert "is in progress" in outcome["why"]
    sandbox.compute.sync()
    assert _statuses(sandbox, request) == (runtime_before, connector_before)
    assert sandbox.compute.sizes(key) == sizes_before
    assert sfn.describe_execution(executionArn=provisioning)["status"] == "RUNNING"

    # The engineer approves (what `openflow-autopilot resume <id>` does); provisioning finishes.
    sandbox.human.approves = True
    resolve_approval(
        boto3.client("s3", region_name=REGION),
        sfn,
        bucket=sandbox.artifact_bucket,
        approval_id=asks[0]["approval_id"],
        approved=True,
        by="test",
    )
    provisioned = wait(provisioning)
    assert provisioned.status == "SUCCEEDED", provisioned.cause
    assert _statuses(sandbox, request) == ("ACTIVE", "RUNNING")

    stopped = run_power(sandbox, deployment, "stop", now=STOP_AT, name="stop-after-provisioning")
    assert stopped.status == "SUCCEEDED", stopped.cause
    outcome = json.loads(sfn.describe_execution(executionArn=stopped.execution_arn)["output"])["outcome"]
    assert outcome["result"] == "stopped"
    assert _statuses(sandbox, request) == ("SUSPENDED", "STOPPED")
    assert lock_items(sandbox) == []
