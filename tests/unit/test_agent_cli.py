"""`doctor agent`: exit codes, text and JSON output, --fix, with a fake collector (and once with moto)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from openflow_autopilot.errors import NotReadyYet
from openflow_autopilot.openflow.agent.markers import render_collected_output
from openflow_autopilot.openflow.agent.remediate import PlannedRemediation, RemediationResult
from openflow_autopilot.openflow.agent.repositories import OPENFLOW_REPOSITORIES
from openflow_autopilot_cli import agent as cli_agent

NOW = datetime(2025, 6, 23, 10, 0, tzinfo=UTC)
JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"
INSTANCE = "i-0123456789abcdef0"


def journal(scenario: str) -> str:
    sections = {p.stem: p.read_text(encoding="utf-8") for p in sorted((JOURNALS / scenario).glob("*.log"))}
    return render_collected_output(sections, time=NOW)


class FakeAccess:
    def __init__(self, text: str | Exception, existing: set[str] | None = None) -> None:
        self.text = text
        self.existing = existing if existing is not None else set()
        self.remediated: list[tuple[str, list[str], Sequence[Mapping[str, str]]]] = []

    def collect(self, instance_id: str, *, timeout: float) -> str:
        if isinstance(self.text, Exception):
            raise self.text
        return self.text

    def existing_repositories(self) -> set[str]:
        return self.existing

    def remediate(
        self, item: PlannedRemediation, *, instance_id: str, tags: Sequence[Mapping[str, str]]
    ) -> RemediationResult:
        self.remediated.append((item.id, item.repositories, tags))
        return RemediationResult(id=item.id, created_repositories=item.repositories, message="created")


def run(access: FakeAccess, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_agent.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["doctor", "agent", "--instance-id", INSTANCE, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, access=access, stdout=out, stderr=err, now=NOW)
    return code, out.getvalue(), err.getvalue()


def test_a_healthy_agent_exits_0_and_says_so() -> None:
    code, out, _ = run(FakeAccess(journal("healthy"), existing=set(OPENFLOW_REPOSITORIES)))
    assert code == 0
    assert "[healthy] Healthy: the agent reported 'All resources applied successfully'" in out


def test_the_seeds_failure_exits_1_names_the_missing_repositories_and_offers_fix() -> None:
    code, out, _ = run(FakeAccess(journal("ecr-missing")))
    assert code == 1
    assert "ERROR   ECR_REPOSITORY_MISSING" in out
    assert "missing: snowflake-openflow/openflow-data-plane-agent-aws" in out
    assert "Run again with --fix to: create_missing_ecr_repositories." in out


def test_without_fix_nothing_is_remediated() -> None:
    access = FakeAccess(journal("ecr-missing"))
    run(access)
    assert access.remediated == []


def test_fix_runs_the_repository_remediation_once_with_the_given_tags() -> None:
    access = FakeAccess(journal("ecr-missing"), existing={"snowflake-openflow/runtime-operator"})
    code, out, _ = run(access, "--fix", "--tag", "team=data", "--json")
    assert code == 1  # the exit code is the diagnosis before the fix: confirm with a later run
    [(remediation, repositories, tags)] = access.remediated
    assert remediation == "create_missing_ecr_repositories"
    assert len(repositories) == 9 and "snowflake-openflow/runtime-operator" not in repositories
    assert tags == [{"Key": "team", "Value": "data"}]
    payload = json.loads(out)
    assert payload["remediation"]["fix"] is True
    assert payload["remediation"]["results"][0]["id"] == "create_missing_ecr_repositories"


def test_json_output_carries_the_diagnosis_and_the_exit_code() -> None:
    code, out, _ = run(FakeAccess(journal("apply-failure"), existing=set(OPENFLOW_REPOSITORIES)), "--json")
    payload = json.loads(out)
    assert code == 1 and payload["exit_code"] == 1
    assert payload["diagnosis"]["state"] == "failing"
    assert payload["diagnosis"]["findings"][0]["id"] == "APPLY_INFRASTRUCTURE_FAILED"
    assert payload["remediation"]["plan"]["skipped"][0]["reason"] == "no_remediation"


def test_an_instance_not_registered_with_ssm_exits_2_with_a_clear_message() -> None:
    code, out, err = run(FakeAccess(NotReadyYet("agent instance not registered with SSM yet")))
    assert code == 2 and out == ""
    assert "could not collect the journal of i-0123456789abcdef0" in err
    assert "AmazonSSMManagedInstanceCore" in err


def test_an_unreadable_journal_exits_2() -> None:
    code, out, _ = run(FakeAccess("\x00\x01\x02\ufffd\ufffd" * 1000))
    assert code == 2
    assert "[unreadable] Could not read the agent's journal" in out


def test_an_invalid_tag_exits_2_before_anything_is_collected() -> None:
    code, _, err = run(FakeAccess(journal("healthy")), "--fix", "--tag", "no-equals-sign")
    assert code == 2 and "KEY=VALUE" in err


def test_doctor_stays_one_group_when_another_module_registered_it_first() -> None:
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor")
    doctor.add_subparsers(dest="doctor_command", required=True).add_parser("other")
    cli_agent.register(sub)
    assert parser.parse_args(["doctor", "other"]).doctor_command == "other"
    assert parser.parse_args(["doctor", "agent", "--instance-id", INSTANCE]).doctor_command == "agent"


# --- the real collector against moto -----------------------------------------------------------------
@pytest.fixture
def moto_clients() -> Any:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
        clients = {name: boto3.client(name, region_name="us-east-1") for name in ("ssm", "s3", "ecr")}
        yield instance["InstanceId"], clients


def test_the_aws_collector_sends_polls_and_reads_moto_s_empty_output_as_unreadable(moto_clients: Any) -> None:
    instance_id, clients = moto_clients
    access = cli_agent.AwsAgentAccess("us-east-1", clients=clients, sleep=lambda _: None)
    assert access.collect(instance_id, timeout=5) == ""
    assert len(access.existing_repositories()) == 0


def test_the_aws_collector_gives_up_after_its_timeout(moto_clients: Any) -> None:
    instance_id, clients = moto_clients
    ticks = iter(range(100))
    access = cli_agent.AwsAgentAccess(
        "us-east-1", clients=clients, sleep=lambda _: None, clock=lambda: float(next(ticks))
    )
    running = {"CommandId": "0b7f2c9e-41d3-4a5e-9c1b-7e2d4f6a8b01", "InstanceId": instance_id}
    with Stubber(clients["ssm"]) as stub:
        stub.add_response("send_command", {"Command": {"CommandId": running["CommandId"]}})
        for _ in range(3):
            stub.add_response("get_command_invocation", {**running, "Status": "InProgress"})
        with pytest.raises(cli_agent.CollectTimedOut, match="still InProgress after 3 s"):
            access.collect(instance_id, timeout=3)
