"""The proof: the extracted ensure-ecr-repo.sh, run with bash against moto's ECR.

The original script (the template as Openflow hands it over) creates no repository; the doctor's repair
creates the missing ones; running the repair again changes nothing.
"""

from __future__ import annotations

import functools
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from openflow_autopilot.openflow.template import doctor
from openflow_sandbox.agent_scripts import pseudo_parameters, run_agent_script, stack_refs, stand_in_env

pytestmark = pytest.mark.sandbox

TEMPLATES = Path(__file__).resolve().parents[2] / "sandbox" / "openflow_sandbox" / "templates"
ORIGINAL = (TEMPLATES / "openflow-byoc-agent.yaml").read_text()
REGION = "us-east-1"
# A few of the ten repositories the agent's UserData ensures.
REPOSITORIES = (
    "snowflake-openflow/openflow-data-plane-agent-aws",
    "snowflake-openflow/runtime-operator",
    "snowflake-openflow/runtime-operator-chart",
)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def endpoint(moto_url: str) -> str:
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310 - local moto
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass
    return moto_url


def ecr(endpoint: str) -> Any:
    return boto3.client(
        "ecr", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="t", aws_secret_access_key="t"
    )


def ecr_repositories(endpoint: str) -> list[str]:
    return sorted(
        repository["repositoryName"] for repository in ecr(endpoint).describe_repositories()["repositories"]
    )


def ensure_all(template: str, endpoint: str) -> list[tuple[int, str, str]]:
    refs = pseudo_parameters(REGION)
    runs = []
    for repository in REPOSITORIES:
        run = run_agent_script(template, "ensure-ecr-repo.sh", [repository], refs=refs, endpoint_url=endpoint)
        runs.append((run.exit_code, run.stdout, run.stderr))
    return runs


@functools.cache
def repaired() -> str:
    fixed = doctor(ORIGINAL, fix=True).fixed_text
    assert fixed is not None
    return fixed


def test_the_original_ensure_ecr_repo_script_creates_no_repository(endpoint: str) -> None:
    runs = ensure_all(ORIGINAL, endpoint)
    assert ecr_repositories(endpoint) == []
    for _, stdout, stderr in runs:
        assert stdout == ""
        assert "RepositoryNotFoundException" in stderr and "invalid variable name" in stderr


def test_the_repaired_script_creates_the_missing_repositories(endpoint: str) -> None:
    runs = ensure_all(repaired(), endpoint)
    assert [code for code, _, _ in runs] == [0, 0, 0]
    assert ecr_repositories(endpoint) == sorted(REPOSITORIES)


def test_running_the_repaired_script_again_is_harmless(endpoint: str) -> None:
    for repository in REPOSITORIES:  # the state a first run leaves (the test above runs it)
        ecr(endpoint).create_repository(repositoryName=repository)
    again = ensure_all(repaired(), endpoint)
    assert again == [(0, "", "")] * len(REPOSITORIES)
    assert ecr_repositories(endpoint) == sorted(REPOSITORIES)


def test_repairing_only_the_indirect_expansion_still_fails_on_the_empty_tags_option(endpoint: str) -> None:
    half_fixed = ORIGINAL.replace("${!!exists_check}", "$exists_check")
    runs = ensure_all(half_fixed, endpoint)
    assert ecr_repositories(endpoint) == []
    assert all(code == 252 for code, _, _ in runs)
    assert all(
        "aws: error: argument --tags: expected at least one argument" in stderr for _, _, stderr in runs
    )


def test_the_aws_stand_in_fails_like_the_cli_for_a_missing_repository(endpoint: str) -> None:
    env = {
        **stand_in_env(),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
    }
    command = [
        "aws",
        "ecr",
        "describe-repositories",
        "--region",
        REGION,
        "--repository-names",
        "snowflake-openflow/x",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 254
    assert result.stderr == (
        "\nAn error occurred (RepositoryNotFoundException) when calling the DescribeRepositories operation: "
        "The repository with name 'snowflake-openflow/x' does not exist in the registry with id "
        "'123456789012'\n"
    )


def test_the_template_creates_a_stack_in_moto_and_its_values_reach_the_scripts(endpoint: str) -> None:
    cloudformation = boto3.client(
        "cloudformation",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    cloudformation.create_stack(StackName="openflow-k7q2xw9mzp", TemplateBody=repaired())
    stack = cloudformation.describe_stacks(StackName="openflow-k7q2xw9mzp")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    refs = stack_refs(cloudformation, "openflow-k7q2xw9mzp", region=REGION)
    assert refs["InfraVPC"].startswith("vpc-")
    run = run_agent_script(
        repaired(), "ensure-ecr-repo.sh", [REPOSITORIES[1]], refs=refs, endpoint_url=endpoint
    )
    assert run.exit_code == 0
    assert ecr_repositories(endpoint) == [REPOSITORIES[1]]
