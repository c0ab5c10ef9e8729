"""The weekly digest function, which no state machine runs: the deployment's `<deployment>-digest`
schedule invokes it with {"deployment", "now": <aws.scheduler.scheduled-time>}
(power/scheduler_api.apply_digest_schedule). functions/power_digest/app.py calls `weekly_digest`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.cost.measured import SessionFactory
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import ArtifactsEnv
from openflow_autopilot.power.digest import WeeklyDigest
from openflow_autopilot.power.digest_step import send_weekly_digest
from openflow_autopilot.steps.inputs import parse

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient


class DigestInput(BaseModel):
    """The schedule's input: which deployment, and the scheduled time (default: now)."""

    model_config = ConfigDict(extra="ignore")

    deployment: str = ""
    now: str | None = None


def weekly_digest(
    event: dict[str, Any],
    *,
    env: ArtifactsEnv,
    s3: S3Client | None = None,
    ce: CostExplorerClient | None = None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
    sessions: SessionFactory | None = None,
    opener: Any = None,
) -> WeeklyDigest:
    given = parse(DigestInput, event, "digest schedule's")
    if not given.deployment:
        raise InvalidRequest("deployment: missing", fix="the digest schedule's input names the deployment")
    now = parse_instant(given.now, "now") if given.now is not None else datetime.now(UTC)
    return send_weekly_digest(
        given.deployment,
        now,
        env=env,
        s3=s3,
        ce=ce,
        sns=sns,
        secrets=secrets,
        sessions=sessions,
        opener=opener,
    )
