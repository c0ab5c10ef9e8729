"""The WalGuard state: one WAL check before a stop (power/wal.py judges), the refused and shortened
stops recorded for the weekly digest, and the early start a shortened stop needs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.aws.rds import read_free_storage_bytes
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.cost.records import (
    GUARD_PREFIX,
    WalGuardRecord,
    append_record,
)
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.postgres.source_admin import slot_name, source_admin
from openflow_autopilot.postgres.wal_guard import check_wal
from openflow_autopilot.power.decide import Decision
from openflow_autopilot.power.event import artifact_bucket, role_arn, target_arn
from openflow_autopilot.power.memory import load_memory, update_memory
from openflow_autopilot.power.models import Budgets, PowerPart
from openflow_autopilot.power.restart import schedule_restart
from openflow_autopilot.power.wal import WalVerdict, judge, usable_sample

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

WAL_WINDOW_POLLS = 10  # the WAL rate is measured over at least this many poll intervals


def wal_guard(
    request: ProvisionRequest,
    power: PowerPart,
    decision: Decision,
    loop: WalVerdict | None,
    *,
    at: datetime,
    budgets: Budgets,
    state_machine: str | None,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    rds: RDSClient | None = None,
    cloudwatch: CloudWatchClient | None = None,
    s3: S3Client | None = None,
    scheduler: EventBridgeSchedulerClient | None = None,
) -> dict[str, Any]:
    """One WAL check before a stop; "measure" asks the state machine to wait and check again when
    there is no earlier sample to measure the WAL rate against."""
    region = request.aws.region
    attempt = (loop.attempt if loop else 0) + 1
    window = max(budgets.poll_seconds, 1) * WAL_WINDOW_POLLS
    s3 = s3 or client("s3", region)
    bucket = artifact_bucket(env)
    memory = load_memory(s3, bucket, power.deployment)
    first = loop.first_sample if loop else None
    previous = next((s for s in (first, memory.wal_sample) if usable_sample(s, at, window)), None)
    admin = source_admin(request, secrets=secrets, rds=rds)
    free = None
    if request.source.rds_instance_id:
        free = read_free_storage_bytes(
            cloudwatch or client("cloudwatch", region), request.source.rds_instance_id, now=at
        )
    with connect(admin.dsn()) as conn:
        report = check_wal(conn, slot_name(request), now=at, previous=previous, free_storage_bytes=free)
    max_attempts = budgets.wal_max_checks or WAL_WINDOW_POLLS + 5
    if report.rate_bytes_per_second is None and report.slot_found and attempt < max_attempts:
        return WalVerdict(
            decision="measure",
            reason=f"measuring the WAL rate over {window} s: {report.message}",
            off_hours=decision.off_hours or 0.0,
            needed_hours=0.0,
            first_sample=first or report.sample,
            attempt=attempt,
            level=report.level,
        ).model_dump(mode="json")
    schedule = request.schedule
    verdict = judge(
        report,
        off_hours=decision.off_hours,
        at=at,
        allow_shorten=bool(schedule and schedule.shorten_stops),
        attempt=attempt,
    )
    if verdict.decision in ("allow", "shorten"):
        update_memory(s3, bucket, power.deployment, wal_sample=report.sample)
    result = verdict.model_dump(mode="json")
    if verdict.decision == "shorten" and verdict.restart_at is not None:
        result["restart_schedule"] = schedule_restart(
            scheduler or client("scheduler"),
            deployment=power.deployment,
            at=verdict.restart_at,
            target_arn=target_arn(state_machine, env),
            role_arn=role_arn(env),
            group=env.schedule_group,
        )
    if verdict.decision in ("refuse", "shorten"):  # for the weekly digest
        result["guard_record_key"] = append_record(
            s3,
            bucket,
            GUARD_PREFIX,
            WalGuardRecord(
                deployment=power.deployment,
                at=at,
                decision=verdict.decision,
                reason=verdict.reason,
                off_hours=verdict.off_hours,
                headroom_hours=verdict.headroom_hours,
                restart_at=verdict.restart_at,
            ),
        )
    result["report"] = report.model_dump(mode="json", exclude={"sample"})
    return result
