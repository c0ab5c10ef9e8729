"""The power state machine's Task states (statemachines/power.asl.json), one function each, named
as the state; functions/power_<state>/app.py calls exactly one of them. Each parses its state's
input (the ASL's Parameters) into a model, then calls power/ with typed values.

`at` is the real time the state was entered (`$$.State.EnteredTime`): WAL rates, slot samples and
records use it, while decisions use the scheduled `power.now`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv, SchedulerEnv
from openflow_autopilot.power import source, switches
from openflow_autopilot.power.openflow import Poll
from openflow_autopilot.power.record_step import record_outcome
from openflow_autopilot.power.run import decide_run, load_run
from openflow_autopilot.power.slot import SlotCheck
from openflow_autopilot.power.source import CanaryPoll
from openflow_autopilot.power.wal_step import wal_guard as judge_wal
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.steps.inputs import parse
from openflow_autopilot.steps.power_inputs import (
    AtInput,
    CanaryInput,
    DecideInput,
    LoadInput,
    PollInput,
    RecordInput,
    SlotPollInput,
    StepInput,
    WalGuardInput,
)
from openflow_autopilot.watch.models import Heartbeat

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient


def _parse[M: BaseModel](model: type[M], event: dict[str, Any]) -> M:
    return parse(model, event, "power")


# --- Load, Decide, Locate, WalGuard ----------------------------------------------------------------
def load(event: dict[str, Any], *, env: ArtifactsEnv, s3: S3Client | None = None) -> dict[str, Any]:
    """Load: the input checked, and the request the provisioning workflow stored for the deployment."""
    given = _parse(LoadInput, event)
    start = given.input
    if not start.deployment:
        raise InvalidRequest(
            "deployment: missing", fix='start the power workflow with {"deployment": "<NAME>", ...}'
        )
    if start.action not in ("stop", "start", "extend"):
        raise InvalidRequest(f"action: {start.action!r} is not one of stop, start, extend")
    return load_run(
        start.deployment,
        start.action,  # type: ignore[arg-type]  # checked just above
        now=parse_instant(start.now or given.started_at, "now"),
        reason=start.reason or "manual",
        until=start.until,
        execution=given.execution,
        settings=given.settings,
        env=env,
        s3=s3,
    )


def decide(
    event: dict[str, Any],
    *,
    env: SchedulerEnv,
    s3: S3Client | None = None,
    scheduler: EventBridgeSchedulerClient | None = None,
) -> dict[str, Any]:
    """Decide: stop, start or skip, from the schedule, the override and the manual hold."""
    given = _parse(DecideInput, event)
    return decide_run(
        given.request, given.power, state_machine=given.state_machine, env=env, s3=s3, scheduler=scheduler
    )


def locate(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> dict[str, Any]:
    """Locate: the deployment's key, the runtime's node type, and the runtimes sharing its nodes."""
    given = _parse(StepInput, event)
    return switches.locate(given.request, env=env, secrets=secrets, connector=connector)


def wal_guard(
    event: dict[str, Any],
    *,
    env: SchedulerEnv,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
    cloudwatch: CloudWatchClient | None = None,
    s3: S3Client | None = None,
    scheduler: EventBridgeSchedulerClient | None = None,
) -> dict[str, Any]:
    """WalGuard: may the source keep the slot's WAL for the whole off period? ("measure": check
    again after a wait, when there is no earlier sample to measure the rate against)."""
    given = _parse(WalGuardInput, event)
    return judge_wal(
        given.request,
        given.power,
        given.decision,
        given.wal,
        at=given.at,
        budgets=given.settings,
        state_machine=given.state_machine,
        env=env,
        secrets=secrets,
        rds=rds,
        cloudwatch=cloudwatch,
        s3=s3,
        scheduler=scheduler,
    )


# --- the connector and the runtime (SQL) ----------------------------------------------------------
def _look(
    event: dict[str, Any],
    poll: str,
    reached: Callable[..., Poll],
    want: str,
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None,
    connector: Connector,
) -> Poll:
    """One check of a wait loop on a status (`$.polls.<poll>`), within the loop's budget."""
    given = _parse(PollInput, event)
    return reached(
        given.request,
        want,
        given.poll(poll, Poll),
        max_checks=given.settings.max_checks,
        env=env,
        secrets=secrets,
        connector=connector,
    )


def stop_connector(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """StopConnector: ALTER OPENFLOW CONNECTOR ... STOP (gen 1: the NiFi flow, if reachable)."""
    given = _parse(StepInput, event)
    return switches.set_connector(given.request, "STOPPED", env=env, secrets=secrets, connector=connector)


def check_connector_stopped(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> Poll:
    """CheckConnectorStopped: one check that the connector is STOPPED."""
    return _look(
        event,
        "connector_stopped",
        switches.connector_reached,
        "STOPPED",
        env=env,
        secrets=secrets,
        connector=connector,
    )


def start_connector(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """StartConnector: ALTER OPENFLOW CONNECTOR ... START (gen 1: the NiFi flow, if reachable)."""
    given = _parse(StepInput, event)
    return switches.set_connector(given.request, "RUNNING", env=env, secrets=secrets, connector=connector)


def check_connector_running(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> Poll:
    """CheckConnectorRunning: one check that the connector is RUNNING."""
    return _look(
        event,
        "connector_running",
        switches.connector_reached,
        "RUNNING",
        env=env,
        secrets=secrets,
        connector=connector,
    )


def suspend_runtime(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """SuspendRuntime: ALTER OPENFLOW RUNTIME ... SUSPEND (gen 1: nothing, its node groups are scaled)."""
    given = _parse(StepInput, event)
    return switches.set_runtime(given.request, "SUSPENDED", env=env, secrets=secrets, connector=connector)


def check_runtime_suspended(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> Poll:
    """CheckRuntimeSuspended: one check that the runtime is SUSPENDED."""
    return _look(
        event,
        "runtime_suspended",
        switches.runtime_reached,
        "SUSPENDED",
        env=env,
        secrets=secrets,
        connector=connector,
    )


def resume_runtime(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """ResumeRuntime: ALTER OPENFLOW RUNTIME ... RESUME (gen 1: nothing, its node groups are restored)."""
    given = _parse(StepInput, event)
    return switches.set_runtime(given.request, "ACTIVE", env=env, secrets=secrets, connector=connector)


def check_runtime_active(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> Poll:
    """CheckRuntimeActive: one check that the runtime is ACTIVE."""
    return _look(
        event,
        "runtime_active",
        switches.runtime_reached,
        "ACTIVE",
        env=env,
        secrets=secrets,
        connector=connector,
    )


def suspend_warehouse(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """SuspendWarehouse: the connector's warehouse suspended (schedule.suspend_warehouse)."""
    given = _parse(StepInput, event)
    return switches.suspend_warehouse(given.request, env=env, secrets=secrets, connector=connector)


# --- the source after a start ---------------------------------------------------------------------
def slot_baseline(
    event: dict[str, Any], *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> SlotCheck:
    """SlotBaseline: the replication slot's position before the connector starts."""
    given = _parse(AtInput, event)
    return source.slot_baseline(given.request, at=given.at, secrets=secrets, rds=rds)


def check_slot_advances(
    event: dict[str, Any],
    *,
    env: ArtifactsEnv,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
    s3: S3Client | None = None,
) -> SlotCheck:
    """CheckSlotAdvances: one poll, has the slot advanced since the baseline?"""
    given = _parse(SlotPollInput, event)
    return source.slot_advances(
        given.request,
        given.poll("slot", SlotCheck),
        at=given.at,
        max_checks=given.settings.max_checks,
        env=env,
        secrets=secrets,
        rds=rds,
        s3=s3,
    )


def write_canary(
    event: dict[str, Any], *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> Heartbeat:
    """WriteCanary: a row at the source, which CheckCanary must see in Snowflake."""
    given = _parse(StepInput, event)
    return source.write_canary(given.request, secrets=secrets, rds=rds)


def check_canary(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> CanaryPoll:
    """CheckCanary: one look for the start's canary row in the destination."""
    given = _parse(CanaryInput, event)
    return source.canary_seen(
        given.request,
        given.canary,
        given.poll("canary", CanaryPoll),
        at=given.at,
        max_checks=given.settings.max_checks,
        env=env,
        secrets=secrets,
        connector=connector,
    )


# --- the records ----------------------------------------------------------------------------------
def _record(event: dict[str, Any], env: ArtifactsEnv, s3: S3Client | None) -> dict[str, Any]:
    given = _parse(RecordInput, event)
    return record_outcome(
        given.power,
        given.decision,
        given.phases,
        given.polls.compute,
        restart_at=given.wal.restart_at if given.wal else None,
        at=given.at,
        env=env,
        s3=s3,
    )


def record_stop(event: dict[str, Any], *, env: ArtifactsEnv, s3: S3Client | None = None) -> dict[str, Any]:
    """RecordStop: an off record when the stop changed something, and the workflow's memory."""
    return _record(event, env, s3)


def record_start(event: dict[str, Any], *, env: ArtifactsEnv, s3: S3Client | None = None) -> dict[str, Any]:
    """RecordStart: an on record when the start changed something, and the workflow's memory."""
    return _record(event, env, s3)
