"""The weekly digest (steps/digest.py reads the `<deployment>-digest` schedule's input, set by
power/scheduler_api.apply_digest_schedule, and calls send_weekly_digest). It reads
the stored request, the week's records, measures the week, composes the digest (power/digest.py),
sends it to the notification targets and keeps a copy at `digests/<deployment>/<first day>.json`.

A week that cannot be measured (no ACCOUNT_USAGE access, Cost Explorer not enabled, the tag not
active) still gets its digest: the hours, the model and the WAL guard, with what to fix.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from openflow_autopilot import notify
from openflow_autopilot.aws.calls import aws_call, error_code, error_message, translate
from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.masking import mask_credentials
from openflow_autopilot.cost.cost_explorer import CE_REGION
from openflow_autopilot.cost.measured import MeasuredCost, SessionFactory, measure_request
from openflow_autopilot.cost.period import Period, week_before
from openflow_autopilot.cost.prices import PriceTable, load_prices, with_runtime_size
from openflow_autopilot.cost.records import RECORDS_PREFIX, load_guard_records, load_history
from openflow_autopilot.errors import AutopilotError
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv
from openflow_autopilot.power.digest import WeeklyDigest, compose
from openflow_autopilot.power.request_store import load_request, request_key

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

DIGESTS_PREFIX = "digests"


def digest_key(deployment: str, period: Period) -> str:
    name = request_key(deployment).removeprefix("requests/").removesuffix(".json")
    return f"{DIGESTS_PREFIX}/{name}/{period.start:%Y-%m-%d}.json"


def _measure(
    request: ProvisionRequest,
    prices: PriceTable,
    period: Period,
    *,
    env: FunctionEnv,
    sessions: SessionFactory | None,
    ce: CostExplorerClient | None,
    now: datetime,
) -> tuple[MeasuredCost | None, str | None]:
    """The week measured, or why not (one line with its fix; never a secret)."""
    from openflow_autopilot.snowflake.login import request_session

    try:
        report = measure_request(
            request,
            prices,
            period,
            sessions=sessions or (lambda role: request_session(request, role, env=env)),
            ce=ce or client("ce", CE_REGION),
            now=now,
        )
    except AutopilotError as exc:
        return None, mask_credentials(str(exc))
    except ClientError as exc:
        call = str(getattr(exc, "operation_name", "") or "an AWS call")
        mapped = translate(exc, call)
        return None, mask_credentials(
            str(mapped or f"{call} failed: {error_code(exc)}: {error_message(exc)}")
        )
    except BotoCoreError as exc:
        return None, f"the AWS SDK failed ({type(exc).__name__}): try again later"
    return report, None


def send_weekly_digest(
    deployment: str,
    now: datetime,
    *,
    env: ArtifactsEnv,
    s3: S3Client | None = None,
    ce: CostExplorerClient | None = None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
    sessions: SessionFactory | None = None,
    opener: Any = None,
) -> WeeklyDigest:
    """The week before `now` for the deployment: composed, sent, and kept in the bucket."""
    bucket = env.require_artifact_bucket()
    s3 = s3 or client("s3")
    request = load_request(s3, bucket, deployment)
    period = week_before(now)
    records = load_history(s3, bucket, RECORDS_PREFIX, period.month, deployment=deployment, timezone="UTC")
    months = dict.fromkeys((period.month, f"{period.end:%Y-%m}"))
    guard = [g for month in months for g in load_guard_records(s3, bucket, month, deployment=deployment)]
    prices = with_runtime_size(load_prices(), request.runtime.size.value)
    measured, error = _measure(request, prices, period, env=env, sessions=sessions, ce=ce, now=now)
    digest = compose(
        request,
        prices,
        period,
        records=records,
        guard=guard,
        measured=measured,
        measured_error=error,
        now=now,
    )
    body = digest.model_dump(mode="json")
    delivered = notify.send_digest(
        request,
        subject=digest.subject,
        text=digest.text,
        digest=body,
        default_topic_arn=env.notify_topic_arn,
        sns=sns,
        secrets=secrets,
        opener=opener,
    )
    with aws_call("s3:PutObject"):
        s3.put_object(
            Bucket=bucket,
            Key=digest_key(deployment, period),
            Body=json.dumps({**body, "delivered_to": delivered}, indent=2).encode(),
            ContentType="application/json",
        )
    return digest.model_copy(update={"delivered_to": delivered})
