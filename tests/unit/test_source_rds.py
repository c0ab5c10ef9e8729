"""RDS logical replication with moto: parameter group creation and attachment, the reboot paths.

moto reports every parameter group `in-sync`; the pending-reboot cases wrap the client's
describe_db_instances to report what real RDS reports after a static parameter change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from openflow_autopilot.aws.rds import (
    CREATED_BY_TAG,
    LOGICAL_REPLICATION,
    ensure_logical_replication,
    existing_value,
    rds_status,
    read_free_storage_bytes,
)
from openflow_autopilot.errors import (
    AwsRetryableError,
    InvalidRequest,
    NotReadyYet,
    PermissionDenied,
    PreconditionFailed,
)

REGION = "us-east-1"


@pytest.fixture
def rds() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("rds", region_name=REGION)


def create_instance(rds: Any, instance_id: str = "source-db", **extra: Any) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=instance_id,
        Engine="postgres",
        EngineVersion="15.4",
        DBInstanceClass="db.t3.micro",
        MasterUsername="postgres",
        MasterUserPassword="not-a-real-password",
        AllocatedStorage=20,
        **extra,
    )


def reporting(
    rds: Any, monkeypatch: pytest.MonkeyPatch, *, apply_status: str, status: str = "available"
) -> list[str]:
    """Make describe_db_instances report an apply status / instance status; record reboots."""
    real_describe, real_reboot = rds.describe_db_instances, rds.reboot_db_instance
    reboots: list[str] = []

    def describe(**kwargs: Any) -> Any:
        response = real_describe(**kwargs)
        for instance in response["DBInstances"]:
            instance["DBInstanceStatus"] = status
            for group in instance["DBParameterGroups"]:
                group["ParameterApplyStatus"] = apply_status
        return response

    def reboot(**kwargs: Any) -> Any:
        reboots.append(kwargs["DBInstanceIdentifier"])
        return real_reboot(**kwargs)

    monkeypatch.setattr(rds, "describe_db_instances", describe)
    monkeypatch.setattr(rds, "reboot_db_instance", reboot)
    return reboots


def group_of(rds: Any, instance_id: str = "source-db") -> str:
    instance = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
    return str(instance["DBParameterGroups"][0]["DBParameterGroupName"])


def test_a_default_parameter_group_is_replaced_by_a_custom_copy_with_logical_replication(rds: Any) -> None:
    create_instance(rds)
    rds.modify_db_parameter_group(
        DBParameterGroupName="default.postgres15",
        Parameters=[{"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"}],
    )
    result = ensure_logical_replication(rds, "source-db", allow_reboot=False)

    assert group_of(rds) == "openflow-source-db"
    created = rds.describe_db_parameter_groups(DBParameterGroupName="openflow-source-db")[
        "DBParameterGroups"
    ][0]
    assert created["DBParameterGroupFamily"] == "postgres15"
    values = {p["ParameterName"]: p.get("ParameterValue") for p in rds.describe_db_parameters(
        DBParameterGroupName="openflow-source-db")["Parameters"]}  # fmt: skip
    assert values[LOGICAL_REPLICATION] == "1"
    assert values["work_mem"] == "8192"
    assert result.parameter_group == "openflow-source-db"
    assert (
        result.actions[0] == "create parameter group openflow-source-db (postgres15) from default.postgres15"
    )
    assert any(a.startswith("attach parameter group openflow-source-db") for a in result.actions)
    assert result.reboot_required and not result.rebooted


def test_when_a_reboot_is_not_allowed_the_result_says_how_to_reboot(rds: Any) -> None:
    create_instance(rds)
    result = ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert result.reboot_required
    assert not result.rebooted
    assert "aws rds reboot-db-instance --db-instance-identifier source-db" in result.message


def test_when_a_reboot_is_allowed_the_instance_is_rebooted_after_the_change(
    rds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_instance(rds)
    reboots = reporting(rds, monkeypatch, apply_status="pending-reboot")
    result = ensure_logical_replication(rds, "source-db", allow_reboot=True)
    assert reboots == ["source-db"]
    assert result.rebooted
    assert result.parameter_apply_status == "pending-reboot"
    assert result.actions[-1] == "reboot source-db to apply openflow-source-db"


def test_a_pending_reboot_from_an_earlier_run_is_applied_only_when_allowed(
    rds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_instance(rds)
    ensure_logical_replication(rds, "source-db", allow_reboot=False)
    reboots = reporting(rds, monkeypatch, apply_status="pending-reboot")

    waiting = ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert waiting.actions == []
    assert waiting.reboot_required and not waiting.rebooted
    assert "pending-reboot" in waiting.message
    assert reboots == []

    rebooting = ensure_logical_replication(rds, "source-db", allow_reboot=True)
    assert rebooting.actions == ["reboot source-db to apply openflow-source-db"]
    assert reboots == ["source-db"]
    assert not rds_status(rds, "source-db").ready


def test_a_second_run_after_the_reboot_changes_nothing(rds: Any) -> None:
    create_instance(rds)
    ensure_logical_replication(rds, "source-db", allow_reboot=True)
    again = ensure_logical_replication(rds, "source-db", allow_reboot=True)
    assert again.actions == []
    assert not again.reboot_required
    assert "logical replication is on" in again.message


def test_the_family_is_derived_from_the_engine_version_when_the_default_group_cannot_be_described(
    rds: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_instance(rds)
    real = rds.describe_db_parameter_groups

    def describe(**kwargs: Any) -> Any:
        if kwargs.get("DBParameterGroupName", "").startswith("default."):
            return {"DBParameterGroups": []}
        return real(**kwargs)

    monkeypatch.setattr(rds, "describe_db_parameter_groups", describe)
    result = ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert (
        result.actions[0] == "create parameter group openflow-source-db (postgres15) from default.postgres15"
    )


def test_a_custom_group_is_modified_in_place_and_other_users_of_it_are_noted(rds: Any) -> None:
    rds.create_db_parameter_group(
        DBParameterGroupName="team-pg15", DBParameterGroupFamily="postgres15", Description="shared"
    )
    create_instance(rds, DBParameterGroupName="team-pg15")
    create_instance(rds, "other-db", DBParameterGroupName="team-pg15")
    result = ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert result.actions == [f"set {LOGICAL_REPLICATION} = 1 in team-pg15 (pending-reboot)"]
    assert existing_value(rds, "team-pg15") == "1"
    assert result.notes and "other-db" in result.notes[0]
    names = [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]]
    assert "openflow-source-db" not in names


def test_a_plan_lists_the_actions_and_changes_nothing(rds: Any) -> None:
    create_instance(rds)
    result = ensure_logical_replication(rds, "source-db", allow_reboot=True, plan_only=True)
    assert result.planned
    assert [a.split(" ")[0] for a in result.actions] == ["create", "attach", "set", "reboot"]
    assert group_of(rds) == "default.postgres15"
    names = [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]]
    assert "openflow-source-db" not in names


def test_a_leftover_group_from_an_interrupted_run_is_reused(rds: Any) -> None:
    create_instance(rds)
    rds.create_db_parameter_group(
        DBParameterGroupName="openflow-source-db",
        DBParameterGroupFamily="postgres15",
        Description="left",
        Tags=[CREATED_BY_TAG],  # the workflow's own, from the run that stopped after creating it
    )
    result = ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert not any(a.startswith("create") for a in result.actions)
    assert group_of(rds) == "openflow-source-db"


def test_a_group_name_of_another_family_is_refused(rds: Any) -> None:
    create_instance(rds)
    rds.create_db_parameter_group(
        DBParameterGroupName="openflow-source-db",
        DBParameterGroupFamily="postgres14",
        Description="old",
        Tags=[CREATED_BY_TAG],
    )
    with pytest.raises(PreconditionFailed, match="family postgres14"):
        ensure_logical_replication(rds, "source-db", allow_reboot=False)


def test_an_invalid_parameter_group_name_is_refused_before_any_change(rds: Any) -> None:
    create_instance(rds)
    with pytest.raises(InvalidRequest, match="parameter_group_name"):
        ensure_logical_replication(rds, "source-db", allow_reboot=False, parameter_group_name="bad--name")
    assert group_of(rds) == "default.postgres15"


def test_aurora_is_refused_with_a_pointer_to_cluster_parameter_groups(rds: Any) -> None:
    rds.create_db_cluster(
        DBClusterIdentifier="aurora-cluster",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="not-a-real-password",
    )
    rds.create_db_instance(
        DBInstanceIdentifier="aurora-1",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
        DBClusterIdentifier="aurora-cluster",
    )
    with pytest.raises(PreconditionFailed) as caught:
        ensure_logical_replication(rds, "aurora-1", allow_reboot=True)
    assert "cluster parameter group" in str(caught.value)


def test_an_unknown_instance_is_an_invalid_request_naming_it(rds: Any) -> None:
    with pytest.raises(InvalidRequest, match="'nope'"):
        ensure_logical_replication(rds, "nope", allow_reboot=False)


def test_a_busy_instance_is_not_ready_yet(rds: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    create_instance(rds)
    reporting(rds, monkeypatch, apply_status="in-sync", status="modifying")
    with pytest.raises(NotReadyYet, match="modifying"):
        ensure_logical_replication(rds, "source-db", allow_reboot=True)


def test_the_status_is_ready_when_available_and_in_sync(rds: Any) -> None:
    create_instance(rds)
    status = rds_status(rds, "source-db")
    assert status.ready
    assert status.endpoint_port == 5432
    assert status.parameter_group == "default.postgres15"


def test_throttling_is_retryable_and_access_denied_is_permanent() -> None:
    client = boto3.client("rds", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        stub.add_client_error("describe_db_instances", service_error_code="Throttling", http_status_code=400)
        with pytest.raises(AwsRetryableError):
            rds_status(client, "source-db")
        stub.add_client_error(
            "describe_db_instances", service_error_code="AccessDenied", http_status_code=403
        )
        with pytest.raises(PermissionDenied, match="rds:DescribeDBInstances"):
            rds_status(client, "source-db")


def test_free_storage_is_the_latest_cloudwatch_datapoint() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        assert read_free_storage_bytes(cloudwatch, "source-db", now=now) is None
        for minutes, value in ((9, 6e9), (4, 5e9)):
            cloudwatch.put_metric_data(
                Namespace="AWS/RDS",
                MetricData=[{
                    "MetricName": "FreeStorageSpace", "Unit": "Bytes", "Value": value,
                    "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "source-db"}],
                    "Timestamp": now - timedelta(minutes=minutes),
                }],
            )  # fmt: skip
        assert read_free_storage_bytes(cloudwatch, "source-db", now=now) == 5_000_000_000


def _someone_elses_group(rds: Any, name: str = "openflow-source-db") -> None:
    rds.create_db_parameter_group(
        DBParameterGroupName=name, DBParameterGroupFamily="postgres15", Description="the DBA's own"
    )


def test_a_group_with_the_default_name_that_someone_else_created_is_not_adopted(rds: Any) -> None:
    create_instance(rds)
    _someone_elses_group(rds)
    with pytest.raises(PreconditionFailed) as caught:
        ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert "was not created by openflow-autopilot" in caught.value.message
    assert "source.parameter_group_name: openflow-source-db" in (caught.value.fix or "")
    # nothing changed: the instance keeps its group and the other group keeps its values
    assert group_of(rds) == "default.postgres15"
    values = {p["ParameterName"]: p.get("ParameterValue") for p in rds.describe_db_parameters(
        DBParameterGroupName="openflow-source-db")["Parameters"]}  # fmt: skip
    assert values.get(LOGICAL_REPLICATION) != "1"


def test_a_group_the_request_names_is_used_even_when_someone_else_created_it(rds: Any) -> None:
    create_instance(rds)
    _someone_elses_group(rds, "team-pg15")
    result = ensure_logical_replication(
        rds, "source-db", allow_reboot=False, parameter_group_name="team-pg15"
    )
    assert group_of(rds) == "team-pg15" and result.parameter_group == "team-pg15"


def test_the_workflows_own_group_is_reused_on_a_second_instance_run(rds: Any) -> None:
    create_instance(rds)
    ensure_logical_replication(rds, "source-db", allow_reboot=False)
    # the instance is put back on the default group (by hand): the workflow's own group is taken again
    rds.modify_db_instance(
        DBInstanceIdentifier="source-db", DBParameterGroupName="default.postgres15", ApplyImmediately=True
    )
    again = ensure_logical_replication(rds, "source-db", allow_reboot=False)
    assert group_of(rds) == "openflow-source-db" and again.parameter_group == "openflow-source-db"
