"""One watch run's checks, each given typed values (steps/watch.py parses the state machine's
payload): Load's verdict on the run, Openflow's statuses and their remedies, the heartbeat written and
looked for, the slot and its WAL budget, and the early wake. Each returns its part of the payload
(watch/models.py: OpenflowPart, FreshnessPart, SlotPart, WokePart)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.calls import aws_call
from openflow_autopilot.aws.clients import client
from openflow_autopilot.aws.rds import read_free_storage_bytes
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.locks import (
    WATCH_TTL_SECONDS,
    acquire,
    describe_holder,
    live_holder,
    lock_key,
    release,
)
from openflow_autopilot.openflow.event_table import event_table_of, recorded_event_table
from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.postgres.source_admin import slot_name, source_admin
from openflow_autopilot.power.memory import load_memory as load_power_memory
from openflow_autopilot.power.request_store import load_request
from openflow_autopilot.power.schedule import next_transitions
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.watch import store
from openflow_autopilot.watch.heartbeat import look_for, write_heartbeat
from openflow_autopilot.watch.models import (
    Finding,
    FreshnessPart,
    Heal,
    Heartbeat,
    OpenflowPart,
    SlotPart,
    WatchMemory,
    WatchPart,
    WokePart,
)
from openflow_autopilot.watch.openflow_check import (
    HealBudget,
    check_connector,
    check_deployment,
    check_runtime,
)
from openflow_autopilot.watch.slot_watch import read_slot, slot_findings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_stepfunctions import SFNClient


ASLEEP_SLOT_EVERY = timedelta(minutes=55)  # hourly while asleep (a 5-minute schedule's runs in between skip)


# --- Load --------------------------------------------------------------------------------------------
def _lock_holder(
    request: ProvisionRequest,
    env: FunctionEnv,
    dynamodb: DynamoDBClient | None,
    sfn: SFNClient | None,
    now: datetime,
) -> str | None:
    """A provisioning or power run still running with the deployment's lock (locks.py): the watch
    neither heals nor judges what that run is changing. A stale lock does not stop the watch."""
    if not env.lock_table:
        return None
    current = live_holder(
        dynamodb or client("dynamodb"),
        sfn or client("stepfunctions"),
        env.lock_table,
        lock_key(request),
        now=int(now.timestamp()),
    )
    return describe_holder(current) if current is not None else None


def load_run(
    deployment: str,
    now: datetime,
    *,
    env: FunctionEnv,
    settings: dict[str, Any],
    execution: str | None,
    s3: S3Client | None = None,
    dynamodb: DynamoDBClient | None = None,
    sfn: SFNClient | None = None,
) -> dict[str, Any]:
    """The stored request and both memories read, and the run's mode: `on` (every check), `asleep`
    (the power workflow stopped it: the slot only, hourly) or `skip`. Returns the run's payload."""
    s3 = s3 or client("s3")
    bucket = env.require_artifact_bucket()
    request = load_request(s3, bucket, deployment)
    memory = store.load_memory(s3, bucket, request.openflow.deployment_name)
    power = load_power_memory(s3, bucket, request.openflow.deployment_name)
    asleep = power.last_action == "stop"
    holder = _lock_holder(request, env, dynamodb, sfn, datetime.now(UTC)) if request.watch.enabled else None
    if not request.watch.enabled:
        mode, why = "skip", "watch.enabled is false"
    elif holder is not None:
        mode, why = "skip", f"{holder} holds the deployment's lock"
    elif asleep and memory.last_slot_at is not None and now - memory.last_slot_at < ASLEEP_SLOT_EVERY:
        mode, why = "skip", f"asleep; the slot was looked at {memory.last_slot_at.isoformat()}"
    else:
        mode, why = (
            ("asleep", "the power workflow stopped it: the slot only") if asleep else ("on", "every check")
        )
    watch = WatchPart(
        deployment=request.openflow.deployment_name, mode=mode, why=why, now=now, execution=execution
    )
    return {
        "request": request.model_dump(mode="json"),
        "watch": watch.model_dump(mode="json"),
        "settings": settings,
        "memory": memory.model_dump(mode="json"),
        # the parts later states read: present (null) whichever path the run takes
        **dict.fromkeys(("openflow", "heartbeat", "freshness", "slot", "woke", "error")),
    }


# --- Openflow ----------------------------------------------------------------------------------------
def _event_table_of(deployment_row: dict[str, Any] | None, request: ProvisionRequest) -> str:
    recorded = recorded_event_table((deployment_row or {}).get("comment"))
    return recorded or event_table_of(request)


class HealLock:
    """The deployment's lock for this watch run, taken only when a remedy is about to run and given
    back at the step's end (`with`); calling it answers None (go ahead) or who holds the lock."""

    def __init__(
        self,
        request: ProvisionRequest,
        env: FunctionEnv,
        execution: str,
        *,
        dynamodb: DynamoDBClient | None,
        sfn: SFNClient | None,
    ) -> None:
        self.key, self.table, self.me = lock_key(request), env.lock_table, execution
        self.dynamodb, self.sfn, self.held = dynamodb, sfn, False

    def __call__(self) -> str | None:
        if self.held or not self.table:
            return None
        self.dynamodb = self.dynamodb or client("dynamodb")
        now = datetime.now(UTC)
        state = acquire(
            self.dynamodb,
            self.sfn or client("stepfunctions"),
            self.table,
            key=self.key,
            me=self.me,
            kind="watch",
            started_at=now.isoformat(),
            now=int(now.timestamp()),
            ttl_seconds=WATCH_TTL_SECONDS,
        )
        self.held = state.acquired
        return None if state.acquired else state.why or "another run holds the deployment's lock"

    def __enter__(self) -> HealLock:
        return self

    def __exit__(self, *_: object) -> None:
        if self.held and self.table:
            release(self.dynamodb or client("dynamodb"), self.table, key=self.key, me=self.me)
            self.held = False


def check_openflow(
    request: ProvisionRequest,
    memory: WatchMemory,
    *,
    at: datetime,
    execution: str,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
    dynamodb: DynamoDBClient | None = None,
    sfn: SFNClient | None = None,
) -> OpenflowPart:
    """DESC of the deployment, the runtime and the connector; heals where a remedy is documented,
    holding the deployment's lock while it does."""
    if request.openflow.generation is Generation.GEN1:
        note = Finding(
            kind="openflow",
            severity="info",
            message="gen 1: runtime and connector statuses are not observable over SQL; the heartbeat "
            "and the slot are watched",
        )
        return OpenflowPart(findings=[note])
    today = at.date().isoformat()
    budget = HealBudget(dict(memory.heals.get(today) or {}), request.watch.max_heals)
    findings: list[Finding] = []
    heals: list[Heal] = []
    sf = request.snowflake
    with HealLock(request, env, execution, dynamodb=dynamodb, sfn=sfn) as may_heal:
        with request_session(request, sf.admin_role, env=env, secrets=secrets, connector=connector) as sql:
            deployment, row = check_deployment(sql, request)
            findings.append(deployment)
            table = _event_table_of(row, request)
            runtime, heal = check_runtime(sql, request, budget=budget, event_table=table, may_heal=may_heal)
            findings.append(runtime)
            heals += [heal] if heal else []
        with request_session(request, sf.login_role, env=env, secrets=secrets, connector=connector) as sql:
            found, heal = check_connector(sql, request, budget=budget, may_heal=may_heal)
            findings.append(found)
            heals += [heal] if heal else []
    return OpenflowPart(findings=findings, heals=heals, heal_counts={today: budget.counts})


# --- the heartbeat -----------------------------------------------------------------------------------
def write_heartbeat_at_source(
    request: ProvisionRequest, *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> Heartbeat:
    with connect(source_admin(request, secrets=secrets, rds=rds).dsn()) as conn:
        return write_heartbeat(conn)


def check_heartbeat(
    request: ProvisionRequest,
    memory: WatchMemory,
    current: Heartbeat,
    *,
    polls: int,
    at: datetime,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> FreshnessPart:
    """One look for this run's heartbeat and the pending ones; `done` once this run's is seen or
    the run's wait (watch.heartbeat_wait_seconds) is spent. `polls`: the looks before this one."""
    waiting = [*memory.pending, current]
    with request_session(
        request, request.snowflake.login_role, env=env, secrets=secrets, connector=connector
    ) as sql:
        looked = [look_for(sql, request.destination.database, b, now=at) for b in waiting]
    mine = looked[-1]
    waited = (at - current.written_at).total_seconds()
    return FreshnessPart(
        polls=polls + 1,
        done=mine.seen_at is not None or waited >= request.watch.heartbeat_wait_seconds,
        heartbeat_seconds=mine.latency_seconds,
        seen=[b for b in looked if b.seen_at is not None],
        pending=[b for b in looked if b.seen_at is None],
    )


# --- the slot ----------------------------------------------------------------------------------------
def _off_hours_left(request: ProvisionRequest, now: datetime) -> float | None:
    if request.schedule is None:
        return None
    start = next((t for t in next_transitions(request.schedule, now, n=2) if t.action == "start"), None)
    return None if start is None else max((start.at - now).total_seconds() / 3600, 0.0)


def check_slot(
    request: ProvisionRequest,
    memory: WatchMemory,
    watch: WatchPart,
    *,
    at: datetime,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
    cloudwatch: CloudWatchClient | None = None,
) -> SlotPart:
    """Retained WAL, wal_status, progress since the last run, and the WAL budget (RDS free storage
    from CloudWatch); while asleep, whether the budget covers the hours until the next start."""
    region = request.aws.region
    free = None
    if request.source.rds_instance_id:
        free = read_free_storage_bytes(
            cloudwatch or client("cloudwatch", region), request.source.rds_instance_id, now=at
        )
    with connect(source_admin(request, secrets=secrets, rds=rds).dsn()) as conn:
        reading, report = read_slot(
            conn, slot_name(request), at=at, previous=memory.wal_sample, free_storage_bytes=free
        )
    last = memory.last_slot
    if last is not None and last.confirmed_bytes is not None and reading.confirmed_bytes is not None:
        reading = reading.model_copy(update={"advanced": reading.confirmed_bytes > last.confirmed_bytes})
    on = watch.mode == "on"
    findings, wake = slot_findings(
        reading,
        report,
        last=last,
        pipeline_on=on,
        warn_bytes=request.watch.wal_warn_bytes,
        off_hours_left=None if on else _off_hours_left(request, watch.now),
    )
    return SlotPart(reading=reading, findings=findings, wake=wake, wal_sample=report.sample)


# --- waking a sleeping pipeline early ----------------------------------------------------------------
def wake_early(deployment: str, *, at: datetime, env: FunctionEnv, sfn: SFNClient | None = None) -> WokePart:
    """Start the power workflow now (action start), as the WAL guard's early start would."""
    if not env.power_state_machine_arn:
        raise ConfigurationError(
            "POWER_STATE_MACHINE_ARN is not set", fix="deploy with template.yaml, which sets it"
        )
    name = f"watch-wake-{at.strftime('%Y%m%dT%H%M%S')}"
    body = {"deployment": deployment, "action": "start", "reason": "watch: WAL budget", "now": at.isoformat()}
    sfn = sfn or client("stepfunctions")
    with aws_call("states:StartExecution"):
        arn = sfn.start_execution(
            stateMachineArn=env.power_state_machine_arn, name=name, input=json.dumps(body)
        )["executionArn"]
    return WokePart(execution=arn)
