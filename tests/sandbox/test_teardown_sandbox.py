"""`openflow-autopilot teardown` end to end in the sandbox, against one provisioned deployment.

The tests share one provisioning run (about 20 s) and run in file order: declining the prompt
changes nothing; the teardown then removes everything in the documented order and keeps the source
objects; a second teardown is a no-op; a third one with --drop-source-objects drops them. The deployment
ends DELETED (TERMINATE goes DELETING -> DELETED: there is no TERMINATED deployment status)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from openflow_autopilot.phases.stack import stack_name_for
from openflow_autopilot_cli import main as cli
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import LOGIN_USER, REGION, SOURCE_DATABASE, Sandbox

pytestmark = pytest.mark.sandbox

DEPLOYMENT = "SALES_CDC_DEPLOYMENT"
CONNECTOR = "OPENFLOW.OPENFLOW.POSTGRES_CDC"
STACK = stack_name_for(DEPLOYMENT)
GROUP = "openflow-autopilot-power"
SLOT = "openflow_sales_cdc"
PUBLICATION = "openflow_pub"
STEPS = ["schedules", "connector", "agent", "not_reporting", "stack", "deployment", "source"]


class Provisioned:
    def __init__(self, sandbox: Sandbox, request_file: Path) -> None:
        self.sandbox = sandbox
        self.request_file = request_file
        # (deployment status, stack present, connector status) each time the emulation changed it
        self.status_changes: list[tuple[str, bool, str]] = []


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioned]:
    with Sandbox() as sandbox:
        request = sandbox.request()
        report = run_provisioning(sandbox, request, name="teardown-subject")
        assert report.status == "SUCCEEDED", report.cause
        request_file = tmp_path_factory.mktemp("teardown") / "request.yaml"
        request_file.write_text(json.dumps(request))
        subject = Provisioned(sandbox, request_file)
        original = sandbox.snowflake.set_deployment_status

        def recording(name: str, status: str) -> None:
            subject.status_changes.append((status, _stack_exists(), _connector_status(sandbox)))
            original(name, status)

        sandbox.snowflake.set_deployment_status = recording  # type: ignore[method-assign]
        yield subject


@pytest.fixture(autouse=True)
def _pointed_at_the_sandbox(provisioned: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in provisioned.sandbox.function_env().items():
        monkeypatch.setenv(key, value)


def _stack_exists() -> bool:
    cfn = boto3.client("cloudformation", region_name=REGION)
    return any(
        s["StackName"] == STACK and s["StackStatus"] != "DELETE_COMPLETE"
        for s in cfn.list_stacks()["StackSummaries"]
    )


def _connector_status(sandbox: Sandbox) -> str:
    db, schema, name = CONNECTOR.split(".")
    return sandbox.snowflake.state.connectors[(db, schema, name)].status


def _deployment_status(sandbox: Sandbox) -> str:
    return sandbox.snowflake.state.deployments[DEPLOYMENT].status


def _schedules() -> list[str]:
    scheduler = boto3.client("scheduler", region_name=REGION)
    try:
        found = scheduler.list_schedules(GroupName=GROUP)["Schedules"]
    except scheduler.exceptions.ResourceNotFoundException:
        return []
    return sorted(s["Name"] for s in found if s["Name"].startswith(f"{DEPLOYMENT}-"))


def _source_objects(sandbox: Sandbox) -> tuple[bool, bool]:
    assert sandbox.postgres is not None
    with psycopg.connect(sandbox.postgres.dsn(dbname=SOURCE_DATABASE), autocommit=True) as conn:
        slot = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [SLOT]).fetchone()
        pub = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [PUBLICATION]).fetchone()
    return slot is not None, pub is not None


def _writes(sandbox: Sandbox, since: int) -> list[str]:
    return [s.sql for s in sandbox.snowflake.statements[since:] if s.kind == "write" and s.user == LOGIN_USER]


def _commands() -> list[dict[str, Any]]:
    return list(boto3.client("ssm", region_name=REGION).list_commands()["Commands"])


def _teardown(
    provisioned: Provisioned, *flags: str, answer: str | None = None, monkeypatch: pytest.MonkeyPatch
) -> int:
    if answer is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    return cli.main(["teardown", "-c", str(provisioned.request_file), "--poll-seconds", "0.2", *flags])


def test_answering_no_at_the_prompt_changes_nothing(
    provisioned: Provisioned, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = provisioned.sandbox
    mark, commands = len(sandbox.snowflake.statements), len(_commands())
    schedules = _schedules()
    assert schedules == [
        f"{DEPLOYMENT}-digest",
        f"{DEPLOYMENT}-start-0",
        f"{DEPLOYMENT}-stop-0",
        f"{DEPLOYMENT}-watch",
    ]

    assert _teardown(provisioned, answer="n\n", monkeypatch=monkeypatch) == 1

    out = capsys.readouterr().out
    assert f"stop the Openflow connector {CONNECTOR}" in out
    assert f"delete the CloudFormation stack {STACK}" in out
    assert f"keep the replication slot {SLOT} and the publication {PUBLICATION}" in out
    assert "Proceed? [y/N]" in out and "nothing was changed" in out
    assert sandbox.snowflake.statements[mark:] == []  # Snowflake was not even contacted
    assert len(_commands()) == commands
    assert _schedules() == schedules
    assert _stack_exists()
    assert (_deployment_status(sandbox), _connector_status(sandbox)) == ("ACTIVE", "RUNNING")


def test_teardown_removes_everything_in_the_documented_order_and_keeps_the_source_objects(
    provisioned: Provisioned, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = provisioned.sandbox
    mark = len(sandbox.snowflake.statements)
    agent_id = next(iter(sandbox.agents.agents)) if sandbox.agents else ""

    assert _teardown(provisioned, "--yes", "--json", monkeypatch=monkeypatch) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["completed"] is True and report["error"] is None
    assert [s["name"] for s in report["steps"]] == STEPS
    assert {s["name"]: s["status"] for s in report["steps"]} == {
        **dict.fromkeys(STEPS[:-1], "done"),
        "source": "kept",
    }
    # The order the systems saw: connector STOP ... deployment TERMINATE in Snowflake; destroy.sh made
    # the deployment NOT_REPORTING while the stack still existed and after the connector had stopped.
    assert _writes(sandbox, mark) == [
        f"ALTER OPENFLOW CONNECTOR {CONNECTOR} STOP",
        f"ALTER OPENFLOW DEPLOYMENT {DEPLOYMENT} TERMINATE",
    ]
    assert provisioned.status_changes == [("NOT_REPORTING", True, "STOPPED")]
    [destroy] = [c for c in _commands() if "destroy.sh" in c["Parameters"]["commands"][0]]
    assert destroy["DocumentName"] == "AWS-RunShellScript" and destroy["InstanceIds"] == [agent_id]

    assert _connector_status(sandbox) == "STOPPED"
    assert _deployment_status(sandbox) == "DELETED"  # a deployment has no TERMINATED status
    deployment_step = report["steps"][STEPS.index("deployment")]
    assert deployment_step["details"] == [f"deployment {DEPLOYMENT} was NOT_REPORTING, now DELETED"]
    assert not _stack_exists()
    assert _schedules() == []
    assert _source_objects(sandbox) == (True, True)
    source = report["steps"][-1]
    assert any("keeps growing" in d for d in source["details"])
    assert source["statements"] == []
    text = json.dumps(report)
    assert "BEGIN" not in text and "PRIVATE" not in text.upper()  # no key material anywhere


def test_a_second_teardown_finds_everything_gone_and_changes_nothing(
    provisioned: Provisioned, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = provisioned.sandbox
    mark, commands = len(sandbox.snowflake.statements), len(_commands())

    assert _teardown(provisioned, "--yes", monkeypatch=monkeypatch) == 0

    out = capsys.readouterr().out
    assert out.count(": already gone") == 6, out
    assert f"kept replication slot {SLOT} and publication {PUBLICATION}" in out
    assert "Teardown complete: there was nothing left to remove." in out
    assert _writes(sandbox, mark) == []
    assert len(_commands()) == commands
    assert _deployment_status(sandbox) == "DELETED"
    assert f"deployment {DEPLOYMENT} is DELETED" in out


def test_drop_source_objects_drops_the_slot_and_the_publication_and_names_them(
    provisioned: Provisioned, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = provisioned.sandbox
    assert _teardown(provisioned, "--yes", "--drop-source-objects", monkeypatch=monkeypatch) == 0

    out = capsys.readouterr().out
    assert f"dropped replication slot {SLOT} in database {SOURCE_DATABASE}" in out
    assert f"dropped publication {PUBLICATION} in database {SOURCE_DATABASE}" in out
    assert f"> SELECT pg_drop_replication_slot('{SLOT}')" in out
    assert f'> DROP PUBLICATION IF EXISTS "{PUBLICATION}"' in out
    assert out.count(": already gone") == 6  # only the source step had something left to do
    assert _source_objects(sandbox) == (False, False)

    assert _teardown(provisioned, "--yes", "--drop-source-objects", monkeypatch=monkeypatch) == 0
    again = capsys.readouterr().out
    assert "[7/7] source replication slot and publication: already gone" in again
    assert "dropped" not in again
