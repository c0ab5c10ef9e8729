"""The weekly digest end to end in the sandbox: the Schedules function creates the `-digest`
schedule, its input (with the Scheduler's time filled in) goes to the deployed PowerDigestFunction,
which reads the week's records from S3, measures the week in the emulation's ACCOUNT_USAGE and moto's
Cost Explorer and publishes to the stack's topic, where a subscribed queue receives it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest

from openflow_autopilot.cost.records import (
    GUARD_PREFIX,
    RECORDS_PREFIX,
    PowerRecord,
    WalGuardRecord,
    append_record,
)
from openflow_sandbox.digest_rehearsal import rehearse_digest
from openflow_sandbox.environment import REGION, Sandbox
from openflow_sandbox.power_rehearsal import create_schedules

pytestmark = pytest.mark.sandbox

PRICE = Decimal("4.30")  # the default price table's credit price
AFTER = datetime(2026, 3, 13, 12, tzinfo=UTC)  # a Friday: the next digest is Mon 16 March 09:00 Tokyo
DEPLOYMENT = "SALES_CDC_DEPLOYMENT"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(with_postgres=False) as sb:  # the digest reads no source
        yield sb


def _week(sandbox: Sandbox, deployment: str) -> None:
    """What a week of the example schedule leaves: a stop at 20:00 and a start at 08:00 Tokyo each
    weekday, and one stop the WAL guard refused (Friday's)."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = sandbox.artifact_bucket
    append_record(
        s3,
        bucket,
        RECORDS_PREFIX,
        PowerRecord(deployment=deployment, action="stop", at=datetime(2026, 3, 6, 11, tzinfo=UTC)),
    )
    for day in range(9, 13):  # Mon-Thu stopped; Friday's stop was refused
        start = datetime(2026, 3, day, tzinfo=UTC) - timedelta(hours=1)
        append_record(
            s3, bucket, RECORDS_PREFIX, PowerRecord(deployment=deployment, action="start", at=start)
        )
        stop = datetime(2026, 3, day, 11, tzinfo=UTC)
        append_record(s3, bucket, RECORDS_PREFIX, PowerRecord(deployment=deployment, action="stop", at=stop))
    friday = datetime(2026, 3, 12, 23, tzinfo=UTC)
    append_record(s3, bucket, RECORDS_PREFIX, PowerRecord(deployment=deployment, action="start", at=friday))
    append_record(
        s3,
        bucket,
        GUARD_PREFIX,
        WalGuardRecord(
            deployment=deployment,
            at=datetime(2026, 3, 13, 11, tzinfo=UTC),
            decision="refuse",
            reason="not stopped: the source can keep the slot's WAL for 40.0 h, but the 60.0 h off period "
            "x 1.25 needs 75.0 h",
            off_hours=60.0,
            headroom_hours=40.0,
        ),
    )


def test_the_weekly_digest_goes_from_its_schedule_to_the_topic_with_the_week_measured(
    sandbox: Sandbox,
) -> None:
    request = sandbox.request()
    schedules = create_schedules(sandbox, request)
    assert schedules["outputs"]["digest_schedule"] == f"{DEPLOYMENT}-digest"
    _week(sandbox, DEPLOYMENT)

    digest = rehearse_digest(sandbox, request, after=AFTER)
    assert digest["status"] == "SENT", digest
    assert digest["input"] == {"deployment": DEPLOYMENT, "now": "2026-03-16T00:00:00+00:00"}
    assert digest["week"] == {"start": "2026-03-09T00:00:00Z", "end": "2026-03-16T00:00:00Z"}
    # Monday 00:00-11:00 UTC, Tue-Thu 12 h each, then on from Thursday 23:00 UTC to the week's end
    assert digest["hours_on"] == pytest.approx(11 + 3 * 12 + 73)
    assert digest["hours_asleep"] == pytest.approx(168 - 120)
    assert (digest["stops"], digest["starts"]) == (4, 4)
    seeded = digest["seeded"]
    assert seeded["on_hours"] == 60.0  # what the schedule ran, as the emulation's usage rows say
    credits = Decimal(str(seeded["openflow_credits"])) + Decimal(str(seeded["warehouse_credits"]))
    assert digest["measured"]["snowflake_usd"] == pytest.approx(float(credits * PRICE))
    assert digest["measured"]["aws_usd"] == pytest.approx(sum(seeded["aws_usd"].values()))
    assert digest["saved_usd"] == pytest.approx(digest["always_on_usd"] - digest["measured"]["total_usd"])
    assert digest["wal_guard"] == [{"at": "2026-03-13T11:00:00Z", "decision": "refuse"}]
    topic = sandbox.app.resources["NotificationTopic"]
    assert digest["delivered_to"] == [topic]
    assert digest["received"] == [f"Openflow weekly digest: {DEPLOYMENT}, 2026-03-09 to 2026-03-15 (UTC)"]
    assert "WAL guard: 1 stop refused, 0 shortened:" in digest["text"]
    assert "- Fri 2026-03-13 20:00 refused: not stopped" in digest["text"]


def test_a_week_that_cannot_be_measured_still_gets_its_digest_with_the_fix(sandbox: Sandbox) -> None:
    request = sandbox.request(snowflake__login_role="PUBLIC")
    create_schedules(sandbox, request)
    digest = rehearse_digest(sandbox, request, after=AFTER, seed_usage=False)
    assert digest["status"] == "SENT", digest
    assert digest["measured"] is None
    assert "GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE PUBLIC" in digest["measured_error"]
    assert "Measured: not available:" in digest["text"]
    assert digest["received"]  # delivered all the same
