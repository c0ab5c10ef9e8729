"""After a start, with typed values: the replication slot's position before the connector starts,
one check that it advances, and the canary row written at the source and looked for in Snowflake."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import BudgetExhausted
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow.canary import insert_canary
from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.postgres.source_admin import slot_name, source_admin
from openflow_autopilot.power.event import artifact_bucket
from openflow_autopilot.power.memory import update_memory
from openflow_autopilot.power.slot import SlotCheck, SlotPosition, check_slot, read_position
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.watch.heartbeat import look_for
from openflow_autopilot.watch.models import Heartbeat

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

CANARY_NOTE = "openflow-autopilot power start"


class CanaryPoll(BaseModel):
    """`$.polls.canary`: one look for the start's canary row; its latency once seen."""

    attempt: int = 0
    done: bool = False
    canary_seconds: float | None = None


def _position(
    request: ProvisionRequest, at: datetime, secrets: SecretsManagerClient | None, rds: RDSClient | None
) -> SlotPosition:
    with connect(source_admin(request, secrets=secrets, rds=rds).dsn()) as conn:
        return read_position(conn, slot_name(request), at=at)


def slot_baseline(
    request: ProvisionRequest,
    *,
    at: datetime,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
) -> SlotCheck:
    """The slot's position before the connector starts, for CheckSlotAdvances to compare."""
    return SlotCheck(baseline=_position(request, at, secrets, rds))


def slot_advances(
    request: ProvisionRequest,
    state: SlotCheck,
    *,
    at: datetime,
    max_checks: int,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
    s3: S3Client | None = None,
) -> SlotCheck:
    """One poll: has the slot advanced since the baseline? Once it has, its position is the WAL
    sample the next stop's rate is measured from."""
    position = _position(request, at, secrets, rds)
    result = check_slot(position, state, max_checks=max_checks)
    if result.done:
        s3 = s3 or client("s3", request.aws.region)
        update_memory(
            s3, artifact_bucket(env), request.openflow.deployment_name, wal_sample=position.sample()
        )
    return result


def write_canary(
    request: ProvisionRequest, *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> Heartbeat:
    """A row at the source after every start, which CheckCanary must see in Snowflake."""
    with connect(source_admin(request, secrets=secrets, rds=rds).dsn()) as conn:
        canary = insert_canary(conn, note=CANARY_NOTE)
    return Heartbeat(id=canary.id, written_at=datetime.fromisoformat(canary.inserted_at))


def canary_seen(
    request: ProvisionRequest,
    canary: Heartbeat,
    state: CanaryPoll,
    *,
    at: datetime,
    max_checks: int,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> CanaryPoll:
    """One look for the canary in the destination, as the login role (like the watch's heartbeat)."""
    attempt = state.attempt + 1
    login = request.snowflake.login_role
    with request_session(request, login, env=env, secrets=secrets, connector=connector) as sql:
        seen = look_for(sql, request.destination.database, canary, now=at)
    if seen.seen_at is None and attempt >= max_checks:
        raise BudgetExhausted(
            f"the canary row {canary.id} written at the source at {canary.written_at.isoformat()} did not "
            f"arrive in {request.destination.database} within {attempt} checks",
            fix="look at the connector's bulletins in the Openflow UI and at the replication slot "
            "(openflow-autopilot source doctor); the runtime and the connector are running",
        )
    return CanaryPoll(attempt=attempt, done=seen.seen_at is not None, canary_seconds=seen.latency_seconds)
