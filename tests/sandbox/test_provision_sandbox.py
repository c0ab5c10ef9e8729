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
from statement_catalog_check import missing_message, uncatalogued

from openflow_autopilot_cli import main as cli
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
    # every statement the product sent follows a documented shape of the statement catalog
    assert (missing := uncatalogued(sandbox)) == [], missing_message(missing)
    assert [p.name for p in first.phases] == PROVISION_STATES
    kinds = [a["kind"] for a in phase(first, "SnowflakePrerequisites").actions]
    # the admin role and the runtime's execute-as role
    assert kinds.count("create_role") == 2 and "create_image_repository" in kinds

    state = sandbox.snowflake.state
    role = "OPENFLOW_ADMIN_ROLE"
    assert role in state.roles
    privileges = {(g.privilege, g.granted_on, g.name) for g in state.grants if g.grantee == role}
    assert any(p == "CREATE OPENFLOW DEPLOYMENT" and o == "ACCOUNT" for p, o, _ in privileges)
    assert ("CREATE OPENFLOW RUNTIME", "SCHEMA", "OPENFLOW.OPENFLOW") in privileges
    assert ("CREATE OPENFLOW CONNECTOR", "SCHEMA", "OPENFLOW.OPENFLOW") in privileges
    assert ("CREATE SECRET", "SCHEMA", "OPENFLOW.OPENFLOW") in privileges
    execute_as = {
        (g.privilege, g.granted_on, g.name) for g in state.grants if g.grantee == "OPENFLOW_RUNTIME_ROLE"
    }
    assert {("USAGE", "DATABASE", "OPENFLOW"), ("USAGE", "SCHEMA", "OPENFLOW.OPENFLOW")} <= execute_as
    runtime = next(iter(state.runtimes.values()))
    assert runtime.execute_as_role == "OPENFLOW_RUNTIME_ROLE"
    connector = next(iter(state.connectors.values()))
    assert connector.status == "RUNNING" and connector.versions[-1].problem is None
    assert "postgresql-42.7.4.jar" in connector.versions[-1].assets
    for secret in state.secrets.values():
        assert secret.secret_type == "GENERIC_STRING"
        held = {g.privilege for g in state.grants if g.granted_on == "SECRET" and g.key == secret.name3}
        assert {"READ", "USAGE"} <= held, secret.name
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
    assert (missing := uncatalogued(sandbox, since=mark)) == [], missing_message(missing)
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
    assert "SnowflakePrerequisites: 19 action(s) would be taken" in out
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
    received = tmp_path / "sandbox"
    assert cli.main(["demo", "--report", str(report_path), "--sandbox-dir", str(received)]) == 0
    report = json.loads(report_path.read_text())
    assert report["status"] == "SUCCEEDED"
    assert report["execution_arn"].startswith("arn:aws:states:")
    names = [p["name"] for p in report["phases"]]
    assert names == PROVISION_STATES
    prereq = next(p for p in report["phases"] if p["name"] == "SnowflakePrerequisites")
    assert prereq["status"] == "SUCCEEDED" and prereq["started_at"] <= prereq["ended_at"]
    assert {a["kind"] for a in prereq["actions"]} >= {"create_database", "create_role", "grant", "alter_user"}

    # what each phase sent to Snowflake (from the execution's artifacts in S3), secrets masked
    statements = report["snowflake_statements"]
    assert {"SnowflakePrerequisites", "Deployment", "Runtime", "Connector"} <= {
        s["phase"] for s in statements
    }
    assert all(s["at"] and s["role"] and s["shape"] for s in statements)  # each follows a catalog entry
    secrets = [s["sql"] for s in statements if s["sql"].startswith("CREATE OR REPLACE SECRET")]
    assert secrets and all("SECRET_STRING = '***'" in s or "PASSWORD = '***'" in s for s in secrets)
    [version, *_] = report["connector_config_versions"]
    assert version["phase"] == "Connector" and version["config"] and version["committed_at"]

    # what the emulation received: one masked line per statement, the connector's stage files
    lines = [json.loads(x) for x in (received / "snowflake-statements.jsonl").read_text().splitlines()]
    assert {"user", "role", "sql", "ok", "at"} <= set(lines[0])
    assert not any("PRIVATE KEY" in x["sql"] for x in lines)
    stages = received / "connector-stages" / "OPENFLOW.OPENFLOW.POSTGRES_CDC"
    assert (stages / "live" / "config.json").is_file()
    committed = [p.name for p in stages.iterdir() if p.name.startswith("VERSION$")]
    assert committed and all((stages / v / "config.json").is_file() for v in committed)

    # the power rehearsal (runtime-only sleep): the runtime's nodes at zero, then back with a canary row
    stop, start = report["power_rehearsal"]
    assert (stop["action"], stop["status"], stop["runtime"], stop["connector"]) == (
        "stop",
        "SUCCEEDED",
        "SUSPENDED",
        "STOPPED",
    )
    assert stop["agent_instance"] == "running" and stop["deployment"] == "ACTIVE"
    assert [size for name, size in stop["node_groups"].items() if name.endswith("-sm-group")] == [0]
    assert (start["status"], start["runtime"], start["connector"]) == ("SUCCEEDED", "ACTIVE", "RUNNING")
    assert start["canary_seconds"] is not None

    # the measured month: what the emulation's ACCOUNT_USAGE and moto's Cost Explorer were given
    measured = report["measured_cost"]
    assert measured["exit_code"] == 0 and measured["total_usd"] > 0
    assert measured["total_usd"] == pytest.approx(measured["snowflake_usd"] + measured["aws_usd"], abs=0.01)

    # the weekly digest its schedule sends next: the week holds the power rehearsal's stop and start
    digest = report["digest"]
    assert digest["status"] == "SENT" and digest["received"] == [digest["subject"]]
    assert digest["stops"] >= 1 and digest["starts"] >= 1
    assert digest["hours_on"] + digest["hours_asleep"] == pytest.approx(168)
    assert digest["measured"]["total_usd"] > 0 and digest["measured_error"] is None

    # the watch's rehearsal: a failed connector healed, the stalled slot and short WAL budget alerted
    # once, identical runs silent, each recovery a single "resolved"
    watch = {run["step"]: run for run in report["watch_rehearsal"]}
    assert all(run["status"] == "SUCCEEDED" for run in watch.values())
    assert watch["healthy"]["alerts_sent"] == 0 and watch["healthy"]["heartbeat_seconds"] is not None
    assert watch["connector START_FAILED"]["heals"] == ["STOP then START"]
    assert watch["connector START_FAILED"]["alerts_sent"] == 1
    assert watch["healed"]["alert"].startswith("[resolved]") and watch["healed again"]["alerts_sent"] == 0
    short = {f["kind"]: f["severity"] for f in watch["slot stalled, WAL budget short"]["findings"]}
    assert short["slot_stalled"] == "warning" and short["wal_budget"] == "critical"
    assert watch["slot stalled, again"]["alerts_sent"] == 0
    assert watch["caught up"]["alert"].startswith("[resolved]")
    assert watch["runtime ACTIVATE_FAILED"]["heals"] == ["RESUME RECOVERY"]
    assert watch["runtime healed"]["alert"].startswith("[resolved]")
    woken = watch["asleep, WAL budget short"]
    assert woken["woke"] and woken["woke_status"] == "SUCCEEDED", woken  # the power start, early, to its end
    assert woken["woke_result"] == "started"
    assert {f["kind"] for f in woken["findings"]} >= {"wal_budget"}
