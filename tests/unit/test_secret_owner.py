"""A workflow secret tagged for another deployment is refused before it is read, over moto's Secrets
Manager (which returns the Tags in DescribeSecret as the service does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.aws.secret_owner import OWNER_TAG, check_secret_owner, owner_tags
from openflow_autopilot.config import load_request_file
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.phases import source

ROOT = Path(__file__).resolve().parents[2]
REQUEST = load_request_file(str(ROOT / "events" / "provision" / "request.yaml"))
DEPLOYMENT = REQUEST.openflow.deployment_name


class NoDatabase:
    """The source admin: the refusal comes before any connection is made."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"PostgreSQL was contacted ({name})")


@pytest.fixture
def secrets() -> Any:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_the_connector_secret_of_another_deployment_is_refused_and_postgres_is_not_contacted(
    secrets: Any,
) -> None:
    name = source.connector_secret_name(REQUEST)
    secrets.create_secret(
        Name=name,
        SecretString=json.dumps({"username": "u", "password": "the-other-deployments-password"}),
        Tags=owner_tags("OTHER_DEPLOYMENT"),
    )
    with pytest.raises(PreconditionFailed) as caught:
        source.prepare(REQUEST, NoDatabase(), secrets=secrets, secret_name=name)  # type: ignore[arg-type]
    assert "OTHER_DEPLOYMENT" in caught.value.message
    assert "the-other-deployments-password" not in str(caught.value)
    assert "`name`" in (caught.value.fix or "")


def test_a_created_connector_secret_carries_the_deployment_and_is_then_its_own(secrets: Any) -> None:
    name = source.connector_secret_name(REQUEST)
    _, arn, created = source._connector_password(
        secrets, name, "openflow_cdc", existing_role=False, deployment=DEPLOYMENT
    )
    tags = {t["Key"]: t["Value"] for t in secrets.describe_secret(SecretId=arn)["Tags"]}
    assert created and tags == {"managed-by": "openflow-autopilot", OWNER_TAG: DEPLOYMENT}
    _, again, created = source._connector_password(
        secrets, name, "openflow_cdc", existing_role=False, deployment=DEPLOYMENT
    )
    assert again == arn and not created


@pytest.mark.parametrize("tags", [[], [{"Key": "team", "Value": "data"}], owner_tags(DEPLOYMENT)])
def test_a_secret_without_an_owner_or_with_this_one_is_used(secrets: Any, tags: list[dict[str, str]]) -> None:
    # untagged: created by the user (an existing replication role) or by a release before the tag
    kwargs: dict[str, Any] = {"Tags": tags} if tags else {}
    secrets.create_secret(Name="openflow-autopilot/x/service-user", SecretString="{}", **kwargs)
    check_secret_owner(secrets, "openflow-autopilot/x/service-user", DEPLOYMENT)


def test_a_missing_secret_is_free(secrets: Any) -> None:
    check_secret_owner(secrets, "openflow-autopilot/nothing-here", DEPLOYMENT)
