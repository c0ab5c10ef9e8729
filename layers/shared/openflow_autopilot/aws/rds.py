"""RDS for PostgreSQL: turn on logical replication through a custom DB parameter group.

`ensure_logical_replication` is one "ensure" step: it finds the instance, gives it a custom
parameter group if it uses a `default.*` one (copying the current group's user-set values),
sets `rds.logical_replication = 1`, and reboots only when a reboot is pending and the caller
allows it. It never waits: the state machine polls `rds_status` until the instance is
`available` and its parameter group `in-sync`. Aurora (cluster parameter groups) is refused.
All clients are parameters.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.errors import (
    InvalidRequest,
    NotReadyYet,
    PreconditionFailed,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import (
        DBInstanceTypeDef,
        ParameterOutputTypeDef,
        ParameterTypeDef,
        TagTypeDef,
    )

LOGICAL_REPLICATION = "rds.logical_replication"
CREATED_BY_TAG: TagTypeDef = {"Key": "created-by", "Value": "openflow-autopilot"}
_GROUP_NAME = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)")
_NOT_READY = frozenset(
    {"InvalidDBInstanceState", "InvalidDBInstanceStateFault", "InvalidDBParameterGroupState"}
)
_MODIFY_BATCH = 20  # ModifyDBParameterGroup takes at most 20 parameters per call


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


class RdsResult(_Model):
    instance_id: str
    parameter_group: str
    parameter_apply_status: str
    planned: bool
    actions: list[str]
    reboot_required: bool
    rebooted: bool
    message: str  # what happens next, or what a human must do
    notes: list[str]


class RdsStatus(_Model):
    instance_id: str
    status: str
    parameter_group: str
    parameter_apply_status: str
    ready: bool  # available and in-sync: the polling loop may continue
    endpoint_address: str | None
    endpoint_port: int | None
    master_secret_arn: str | None  # the RDS-managed master user secret, when enabled


_code = error_code


def aws_errors(call: str) -> AbstractContextManager[None]:
    """aws/calls.aws_call, with the instance's busy states as NotReadyYet (the loop waits)."""
    return aws_call(call, busy=_NOT_READY, invalid=frozenset())


def describe_instance(rds: RDSClient, instance_id: str) -> DBInstanceTypeDef:
    try:
        with aws_errors("rds:DescribeDBInstances"):
            return rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
    except ClientError as exc:
        if _code(exc) == "DBInstanceNotFound":
            raise InvalidRequest(
                f"instance_id: no RDS instance {instance_id!r} in this account and region",
                fix="check the DB instance identifier and the AWS region",
            ) from None
        raise


def _parameter_group(instance: DBInstanceTypeDef) -> tuple[str, str]:
    group = instance["DBParameterGroups"][0]
    return group["DBParameterGroupName"], group.get("ParameterApplyStatus", "in-sync")


def _check_engine(instance: DBInstanceTypeDef) -> None:
    engine = instance.get("Engine", "")
    instance_id = instance["DBInstanceIdentifier"]
    if engine.startswith("aurora") or instance.get("DBClusterIdentifier"):
        raise PreconditionFailed(
            f"{instance_id} is an Aurora instance (cluster {instance.get('DBClusterIdentifier', '?')}): "
            "logical replication is set in the DB cluster parameter group, which this step does not manage",
            fix="set rds.logical_replication = 1 in a custom DB cluster parameter group attached to the "
            "cluster (aws rds modify-db-cluster-parameter-group), reboot the writer instance, then re-run",
        )
    if engine != "postgres":
        raise InvalidRequest(
            f"instance_id: {instance_id} runs {engine or 'an unknown engine'}, not PostgreSQL",
            fix="give the identifier of an RDS for PostgreSQL instance",
        )


def _describe_group(rds: RDSClient, name: str) -> str | None:
    """The family of a DB parameter group, or None when it does not exist."""
    try:
        with aws_errors("rds:DescribeDBParameterGroups"):
            found = rds.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"]
    except ClientError as exc:
        if _code(exc) == "DBParameterGroupNotFound":
            return None
        raise
    return found[0]["DBParameterGroupFamily"] if found else None


def _created_by_us(rds: RDSClient, name: str) -> bool:
    """Whether the group carries CREATED_BY_TAG (ListTagsForResource on its ARN:
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ListTagsForResource.html)."""
    with aws_errors("rds:DescribeDBParameterGroups"):
        found = rds.describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"]
    arn = found[0].get("DBParameterGroupArn") if found else None
    if not arn:
        return False
    with aws_errors("rds:ListTagsForResource"):
        tags = rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])
    return any(
        t.get("Key") == CREATED_BY_TAG["Key"] and t.get("Value") == CREATED_BY_TAG["Value"] for t in tags
    )


def _family(rds: RDSClient, group: str, instance: DBInstanceTypeDef) -> str:
    family = _describe_group(rds, group)
    if family:
        return family
    # Derive it as RDS names families: postgres<major> (postgres9.6 before version 10).
    parts = instance.get("EngineVersion", "").split(".")
    major = parts[0] if parts[0].isdigit() and int(parts[0]) >= 10 else ".".join(parts[:2])
    return f"postgres{major}"


def _parameters(rds: RDSClient, group: str, source: str | None = None) -> list[ParameterOutputTypeDef]:
    paginator = rds.get_paginator("describe_db_parameters")
    kwargs: dict[str, Any] = {"DBParameterGroupName": group}
    if source:
        kwargs["Source"] = source
    with aws_errors("rds:DescribeDBParameters"):
        return [p for page in paginator.paginate(**kwargs) for p in page.get("Parameters", [])]


def _modify(rds: RDSClient, group: str, parameters: list[ParameterTypeDef]) -> None:
    for i in range(0, len(parameters), _MODIFY_BATCH):
        with aws_errors("rds:ModifyDBParameterGroup"):
            rds.modify_db_parameter_group(
                DBParameterGroupName=group, Parameters=parameters[i : i + _MODIFY_BATCH]
            )


def _other_users(rds: RDSClient, group: str, instance_id: str) -> list[str]:
    paginator = rds.get_paginator("describe_db_instances")
    with aws_errors("rds:DescribeDBInstances"):
        return [
            i["DBInstanceIdentifier"]
            for page in paginator.paginate()
            for i in page["DBInstances"]
            if i["DBInstanceIdentifier"] != instance_id
            and any(g["DBParameterGroupName"] == group for g in i.get("DBParameterGroups", []))
        ]


def default_group_name(instance_id: str) -> str:
    return f"openflow-{instance_id}"


def ensure_logical_replication(
    rds: RDSClient,
    instance_id: str,
    *,
    allow_reboot: bool,
    parameter_group_name: str | None = None,
    plan_only: bool = False,
) -> RdsResult:
    """Ensure `rds.logical_replication = 1` is set and applied on an RDS for PostgreSQL instance.

    Returns with reboot_required=True and rebooted=False when a reboot is pending but not allowed;
    the caller then pauses (task token) or tells a human. Raises NotReadyYet while the instance is
    busy (modifying, rebooting), so the state machine retries this same step."""
    instance = describe_instance(rds, instance_id)
    _check_engine(instance)
    status = instance.get("DBInstanceStatus", "")
    if status != "available":
        raise NotReadyYet(
            f"instance {instance_id} is {status}, not available", call="rds:DescribeDBInstances"
        )
    group, apply_status = _parameter_group(instance)
    actions: list[str] = []
    notes: list[str] = []
    changed = False

    if group.startswith("default."):
        target = parameter_group_name or default_group_name(instance_id)
        if not _GROUP_NAME.fullmatch(target):
            raise InvalidRequest(
                f"parameter_group_name: {target!r} is not a valid DB parameter group name",
                fix="use letters, digits and single hyphens, starting with a letter (at most 255 characters)",
            )
        family = _family(rds, group, instance)
        existing = _describe_group(rds, target)
        if existing is not None and parameter_group_name is None and not _created_by_us(rds, target):
            # The default name is taken by a group someone else made: it is not adopted (and changed)
            # unless the request names it.
            raise PreconditionFailed(
                f"parameter group {target} exists and was not created by openflow-autopilot (no "
                f"{CREATED_BY_TAG['Key']} tag)",
                fix=f"set source.parameter_group_name: {target} to use it (it gets "
                f"{LOGICAL_REPLICATION} = 1), or name another group to create",
            )
        if existing is not None and existing != family:
            raise PreconditionFailed(
                f"parameter group {target} exists with family {existing}, but {instance_id} needs {family}",
                fix="pass another parameter_group_name, or delete that group",
            )
        if existing is None:
            actions.append(f"create parameter group {target} ({family}) from {group}")
            if not plan_only:
                try:
                    with aws_errors("rds:CreateDBParameterGroup"):
                        rds.create_db_parameter_group(
                            DBParameterGroupName=target,
                            DBParameterGroupFamily=family,
                            Description=f"{group} with rds.logical_replication=1 for Openflow CDC",
                            Tags=[CREATED_BY_TAG],
                        )
                except ClientError as exc:
                    # the SDK retried a create whose answer was lost: the group is there, and what
                    # follows (copying parameters, attaching) is idempotent
                    already = _code(exc) == "DBParameterGroupAlreadyExists"
                    if not already or _describe_group(rds, target) != family:
                        raise
                copied: list[ParameterTypeDef] = [
                    {
                        "ParameterName": p["ParameterName"],
                        "ParameterValue": p["ParameterValue"],
                        "ApplyMethod": "immediate" if p.get("ApplyType") == "dynamic" else "pending-reboot",
                    }
                    for p in _parameters(rds, group, source="user")
                    if "ParameterValue" in p and p["ParameterName"] != LOGICAL_REPLICATION
                ]
                _modify(rds, target, copied)
                if copied:
                    actions.append(f"copy {len(copied)} user-set parameter(s) from {group} to {target}")
        actions.append(f"attach parameter group {target} to {instance_id} (takes effect at the next reboot)")
        if not plan_only:
            with aws_errors("rds:ModifyDBInstance"):
                rds.modify_db_instance(
                    DBInstanceIdentifier=instance_id, DBParameterGroupName=target, ApplyImmediately=True
                )
        group, changed = target, True

    # A group this plan would create has no value yet.
    value = None if plan_only and changed else existing_value(rds, group)
    if value != "1":
        actions.append(f"set {LOGICAL_REPLICATION} = 1 in {group} (pending-reboot)")
        if not plan_only:
            shared = _other_users(rds, group, instance_id)
            if shared:
                notes.append(
                    f"parameter group {group} is also used by {', '.join(shared)}: they get logical "
                    "replication (more WAL) at their next reboot"
                )
            _modify(
                rds,
                group,
                [
                    {
                        "ParameterName": LOGICAL_REPLICATION,
                        "ParameterValue": "1",
                        "ApplyMethod": "pending-reboot",
                    }
                ],
            )
        changed = True

    if not plan_only and changed:
        group, apply_status = _parameter_group(describe_instance(rds, instance_id))
    reboot_required = changed or apply_status == "pending-reboot"
    rebooted = False
    if reboot_required and allow_reboot:
        actions.append(f"reboot {instance_id} to apply {group}")
        if not plan_only:
            with aws_errors("rds:RebootDBInstance"):
                rds.reboot_db_instance(DBInstanceIdentifier=instance_id)
            rebooted = True
    if rebooted:
        message = f"rebooting {instance_id}; poll rds_status until it is available and in-sync"
    elif reboot_required:
        message = (
            f"{instance_id} must be rebooted to turn on logical replication (parameter group {group} is "
            f"{'changed' if changed else apply_status}); reboot it in a quiet moment with "
            f"`aws rds reboot-db-instance --db-instance-identifier {instance_id}`, "
            "or allow the reboot and re-run"
        )
    else:
        message = f"logical replication is on: {group} has {LOGICAL_REPLICATION} = 1 and is {apply_status}"
    return RdsResult(
        instance_id=instance_id,
        parameter_group=group,
        parameter_apply_status=apply_status,
        planned=plan_only,
        actions=actions,
        reboot_required=reboot_required,
        rebooted=rebooted,
        message=message,
        notes=notes,
    )


def existing_value(rds: RDSClient, group: str) -> str | None:
    """The group's value of rds.logical_replication (None when unset)."""
    for p in _parameters(rds, group):
        if p["ParameterName"] == LOGICAL_REPLICATION:
            return p.get("ParameterValue")
    return None


def rds_status(rds: RDSClient, instance_id: str) -> RdsStatus:
    """One poll for the state machine's wait loop; never sleeps."""
    instance = describe_instance(rds, instance_id)
    group, apply_status = _parameter_group(instance)
    status = instance.get("DBInstanceStatus", "")
    endpoint = instance.get("Endpoint", {})
    return RdsStatus(
        instance_id=instance_id,
        status=status,
        parameter_group=group,
        parameter_apply_status=apply_status,
        ready=status == "available"
        and all(g.get("ParameterApplyStatus") == "in-sync" for g in instance.get("DBParameterGroups", [])),
        endpoint_address=endpoint.get("Address"),
        endpoint_port=endpoint.get("Port"),
        master_secret_arn=instance.get("MasterUserSecret", {}).get("SecretArn"),
    )


def read_free_storage_bytes(
    cloudwatch: CloudWatchClient,
    instance_id: str,
    *,
    now: datetime,
    lookback: timedelta = timedelta(minutes=15),
) -> int | None:
    """The latest `FreeStorageSpace` of the instance (bytes), or None when CloudWatch has no datapoint."""
    with aws_errors("cloudwatch:GetMetricStatistics"):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS",
            MetricName="FreeStorageSpace",
            Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance_id}],
            StartTime=now - lookback,
            EndTime=now,
            Period=60,
            Statistics=["Minimum"],
        )["Datapoints"]
    if not points:
        return None
    latest = max(points, key=lambda p: p["Timestamp"])
    return int(latest["Minimum"])
