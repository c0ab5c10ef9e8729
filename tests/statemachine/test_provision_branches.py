"""The provisioning ASL's branches, run by moto's Step Functions with test doubles in place of
the phase functions: retries, catches, the template choice, the stack wait loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from openflow_autopilot.errors import (
    AlreadyInProgress,
    PermissionDenied,
    SnowflakeRetryableError,
    StackFailed,
)
from openflow_autopilot_cli.executions import ExecutionReport, build_report, follow
from openflow_sandbox.deploy import DeployedApp, deploy
from openflow_sandbox.moto_server import MotoSandbox

Handler = Callable[[dict[str, Any], int], Any]


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[MotoSandbox, DeployedApp]]:
    moto = MotoSandbox()
    moto.start()
    try:
        parameters = {"PollSeconds": "0", "StackMaxChecks": "5", "ApprovalWaitSeconds": "2"}
        yield moto, deploy(moto.registry, parameters=parameters)
    finally:
        moto.stop()


def approve(event: dict[str, Any]) -> dict[str, Any]:
    """A human who approves at once (what `openflow-autopilot resume` does)."""
    boto3.client("stepfunctions", region_name="us-east-1").send_task_success(
        taskToken=event["task_token"], output=json.dumps({"approved": True, "by": "test"})
    )
    return {"approval_id": "a0", "kind": event["kind"]}


def phase_result(name: str, **outputs: Any) -> dict[str, Any]:
    return {"phase": name, "status": "unchanged", "actions": [], "notes": [], "outputs": outputs}


def lock_taken(event: dict[str, Any], _n: int) -> dict[str, Any]:
    return {"acquired": True, "key": "MYORG-MYACCOUNT/D", "holder": event["execution"], "kind": event["kind"]}


DEFAULTS: dict[str, Handler] = {
    "ValidateFunction": lambda e, _n: {"request": e["request"], "phases": {}},
    "AcquireLockFunction": lock_taken,
    "ReleaseLockFunction": lambda e, _n: {"released": True, "key": e["lock"]["key"], "note": "released"},
    "SnowflakePrerequisitesFunction": lambda e, _n: phase_result("SnowflakePrerequisites"),
    "DeploymentFunction": lambda e, _n: phase_result("Deployment", deployment={"name": "D", "key": "k1"}),
    "TemplateDoctorFunction": lambda e, _n: phase_result(
        "TemplateDoctor", repaired_template_s3_uri="s3://b/t.yaml"
    ),
    "StackFunction": lambda e, _n: phase_result(
        "Stack", stack_name="openflow-d", operation="create", attempt=0
    ),
    "CheckStackFunction": lambda e, _n: {**e["stack"], "done": True, "status": "CREATE_COMPLETE"},
    "SourcePreflightFunction": lambda e, _n: phase_result("SourcePreflight"),
    "RebootSourceFunction": lambda e, _n: phase_result("RebootSource", reboot_required=True, rebooted=True),
    "SourceParametersFunction": lambda e, _n: phase_result(
        "SourceParameters", reboot_required=False, rebooted=False
    ),
    "CheckSourceFunction": lambda e, _n: {**e["source"], "ready": True},
    "SourcePrepareFunction": lambda e, _n: phase_result("SourcePrepare"),
    "AgentHealthFunction": lambda e, _n: phase_result("AgentHealth", done=True, wait_seconds=0),
    "RuntimeFunction": lambda e, _n: phase_result("Runtime", runtime={"name": "OPENFLOW.OPENFLOW.RT"}),
    "CheckRuntimeFunction": lambda e, _n: {"done": True, "status": "ACTIVE"},
    "DestinationFunction": lambda e, _n: phase_result("Destination", key_secret_arn="arn:k"),
    "ConnectorFunction": lambda e, _n: phase_result("Connector"),
    "Gen1ConnectorFunction": lambda e, _n: phase_result("Gen1Connector", status="RUNNING"),
    "CheckConnectorFunction": lambda e, _n: {"done": True, "status": "RUNNING"},
    "AwaitApprovalFunction": lambda e, _n: approve(e),
    "SchedulesFunction": lambda e, _n: phase_result("Schedules"),
    "VerifyInsertFunction": lambda e, _n: phase_result(
        "VerifyInsert", canary={"id": "c1"}, attempt=0, found=False
    ),
    "CheckCanaryFunction": lambda e, _n: phase_result("CheckCanary", **{**e["verify"], "found": True}),
}


def run(
    app: tuple[MotoSandbox, DeployedApp], name: str, request: dict[str, Any], **doubles: Handler
) -> tuple[ExecutionReport, dict[str, list[dict[str, Any]]]]:
    moto, deployed = app
    calls: dict[str, list[dict[str, Any]]] = {}

    def wrap(logical_id: str, fn: Handler) -> Any:
        def handler(event: dict[str, Any], _ctx: Any) -> Any:
            calls.setdefault(logical_id, []).append(event)
            return fn(event, len(calls[logical_id]))

        return handler

    def notify(event: dict[str, Any], _n: int) -> dict[str, Any]:
        return {"subject": "s", "delivered_to": [], "diagnosis": event["state"].get("error")}

    for logical_id, fn in {**DEFAULTS, "NotifyFunction": notify, **doubles}.items():
        moto.registry.replace(logical_id, wrap(logical_id, fn))
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.start_execution(
        stateMachineArn=deployed.state_machines["ProvisionStateMachine"],
        name=name,
        input=json.dumps({"request": request}),
    )["executionArn"]
    description, events = follow(sfn, arn, timeout_seconds=120)
    return build_report(description, events), calls


SOURCE = {"rds_instance_id": "sales-db"}
GEN1 = {"name": "r", "openflow": {"generation": 1}, "source": SOURCE}
GEN2_WITH_TEMPLATE = {
    "name": "r",
    "openflow": {"generation": 2, "template_s3_uri": "s3://b/templates/D.yaml"},
    "source": SOURCE,
}


def test_a_retryable_snowflake_error_is_retried_and_the_execution_succeeds(app: Any) -> None:
    def flaky(_e: dict[str, Any], attempt: int) -> dict[str, Any]:
        if attempt == 1:
            raise SnowflakeRetryableError("connection reset by peer")
        return phase_result("SnowflakePrerequisites")

    report, calls = run(app, "retry-once", GEN1, SnowflakePrerequisitesFunction=flaky)
    assert report.status == "SUCCEEDED"
    assert len(calls["SnowflakePrerequisitesFunction"]) == 2


def test_a_permission_error_is_not_retried_and_the_failure_is_notified(app: Any) -> None:
    def denied(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise PermissionDenied("Insufficient privileges", call="snowflake: CREATE ROLE X")

    report, calls = run(app, "denied", GEN1, SnowflakePrerequisitesFunction=denied)
    assert report.status == "FAILED" and report.error == "PermissionDenied"
    assert len(calls["SnowflakePrerequisitesFunction"]) == 1
    [notification] = calls["NotifyFunction"]
    assert notification["state"]["error"]["Error"] == "PermissionDenied"
    assert "CREATE ROLE X" in notification["state"]["error"]["Cause"]
    assert "DeploymentFunction" not in calls


def test_an_unexpected_error_is_not_retried_but_still_notified(app: Any) -> None:
    def broken(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise KeyError("boom")

    report, calls = run(app, "unexpected", GEN1, SnowflakePrerequisitesFunction=broken)
    assert report.status == "FAILED" and report.error == "KeyError"
    assert len(calls["SnowflakePrerequisitesFunction"]) == 1 and "NotifyFunction" in calls


def test_a_gen1_deployment_skips_the_template_and_stack_phases(app: Any) -> None:
    """Gen 1: the stack exists, so its agent's health is checked; runtime and canvas are human steps;
    the canary still proves a row replicates."""
    report, calls = run(app, "gen1", GEN1)
    assert report.status == "SUCCEEDED"
    assert [p.name for p in report.phases] == [
        "Validate",
        "AcquireLock",
        "SourcePreflight",
        "SnowflakePrerequisites",
        "Deployment",
        "AgentHealth",
        "AwaitRuntime",
        "CheckRuntime",
        "SourceParameters",
        "CheckSource",
        "SourcePrepare",
        "Destination",
        "AwaitConnector",
        "VerifyInsert",
        "CheckCanary",
        "Schedules",
        "ReleaseLock",
        "NotifySuccess",
    ]
    assert "StackFunction" not in calls and "ConnectorFunction" not in calls
    asks = calls["AwaitApprovalFunction"]
    assert [a["kind"] for a in asks] == ["gen1_runtime", "gen1_connector"]
    assert {"source", "destination"} <= set(asks[1])  # the canvas instructions are built from them
    assert calls["AgentHealthFunction"][0]["deployment"] is not None


def test_a_gen1_request_with_the_runtime_nifi_url_configures_the_connector_over_nifi_rest(app: Any) -> None:
    """Gen 1 with runtime.nifi_url (and its token secret): the connector step is the Gen1Connector task,
    not a human on the canvas; only the runtime is still asked for."""
    runtime = {
        "nifi_url": "https://rt.example.com/nifi-api",
        "nifi_token_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/t",
    }
    report, calls = run(app, "gen1-nifi", {**GEN1, "runtime": runtime})
    assert report.status == "SUCCEEDED"
    names = [p.name for p in report.phases]
    assert names.index("Destination") < names.index("Gen1Connector") < names.index("VerifyInsert")
    assert "AwaitConnector" not in names and "ConnectorFunction" not in calls
    assert [a["kind"] for a in calls["AwaitApprovalFunction"]] == ["gen1_runtime"]
    [event] = calls["Gen1ConnectorFunction"]
    assert event["request"]["runtime"]["nifi_url"] == runtime["nifi_url"]
    assert {"source", "destination"} <= set(event)


def test_a_gen1_connector_refused_by_nifi_is_not_retried_and_is_notified(app: Any) -> None:
    def refused(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise PermissionDenied("the runtime's NiFi refused the token from secret arn:t (HTTP 401)")

    runtime = {"nifi_url": "https://rt.example.com/nifi-api", "nifi_token_secret_arn": "arn:t"}
    report, calls = run(app, "gen1-nifi-denied", {**GEN1, "runtime": runtime}, Gen1ConnectorFunction=refused)
    assert report.status == "FAILED" and report.error == "PermissionDenied"
    assert len(calls["Gen1ConnectorFunction"]) == 1 and "VerifyInsertFunction" not in calls
    [notification] = calls["NotifyFunction"]
    assert "arn:t" in notification["state"]["error"]["Cause"]


def test_a_template_named_in_the_request_goes_straight_to_the_doctor(app: Any) -> None:
    report, calls = run(app, "given", GEN2_WITH_TEMPLATE)
    assert report.status == "SUCCEEDED"
    assert "AwaitTemplate" not in [p.name for p in report.phases]
    assert calls["TemplateDoctorFunction"][0]["template_s3_uri"] == "s3://b/templates/D.yaml"
    assert calls["StackFunction"][0]["template_s3_uri"] == "s3://b/t.yaml"


def test_the_stack_is_checked_until_it_completes(app: Any) -> None:
    def slow(event: dict[str, Any], attempt: int) -> dict[str, Any]:
        stack = event["stack"]
        done = attempt >= 3
        return {
            **stack,
            "attempt": attempt,
            "done": done,
            "status": "CREATE_COMPLETE" if done else "CREATE_IN_PROGRESS",
        }

    report, calls = run(app, "slow-stack", GEN2_WITH_TEMPLATE, CheckStackFunction=slow)
    assert report.status == "SUCCEEDED"
    assert len(calls["CheckStackFunction"]) == 3
    assert [c["stack"]["attempt"] for c in calls["CheckStackFunction"]] == [0, 1, 2]
    assert all(c["max_attempts"] == 5 for c in calls["CheckStackFunction"])


def test_a_rolled_back_stack_fails_the_execution_with_the_diagnosed_reason(app: Any) -> None:
    def rolled_back(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise StackFailed(
            "stack openflow-d ended ROLLBACK_COMPLETE; first failure: OpenflowAgentInstance "
            "(AWS::EC2::Instance) CREATE_FAILED: not authorized to perform iam:PassRole"
        )

    report, calls = run(app, "rollback", GEN2_WITH_TEMPLATE, CheckStackFunction=rolled_back)
    assert report.status == "FAILED" and report.error == "StackFailed"
    [notification] = calls["NotifyFunction"]
    assert "OpenflowAgentInstance" in notification["state"]["error"]["Cause"]
    assert "iam:PassRole" in notification["state"]["error"]["Cause"]


def reboot_pending(event: dict[str, Any], _n: int) -> dict[str, Any]:
    approved = bool((event.get("approval") or {}).get("approved"))
    return phase_result("SourceParameters", reboot_required=True, rebooted=approved)


def test_a_reboot_the_request_does_not_allow_waits_for_an_approval_then_reboots(app: Any) -> None:
    def approve_at_once(event: dict[str, Any], _n: int) -> dict[str, Any]:
        boto3.client("stepfunctions", region_name="us-east-1").send_task_success(
            taskToken=event["task_token"], output=json.dumps({"approved": True, "by": "test"})
        )
        return {"approval_id": "a1", "kind": event["kind"]}

    report, calls = run(
        app,
        "reboot-approved",
        GEN2_WITH_TEMPLATE,
        SourceParametersFunction=reboot_pending,
        RebootSourceFunction=reboot_pending,
        AwaitApprovalFunction=approve_at_once,
    )
    assert report.status == "SUCCEEDED"
    assert [c.get("approval", {}).get("approved") for c in calls["SourceParametersFunction"]] == [None]
    assert [c["approval"]["approved"] for c in calls["RebootSourceFunction"]] == [True]  # its own function
    assert calls["AwaitApprovalFunction"][0]["kind"] == "reboot"
    assert "SourcePrepareFunction" in calls


def test_a_reboot_nobody_approves_fails_with_what_to_do(app: Any) -> None:
    def ask_and_wait(event: dict[str, Any], _n: int) -> dict[str, Any]:
        return {"approval_id": "a2", "kind": event["kind"]}

    report, calls = run(
        app,
        "reboot-ignored",
        GEN2_WITH_TEMPLATE,
        SourceParametersFunction=reboot_pending,
        AwaitApprovalFunction=ask_and_wait,
    )
    assert report.status == "FAILED" and report.error == "ApprovalRejected"
    [notification] = calls["NotifyFunction"]
    assert "Nobody approved the reboot of RDS instance sales-db" in notification["state"]["error"]["Cause"]
    assert "SourcePrepareFunction" not in calls


def test_the_agent_health_loop_waits_until_the_deployment_is_active(app: Any) -> None:
    def stuck_then_active(event: dict[str, Any], attempt: int) -> dict[str, Any]:
        state = {**event["agent"], "done": attempt >= 3, "attempt": attempt, "wait_seconds": 0}
        return phase_result("AgentHealth", **state)

    report, calls = run(app, "agent-loop", GEN2_WITH_TEMPLATE, AgentHealthFunction=stuck_then_active)
    assert report.status == "SUCCEEDED"
    assert [c["agent"].get("attempt") for c in calls["AgentHealthFunction"]] == [None, 1, 2]
    assert next(p for p in report.phases if p.name == "AgentHealth").attempts == 3
    assert calls["RuntimeFunction"] and calls["CheckCanaryFunction"]


def test_an_agent_that_never_turns_active_fails_with_the_last_diagnosis(app: Any) -> None:
    from openflow_autopilot.errors import BudgetExhausted

    def never(event: dict[str, Any], attempt: int) -> dict[str, Any]:
        if attempt >= 2:
            raise BudgetExhausted(
                "deployment D is still INACTIVE after 2 checks; last diagnosis: ECR_REPOSITORY_MISSING"
            )
        return phase_result("AgentHealth", done=False, attempt=attempt, wait_seconds=0)

    report, calls = run(app, "agent-budget", GEN2_WITH_TEMPLATE, AgentHealthFunction=never)
    assert report.status == "FAILED" and report.error == "BudgetExhausted"
    assert "ECR_REPOSITORY_MISSING" in calls["NotifyFunction"][0]["state"]["error"]["Cause"]
    assert "RuntimeFunction" not in calls


def test_a_canary_that_never_arrives_fails_the_execution(app: Any) -> None:
    from openflow_autopilot.errors import BudgetExhausted

    def missing(event: dict[str, Any], attempt: int) -> dict[str, Any]:
        if attempt >= 2:
            raise BudgetExhausted("the canary did not arrive; the replication slot did not advance")
        return phase_result("CheckCanary", **{**event["verify"], "found": False})

    report, calls = run(app, "no-canary", GEN2_WITH_TEMPLATE, CheckCanaryFunction=missing)
    assert report.status == "FAILED" and report.error == "BudgetExhausted"
    assert "slot did not advance" in calls["NotifyFunction"][0]["state"]["error"]["Cause"]


# --- the deployment's lock ---------------------------------------------------------------------------
def test_a_run_that_finds_the_deployment_locked_fails_before_any_phase_and_releases_nothing(app: Any) -> None:
    def held(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise AlreadyInProgress(
            "deployment D is already in progress: provisioning execution arn:aws:states:x:execution:m:first "
            "(started 2026-03-10T08:00:00Z) holds its lock"
        )

    report, calls = run(app, "lock-held", GEN1, AcquireLockFunction=held)
    assert report.status == "FAILED" and report.error == "AlreadyInProgress"
    assert [p.name for p in report.phases] == ["Validate", "AcquireLock", "NotifyFailure"]
    assert "SourcePreflightFunction" not in calls and "SnowflakePrerequisitesFunction" not in calls
    assert "ReleaseLockFunction" not in calls  # the loser must not give back the winner's lock
    [notification] = calls["NotifyFunction"]
    assert notification["state"]["error"]["Error"] == "AlreadyInProgress"
    assert "execution:m:first" in notification["state"]["error"]["Cause"]


def test_a_successful_run_takes_the_lock_first_and_gives_it_back_before_notifying(app: Any) -> None:
    report, calls = run(app, "lock-released", GEN1)
    assert report.status == "SUCCEEDED"
    names = [p.name for p in report.phases]
    assert names.index("AcquireLock") < names.index("SourcePreflight")
    assert names[-2:] == ["ReleaseLock", "NotifySuccess"]
    [acquire] = calls["AcquireLockFunction"]
    assert acquire["kind"] == "provision" and acquire["on_conflict"] == "fail"
    assert acquire["execution"].endswith(":lock-released") and acquire["started_at"] and acquire["now"]
    [release] = calls["ReleaseLockFunction"]
    assert release["execution"] == acquire["execution"]
    assert release["lock"]["holder"] == acquire["execution"]
    assert calls["NotifyFunction"][0]["state"]["lock"]["release"]["released"] is True


def test_a_failed_run_gives_its_lock_back_and_still_fails_with_the_original_error(app: Any) -> None:
    def denied(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise PermissionDenied("Insufficient privileges", call="snowflake: CREATE ROLE X")

    report, calls = run(app, "lock-after-failure", GEN1, SnowflakePrerequisitesFunction=denied)
    assert report.status == "FAILED" and report.error == "PermissionDenied"
    assert [p.name for p in report.phases][-2:] == ["NotifyFailure", "ReleaseLockAfterFailure"]
    [release] = calls["ReleaseLockFunction"]
    assert release["execution"].endswith(":lock-after-failure")


def test_a_release_that_fails_does_not_change_the_outcome(app: Any) -> None:
    def broken(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise KeyError("table gone")

    def denied(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise PermissionDenied("Insufficient privileges", call="snowflake: CREATE ROLE X")

    succeeded, calls = run(app, "release-broken-ok", GEN1, ReleaseLockFunction=broken)
    assert succeeded.status == "SUCCEEDED"
    assert calls["NotifyFunction"][0]["state"]["lock"]["release_error"]["Error"] == "KeyError"
    failed, _ = run(
        app, "release-broken-failed", GEN1, ReleaseLockFunction=broken, SnowflakePrerequisitesFunction=denied
    )
    assert failed.status == "FAILED" and failed.error == "PermissionDenied"
