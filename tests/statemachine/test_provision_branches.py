"""The provisioning ASL's branches, run by moto's Step Functions with test doubles in place of
the phase functions: retryable errors are retried, permanent ones notify and fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from openflow_autopilot.errors import PermissionDenied, SnowflakeRetryableError
from openflow_autopilot.executions import build_report, follow
from openflow_sandbox.deploy import DeployedApp, deploy
from openflow_sandbox.moto_server import MotoSandbox


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[MotoSandbox, DeployedApp]]:
    moto = MotoSandbox()
    moto.start()
    try:
        yield moto, deploy(moto.registry, parameters={})
    finally:
        moto.stop()


def run(app: tuple[MotoSandbox, DeployedApp], name: str, phase: Any) -> tuple[Any, list[dict[str, Any]]]:
    moto, deployed = app
    calls: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []

    def validate(event: dict[str, Any], _ctx: Any) -> dict[str, Any]:
        return {"request": event["request"], "phases": {}}

    def prerequisites(event: dict[str, Any], _ctx: Any) -> dict[str, Any]:
        calls.append(event)
        return phase(len(calls))  # type: ignore[no-any-return]

    def notify(event: dict[str, Any], _ctx: Any) -> dict[str, Any]:
        notes.append(event)
        return {"subject": "s", "delivered_to": [], "diagnosis": event["state"].get("error")}

    moto.registry.replace("ValidateFunction", validate)
    moto.registry.replace("PrerequisitesFunction", prerequisites)
    moto.registry.replace("NotifyFunction", notify)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.start_execution(
        stateMachineArn=deployed.state_machines["ProvisionStateMachine"],
        name=name,
        input=json.dumps({"request": {"name": name}}),
    )["executionArn"]
    description, events = follow(sfn, arn, timeout_seconds=120)
    return build_report(description, events), [*calls, *notes]


def ok(_attempt: int) -> dict[str, Any]:
    return {"phase": "SnowflakePrerequisites", "status": "unchanged", "actions": [], "notes": []}


def test_a_retryable_snowflake_error_is_retried_and_the_execution_succeeds(app: Any) -> None:
    def flaky(attempt: int) -> dict[str, Any]:
        if attempt == 1:
            raise SnowflakeRetryableError("connection reset by peer")
        return ok(attempt)

    report, calls = run(app, "retry-once", flaky)
    assert report.status == "SUCCEEDED"
    assert len([c for c in calls if "state" not in c]) == 2


def test_a_permission_error_is_not_retried_and_the_failure_is_notified(app: Any) -> None:
    def denied(_attempt: int) -> dict[str, Any]:
        raise PermissionDenied("Insufficient privileges", call="snowflake: CREATE ROLE X")

    report, calls = run(app, "denied", denied)
    assert report.status == "FAILED" and report.error == "PermissionDenied"
    phase_calls = [c for c in calls if "state" not in c]
    [notification] = [c for c in calls if "state" in c]
    assert len(phase_calls) == 1
    assert notification["state"]["error"]["Error"] == "PermissionDenied"
    assert "CREATE ROLE X" in notification["state"]["error"]["Cause"]


def test_an_unexpected_error_is_not_retried_but_still_notified(app: Any) -> None:
    def broken(_attempt: int) -> dict[str, Any]:
        raise KeyError("boom")

    report, calls = run(app, "unexpected", broken)
    assert report.status == "FAILED" and report.error == "KeyError"
    assert len([c for c in calls if "state" not in c]) == 1
    assert any("state" in c for c in calls)


def test_a_successful_phase_result_lands_under_its_state_name(app: Any) -> None:
    report, _ = run(app, "success", ok)
    assert report.status == "SUCCEEDED"
    assert [p.name for p in report.phases] == ["Validate", "SnowflakePrerequisites", "NotifySuccess"]
