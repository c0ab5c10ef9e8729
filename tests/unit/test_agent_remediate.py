"""Deciding and running repairs: the plan is pure; ECR and SSM are moto's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.openflow.agent.diagnose import diagnose
from openflow_autopilot.openflow.agent.markers import render_collected_output
from openflow_autopilot.openflow.agent.remediate import (
    create_missing_repositories,
    plan_remediation,
    run_remediation,
)
from openflow_autopilot.openflow.agent.repositories import OPENFLOW_REPOSITORIES
from openflow_autopilot.openflow.agent.repository_check import existing_repositories, missing_repositories
from openflow_autopilot.openflow.agent.signatures import Severity

REGION = "ap-northeast-1"
NOW = datetime(2025, 6, 23, 10, 0, tzinfo=UTC)
JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"
HOST = "ip-10-10-6-22.ap-northeast-1.compute.internal"
TAGS = [{"Key": "openflow-data-plane-key", "Value": "abc123"}]


def journal(scenario: str) -> str:
    sections = {p.stem: p.read_text(encoding="utf-8") for p in sorted((JOURNALS / scenario).glob("*.log"))}
    return render_collected_output(sections, time=NOW)


def seed_docker_only() -> str:
    return render_collected_output(
        {"docker": (JOURNALS / "ecr-missing" / "docker.log").read_text()}, time=NOW
    )


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
        yield {
            "ecr": boto3.client("ecr", region_name=REGION),
            "ssm": boto3.client("ssm", region_name=REGION),
            "instance_id": instance["InstanceId"],
        }


@pytest.fixture
def ecr(aws: dict[str, Any]) -> Iterator[Any]:
    client = aws["ecr"]
    yield client
    for repository in client.describe_repositories()["repositories"]:
        client.delete_repository(repositoryName=repository["repositoryName"], force=True)


# --- the plan ----------------------------------------------------------------------------------------
def test_missing_repositories_are_planned_with_the_names_the_diagnosis_gives() -> None:
    plan = plan_remediation(
        diagnose(journal("ecr-missing"), now=NOW), attempts_so_far={}, max_attempts=2, diagnose_only=False
    )
    [item] = plan.run
    assert item.id == "create_missing_ecr_repositories" and item.attempt == 1
    assert item.finding_ids == ["ECR_REPOSITORY_MISSING"]
    assert item.repositories == list(OPENFLOW_REPOSITORIES)
    assert plan.attempts_after == {"create_missing_ecr_repositories": 1}


def test_a_remediation_is_not_planned_past_its_limit() -> None:
    diagnosis = diagnose(journal("ecr-missing"), now=NOW)
    plan = plan_remediation(
        diagnosis, attempts_so_far={"create_missing_ecr_repositories": 2}, max_attempts=2, diagnose_only=False
    )
    assert plan.nothing_to_run
    [skipped] = [s for s in plan.skipped if s.remediation == "create_missing_ecr_repositories"]
    assert skipped.reason == "limit_reached" and "2 time(s)" in skipped.detail
    assert plan.attempts_after == {"create_missing_ecr_repositories": 2}


def test_nothing_is_planned_when_the_request_asks_for_a_diagnosis_only() -> None:
    plan = plan_remediation(
        diagnose(journal("ecr-missing"), now=NOW), attempts_so_far={}, max_attempts=3, diagnose_only=True
    )
    assert plan.nothing_to_run
    reasons = {s.finding_id: s.reason for s in plan.skipped}
    assert reasons == {"ECR_REPOSITORY_MISSING": "diagnose_only", "SERVICE_RUN_FAILED": "no_remediation"}


def test_a_signature_without_remediation_is_reported_as_needing_a_human() -> None:
    plan = plan_remediation(
        diagnose(journal("apply-failure"), now=NOW), attempts_so_far={}, max_attempts=3, diagnose_only=False
    )
    assert plan.nothing_to_run
    reasons = {(s.finding_id, s.reason) for s in plan.skipped}
    assert ("APPLY_INFRASTRUCTURE_FAILED", "no_remediation") in reasons


def test_a_healthy_diagnosis_plans_nothing_and_skips_nothing() -> None:
    plan = plan_remediation(
        diagnose(journal("healthy"), now=NOW), attempts_so_far={}, max_attempts=3, diagnose_only=False
    )
    assert plan.run == [] and plan.skipped == []


def test_a_rerun_is_covered_by_creating_repositories_which_reruns_the_services_too() -> None:
    manifest = (
        f"2025-06-23T06:15:40+0000 {HOST} apply-infrastructure.sh[3]: docker: Error response from daemon: "
        "manifest unknown: Requested image not found"
    )
    text = render_collected_output(
        {"docker": (JOURNALS / "ecr-missing" / "docker.log").read_text(), "apply-infrastructure": manifest}
    )
    plan = plan_remediation(diagnose(text, now=NOW), attempts_so_far={}, max_attempts=1, diagnose_only=False)
    assert [item.id for item in plan.run] == ["create_missing_ecr_repositories"]
    assert any(s.remediation == "rerun_agent_services" and s.reason == "covered" for s in plan.skipped)


def test_a_negative_limit_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        plan_remediation(diagnose("", now=NOW), attempts_so_far={}, max_attempts=-1, diagnose_only=False)


# --- ECR ---------------------------------------------------------------------------------------------
def test_missing_repositories_lists_what_ecr_lacks_of_the_ten(ecr: Any) -> None:
    ecr.create_repository(repositoryName="snowflake-openflow/runtime-operator")
    missing = missing_repositories(ecr)
    assert len(missing) == 9 and "snowflake-openflow/runtime-operator" not in missing
    assert existing_repositories(ecr) == {"snowflake-openflow/runtime-operator"}


def test_repositories_named_in_the_journal_but_created_since_are_reported_as_such(ecr: Any) -> None:
    ecr.create_repository(repositoryName="snowflake-openflow/runtime-operator")
    diagnosis = diagnose(seed_docker_only(), existing_repositories=existing_repositories(ecr), now=NOW)
    finding = diagnosis.finding("ECR_REPOSITORY_MISSING")
    assert finding is not None and finding.severity is Severity.ERROR
    states = {r.name: (r.named_in_journal, r.state) for r in finding.repositories}
    assert states["snowflake-openflow/runtime-operator"] == (True, "already created since")
    assert states["snowflake-openflow/openflow-runtime-gateway"] == (True, "missing")
    assert states["snowflake-openflow/runtime-server"] == (
        False,
        "missing",
    )  # ECR says so, the journal not yet
    assert len(finding.missing_repositories) == 9


def test_when_every_repository_exists_now_the_finding_is_resolved_and_needs_no_remediation(ecr: Any) -> None:
    create_missing_repositories(ecr, OPENFLOW_REPOSITORIES, tags=TAGS)
    diagnosis = diagnose(seed_docker_only(), existing_repositories=existing_repositories(ecr), now=NOW)
    finding = diagnosis.finding("ECR_REPOSITORY_MISSING")
    assert finding is not None and finding.resolved and finding.severity is Severity.INFO
    assert finding.remediation is None and finding.missing_repositories == []
    assert "already created since" in finding.explanation
    plan = plan_remediation(diagnosis, attempts_so_far={}, max_attempts=1, diagnose_only=False)
    assert plan.nothing_to_run


def test_repositories_missing_in_ecr_are_a_finding_even_before_the_journal_names_them(ecr: Any) -> None:
    quiet = render_collected_output(
        {
            "sync-images": f"2025-06-23T06:05:00+0000 {HOST} sync-images.sh[5]: "
            "Logging in to local private ECR..."
        }
    )
    diagnosis = diagnose(quiet, existing_repositories=existing_repositories(ecr), now=NOW)
    finding = diagnosis.finding("ECR_REPOSITORY_MISSING")
    assert finding is not None and finding.severity is Severity.ERROR
    assert finding.missing_repositories == list(OPENFLOW_REPOSITORIES)
    assert finding.evidence[0].source == "ecr:DescribeRepositories"


def test_creating_missing_repositories_is_idempotent_and_tags_them(ecr: Any) -> None:
    ecr.create_repository(repositoryName="snowflake-openflow/runtime-operator")
    created = create_missing_repositories(ecr, OPENFLOW_REPOSITORIES, tags=TAGS)
    assert len(created) == 9 and "snowflake-openflow/runtime-operator" not in created
    assert create_missing_repositories(ecr, OPENFLOW_REPOSITORIES, tags=TAGS) == []
    repository = ecr.describe_repositories(repositoryNames=["snowflake-openflow/runtime-server"])[
        "repositories"
    ][0]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"] == TAGS


def test_only_snowflake_openflow_repositories_with_valid_tags_are_created(ecr: Any) -> None:
    with pytest.raises(InvalidRequest, match="refused: someone-else/app"):
        create_missing_repositories(ecr, ["someone-else/app"], tags=TAGS)
    with pytest.raises(InvalidRequest, match="reserved"):
        create_missing_repositories(
            ecr, ["snowflake-openflow/runtime-server"], tags=[{"Key": "aws:x", "Value": "y"}]
        )
    assert ecr.describe_repositories()["repositories"] == []


def test_running_the_repository_remediation_creates_exactly_the_missing_ones_and_reruns_the_services(
    aws: dict[str, Any], ecr: Any
) -> None:
    ecr.create_repository(repositoryName="snowflake-openflow/openflow-runtime-gateway")
    plan = plan_remediation(
        diagnose(seed_docker_only(), now=NOW), attempts_so_far={}, max_attempts=1, diagnose_only=False
    )
    [item] = plan.run
    result = run_remediation(item, ecr=ecr, ssm=aws["ssm"], instance_id=aws["instance_id"], tags=TAGS)
    assert len(result.created_repositories) == 9
    assert result.already_present == ["snowflake-openflow/openflow-runtime-gateway"]
    assert result.rerun_command_id is not None
    [command] = aws["ssm"].list_commands(CommandId=result.rerun_command_id)["Commands"]
    assert "openflow-sync-images.service" in command["Parameters"]["commands"][0]
    again = run_remediation(item, ecr=ecr, ssm=aws["ssm"], instance_id=aws["instance_id"], tags=TAGS)
    assert again.created_repositories == []
