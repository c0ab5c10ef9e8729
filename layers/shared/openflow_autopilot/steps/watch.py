"""The watch state machine's Task states (statemachines/watch.asl.json), one function each, named as
the state; functions/watch_<state>/app.py calls exactly one of them. Each parses its state's input
(the ASL's Parameters) into a model, then calls watch/run.py or watch/record.py with typed values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv, LockEnv, StartPowerEnv, WatchLoadEnv
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.steps.inputs import parse
from openflow_autopilot.watch.models import (
    FreshnessPart,
    Heartbeat,
    OpenflowPart,
    SlotPart,
    StepError,
    WatchMemory,
    WatchPart,
    WokePart,
)
from openflow_autopilot.watch.record import RunParts, record_run
from openflow_autopilot.watch.run import (
    check_heartbeat as look_for_heartbeat,
)
from openflow_autopilot.watch.run import (
    check_openflow as openflow_statuses,
)
from openflow_autopilot.watch.run import (
    check_slot as slot_reading,
)
from openflow_autopilot.watch.run import (
    load_run,
    write_heartbeat_at_source,
)
from openflow_autopilot.watch.run import (
    wake_early as start_power_early,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


def _parse[M: BaseModel](model: type[M], event: dict[str, Any]) -> M:
    return parse(model, event, "watch")


# --- the inputs ---------------------------------------------------------------------------------
class LoadStart(BaseModel):
    """What the watch's schedule sends (`<deployment>-watch`): the deployment and the scheduled time."""

    model_config = ConfigDict(extra="ignore")

    deployment: str = ""
    now: str | None = None


class LoadInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: LoadStart = Field(default_factory=LoadStart)
    settings: dict[str, Any] = Field(default_factory=dict)
    execution: str | None = None
    started_at: str | None = None


class RunInput(BaseModel):
    """Every state after Load: the run's request, verdict and memory, and when the state began."""

    model_config = ConfigDict(extra="ignore")

    request: ProvisionRequest
    watch: WatchPart
    memory: WatchMemory | None = None
    at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    execution: str | None = None

    def remembered(self) -> WatchMemory:
        return self.memory or WatchMemory(deployment=self.watch.deployment)


class CheckHeartbeatInput(RunInput):
    heartbeat: Heartbeat
    freshness: FreshnessPart | None = None


class RecordInput(RunInput):
    openflow: OpenflowPart | None = None
    freshness: FreshnessPart | None = None
    slot: SlotPart | None = None
    woke: WokePart | None = None
    error: StepError | None = None


# --- the states -----------------------------------------------------------------------------------
def load(
    event: dict[str, Any],
    *,
    env: WatchLoadEnv,
    s3: S3Client | None = None,
    dynamodb: DynamoDBClient | None = None,
    sfn: SFNClient | None = None,
) -> dict[str, Any]:
    """Load: the input checked, the stored request and both memories read, and the run's mode."""
    given = _parse(LoadInput, event)
    if not given.input.deployment:
        raise InvalidRequest("deployment: missing", fix='start the watch with {"deployment": "<NAME>"}')
    now = parse_instant(given.input.now or given.started_at or datetime.now(UTC).isoformat(), "now")
    return load_run(
        given.input.deployment,
        now.astimezone(UTC),
        env=env,
        settings=given.settings,
        execution=given.execution,
        s3=s3,
        dynamodb=dynamodb,
        sfn=sfn,
    )


def check_openflow(
    event: dict[str, Any],
    *,
    env: LockEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
    dynamodb: DynamoDBClient | None = None,
    sfn: SFNClient | None = None,
) -> OpenflowPart:
    """CheckOpenflow: the deployment's, the runtime's and the connector's statuses, healed where a
    remedy is documented."""
    given = _parse(RunInput, event)
    execution = given.execution or f"watch:{given.request.openflow.deployment_name}:{given.at.isoformat()}"
    return openflow_statuses(
        given.request,
        given.remembered(),
        at=given.at,
        execution=execution,
        env=env,
        secrets=secrets,
        connector=connector,
        dynamodb=dynamodb,
        sfn=sfn,
    )


def write_heartbeat(
    event: dict[str, Any], *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> Heartbeat:
    """WriteHeartbeat: a heartbeat row at the source."""
    given = _parse(RunInput, event)
    return write_heartbeat_at_source(given.request, secrets=secrets, rds=rds)


def check_heartbeat(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> FreshnessPart:
    """CheckHeartbeat: one look in Snowflake for this run's heartbeat and the pending ones."""
    given = _parse(CheckHeartbeatInput, event)
    return look_for_heartbeat(
        given.request,
        given.remembered(),
        given.heartbeat,
        polls=given.freshness.polls if given.freshness else 0,
        at=given.at,
        env=env,
        secrets=secrets,
        connector=connector,
    )


def check_slot(
    event: dict[str, Any],
    *,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
    cloudwatch: CloudWatchClient | None = None,
) -> SlotPart:
    """CheckSlot: the replication slot and the WAL budget."""
    given = _parse(RunInput, event)
    return slot_reading(
        given.request,
        given.remembered(),
        given.watch,
        at=given.at,
        secrets=secrets,
        rds=rds,
        cloudwatch=cloudwatch,
    )


def wake_early(event: dict[str, Any], *, env: StartPowerEnv, sfn: SFNClient | None = None) -> WokePart:
    """WakeEarly: the power workflow started now, because the WAL budget will not last the night."""
    given = _parse(RunInput, event)
    return start_power_early(given.watch.deployment, at=given.at, env=env, sfn=sfn)


def record(
    event: dict[str, Any],
    *,
    env: ArtifactsEnv,
    s3: S3Client | None = None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
) -> dict[str, Any]:
    """Record: the run stored, the memory saved, and an alert when the verdict changed."""
    given = _parse(RecordInput, event)
    parts = RunParts(
        openflow=given.openflow,
        freshness=given.freshness,
        slot=given.slot,
        woke=given.woke,
        error=given.error,
    )
    return record_run(
        given.request,
        given.remembered(),
        given.watch,
        parts,
        at=given.at,
        env=env,
        s3=s3,
        sns=sns,
        secrets=secrets,
    )
