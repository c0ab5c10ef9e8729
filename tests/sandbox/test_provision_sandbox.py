"""The provisioning state machine end to end in the sandbox: real Step Functions semantics (moto),
the real Snowflake connector against the emulation, our handlers in-process."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import boto3
import pytest

from openflow_autopilot import cli
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import ADMIN_USER, LOGIN_USER, REGION, Sandbox

pytestmark = pytest.mark.sandbox


PROVISION_STATES = [
    "Validate",
    "AcquireLock",
    "SourcePreflight",
    "SnowflakePrerequisites",
    "Deployment",
    "AwaitTemplate",
    "TemplateDoctor",
    "Stack",
    "CheckStack",
    "AgentHealth",
    "Runtime",
    "CheckRuntime",
    "SourceParameters",
    "AwaitRebootApproval",
    "RebootSource",
    "CheckSource",
    "SourcePrepare",
    "Destination",
    "Connector",
    "CheckConnector",
    "VerifyInsert",
    "CheckCanary",
    "Schedules",
    "ReleaseLock",
    "NotifySuccess",
]
# Phases that act on every run by design: the doctor repairs the run's copy of the template, and
# verification inserts a fresh canary row.
ACTS_EVERY_RUN = {"TemplateDoctor", "VerifyInsert"}


def writes(sandbox: Sandbox, since: int = 0) -> list[str]:
    """What the workflow's own login wrote (the connector stand-in writes rows as its service user)."""
    return [s.sql for s in sandbox.snowflake.statements[since:] if s.kind == "write" and s.user == LOGIN_USER]


def phase(report: Any, name: str) -> Any:
    return next(p for p in report.phases if p.name == name)


def notifications(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        inv.result
        for inv in sandbox.moto.registry.invocations
        if "NotifyFunction" in inv.function_name and inv.error_type is None
    ]


def test_a_first_run_creates_the_prerequisites_and_a_second_run_changes_nothing(sandbox: Sandbox) -> None:
    first = run_provisioning(sandbox, sandbox.request(), name="first")
    assert first.status == "SUCCEEDED", first.cause
    assert [p.name for p in first.phases] == PROVISION_STATES
    kinds = [a["kind"] for a in phase(first, "SnowflakePrerequisites").actions]
    assert kinds.count("create_role") == 1 and "create_image_repository" in kinds

    state = sandbox.snowflake.state
    role = "OPENFLOW_ADMIN_ROLE"
    assert role in state.roles
    privileges = {(g.privilege, g.granted_on, g.name) for g in state.grants if g.grantee == role}
    assert any(p == "CREATE OPENFLOW DEPLOYMENT" and o == "ACCOUNT" for p, o, _ in privileges)
    assert ("CREATE OPENFLOW RUNTIME", "SCHEMA", "OPENFLOW.OPENFLOW") in privileges
    assert ("CREATE OPENFLOW CONNECTOR", "SCHEMA", "OPENFLOW.OPENFLOW") in privileges
    admin = state.users[ADMIN_USER]
    assert role in admin.roles
    assert admin.default_role == "PUBLIC"
    assert [r.upper() for r in admin.default_secondary_roles] == ["ALL"]
    assert role in state.users[LOGIN_USER].roles
    notes = phase(first, "SnowflakePrerequisites").notes
    assert any("ACCOUNTADMIN" in n and "Invalid consent request" in n for n in notes)

    mark = len(sandbox.snowflake.statements)
    second = run_provisioning(sandbox, sandbox.request(), name="second")
    assert second.status == "SUCCEEDED"
    assert phase(second, "SnowflakePrerequisites").actions == []
    assert {p.name: p.actions for p in second.phases if p.actions and p.name not in ACTS_EVERY_RUN} == {}
    assert writes(sandbox, since=mark) == []
    assert any("arrived in Snowflake" in n for n in phase(second, "CheckCanary").notes)
    assert any("not an admin role" in n for n in phase(second, "SnowflakePrerequisites").notes)


def test_a_login_role_without_privileges_fails_in_the_prerequisites_phase_with_a_diagnosis(
    sandbox: Sandbox,
) -> None:
    report = run_provisioning(sandbox, sandbox.request(snowflake__login_role="PUBLIC"), name="weak")
    assert report.status == "FAILED"
    assert report.error == "PermissionDenied"
    assert phase(report, "SnowflakePrerequisites").status == "FAILED"
    [note] = notifications(sandbox)
    assert note["status"] == "FAILED"
    assert note["diagnosis"]["phase"] == "SnowflakePrerequisites"
    assert note["diagnosis"]["error"] == "PermissionDenied"
    assert "CREATE DATABASE" in note["diagnosis"]["message"]
    assert "login_role" in note["diagnosis"]["message"]
    assert "OPENFLOW_ADMIN_ROLE" not in sandbox.snowflake.state.roles


def test_an_invalid_request_fails_validation_before_anything_is_contacted(sandbox: Sandbox) -> None:
    report = run_provisioning(sandbox, sandbox.request(snowflake__admin_user="x; DROP USER y"), name="bad")
    assert report.status == "FAILED" and report.error == "InvalidRequest"
    assert sandbox.snowflake.statements == []
    [note] = notifications(sandbox)
    assert note["diagnosis"]["phase"] == "Validate"
    assert "snowflake.admin_user" in note["diagnosis"]["message"]


def test_the_outcome_is_published_to_the_stack_notification_topic(sandbox: Sandbox) -> None:
    assert sandbox.app is not None
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=sandbox.app.outputs["NotificationTopicArn"], Protocol="sqs", Endpoint=arn)
    run_provisioning(sandbox, sandbox.request(), name="topic")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    statuses = [json.loads(json.loads(m["Body"])["Message"])["status"] for m in messages]
    assert statuses[-1] == "SUCCEEDED" and set(statuses) <= {"ACTION_NEEDED", "SUCCEEDED"}


def test_a_gen1_request_grants_the_gen1_privileges(sandbox: Sandbox) -> None:
    sandbox.add_gen1_deployment(repaired=True)  # gen 1 deployments exist already (made in the UI)
    report = run_provisioning(sandbox, sandbox.request(openflow__generation=1), name="gen1")
    assert report.status == "SUCCEEDED"
    privileges = {g.privilege for g in sandbox.snowflake.state.grants if g.grantee == "OPENFLOW_ADMIN_ROLE"}
    assert {"CREATE OPENFLOW DATA PLANE INTEGRATION", "CREATE OPENFLOW RUNTIME INTEGRATION"} <= privileges
    assert "CREATE OPENFLOW DEPLOYMENT" not in privileges


def test_plan_lists_the_actions_and_changes_nothing(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(sandbox.request()))
    for key, value in sandbox.function_env().items():
        monkeypatch.setenv(key, value)

    assert cli.main(["plan", "-c", str(request_file)]) == 0
    out = capsys.readouterr().out
    assert "SnowflakePrerequisites: 15 action(s) would be taken" in out
    assert "CREATE ROLE IF NOT EXISTS OPENFLOW_ADMIN_ROLE" in out
    assert writes(sandbox) == []
    assert "OPENFLOW_ADMIN_ROLE" not in sandbox.snowflake.state.roles

    run_provisioning(sandbox, sandbox.request(), name="apply")
    assert cli.main(["plan", "-c", str(request_file)]) == 0
    assert "SnowflakePrerequisites: 0 action(s) would be taken" in capsys.readouterr().out


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_sandbox_leaves_no_port_process_or_data_directory_behind() -> None:
    sandbox = Sandbox().start()
    assert sandbox.postgres is not None
    ports = [int(sandbox.moto.endpoint.rsplit(":", 1)[1]), sandbox.snowflake.port, sandbox.postgres.port]
    data_dir = Path(sandbox.postgres.data_dir)
    assert all(_listening(p) for p in ports)
    assert 5432 not in ports
    sandbox.stop()
    assert not any(_listening(p) for p in ports)
    assert not data_dir.exists()
    assert "AWS_ENDPOINT_URL" not in os.environ or os.environ["AWS_ENDPOINT_URL"] != sandbox.moto.endpoint


def test_a_sandbox_that_fails_to_start_stops_what_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    import openflow_sandbox.environment as env

    def broken_deploy(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("deploy failed")

    monkeypatch.setattr(env, "deploy", broken_deploy)
    sandbox = Sandbox()
    with pytest.raises(RuntimeError, match="deploy failed"):
        sandbox.start()
    assert sandbox.postgres is not None
    assert not _listening(sandbox.snowflake.port)
    assert not Path(sandbox.postgres.data_dir).exists()


def test_demo_writes_a_report_with_every_phase(tmp_path: Path) -> None:
    report_path = tmp_path / "demo-report.json"
    assert cli.main(["demo", "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["status"] == "SUCCEEDED"
    assert report["execution_arn"].startswith("arn:aws:states:")
    names = [p["name"] for p in report["phases"]]
    assert names == PROVISION_STATES
    prereq = next(p for p in report["phases"] if p["name"] == "SnowflakePrerequisites")
    assert prereq["status"] == "SUCCEEDED" and prereq["started_at"] <= prereq["ended_at"]
    assert {a["kind"] for a in prereq["actions"]} >= {"create_database", "create_role", "grant", "alter_user"}
