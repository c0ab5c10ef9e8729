"""On/off records in S3 (moto) and the actual cost of a month computed from them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.cost.model import actual_cost
from openflow_autopilot.cost.prices import default_prices
from openflow_autopilot.cost.records import (
    NoPowerRecords,
    PowerRecord,
    append_record,
    load_history,
    load_records,
)
from openflow_autopilot.errors import InvalidRequest

BUCKET = "autopilot-state"
TOKYO = ZoneInfo("Asia/Tokyo")


def rec(action: str, *when: int, deployment: str = "SALES") -> PowerRecord:
    """A record at UTC `when` (year, month, day, hour)."""
    at = datetime(*when[:3], *when[3:], tzinfo=UTC)
    return PowerRecord.model_validate(
        {"deployment": deployment, "action": action, "at": at, "reason": "schedule"}
    )


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_records_are_stored_one_json_line_each_and_read_back_in_order(s3: Any) -> None:
    later, earlier = rec("stop", 2026, 3, 2, 11), rec("start", 2026, 3, 2, 0)
    key = append_record(s3, BUCKET, "power-records/", later)
    append_record(s3, BUCKET, "power-records", earlier)
    assert key.startswith("power-records/2026-03/SALES/20260302T110000")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert body.endswith("\n") and body.count("\n") == 1
    assert load_records(s3, BUCKET, "power-records", "2026-03") == [earlier, later]


def test_writing_the_same_record_twice_stores_it_once(s3: Any) -> None:
    record = rec("stop", 2026, 3, 2, 11)
    append_record(s3, BUCKET, "p", record)
    append_record(s3, BUCKET, "p", record)
    assert load_records(s3, BUCKET, "p", "2026-03") == [record]


def test_records_are_filtered_by_month_and_deployment(s3: Any) -> None:
    for r in (
        rec("start", 2026, 2, 27, 0),
        rec("start", 2026, 3, 3, 0),
        rec("start", 2026, 3, 3, 0, deployment="EU"),
    ):
        append_record(s3, BUCKET, "p", r)
    assert [r.at.day for r in load_records(s3, BUCKET, "p", "2026-03", deployment="SALES")] == [3]


def test_history_reaches_back_to_the_last_record_before_the_month(s3: Any) -> None:
    append_record(s3, BUCKET, "p", rec("start", 2025, 12, 15, 0))
    append_record(s3, BUCKET, "p", rec("stop", 2026, 3, 5, 0))
    history = load_history(s3, BUCKET, "p", "2026-03", deployment="SALES")
    assert [r.at.month for r in history] == [12, 3]


def test_actual_on_hours_are_the_time_between_starts_and_stops() -> None:
    records = [
        rec("stop", 2026, 2, 27, 20),  # off when March begins
        rec("start", 2026, 3, 2, 8),
        rec("stop", 2026, 3, 2, 20),
        rec("start", 2026, 3, 3, 8),
        rec("stop", 2026, 3, 3, 20),
        rec("stop", 2026, 3, 3, 21),  # a stop run twice changes nothing
        rec("start", 2026, 3, 4, 8),  # still on at `now`
    ]
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    report = actual_cost(records, "2026-03", prices=default_prices(), now=now)
    assert report.elapsed_hours == 3 * 24 + 12
    assert report.on_hours == 12 + 12 + 4
    assert report.records_used == 6
    assert report.initial_state.startswith("off")
    assert report.cost.line("runtime_nodes").usd == Decimal("0.2604") * 28
    assert report.cost.line("eks").usd == Decimal("0.10") * 84  # always-on parts cost the elapsed time
    # volumes are pro-rated to the part of the month elapsed
    assert abs(report.cost.line("s3").usd - Decimal("0.025") * 84 / 744) < Decimal("1e-20")
    assert report.saved_usd == report.always_on.total_usd - report.cost.total_usd
    assert report.saved_usd > 0


def test_the_state_at_the_start_of_the_month_is_inferred_from_the_first_record() -> None:
    records = [rec("stop", 2026, 3, 1, 6)]  # the first record is a stop: it was on before
    report = actual_cost(records, "2026-03", prices=default_prices(), now=datetime(2026, 3, 2, tzinfo=UTC))
    assert report.on_hours == 6
    assert "inferred" in report.initial_state


def test_a_local_month_starts_at_local_midnight() -> None:
    records = [rec("start", 2026, 2, 28, 16)]  # 01:00 on 1 March in Tokyo
    report = actual_cost(
        records,
        "2026-03",
        prices=default_prices(),
        timezone="Asia/Tokyo",
        now=datetime(2026, 3, 1, 2, tzinfo=TOKYO),
    )
    assert report.elapsed_hours == 2 and report.on_hours == 1


def test_no_records_is_reported_as_such() -> None:
    with pytest.raises(NoPowerRecords, match="no power records for SALES in 2026-03"):
        actual_cost(
            [], "2026-03", prices=default_prices(), deployment="SALES", now=datetime(2026, 3, 5, tzinfo=UTC)
        )


def test_records_of_several_deployments_need_a_deployment_name() -> None:
    records = [rec("start", 2026, 3, 2, 8), rec("start", 2026, 3, 2, 8, deployment="EU")]
    with pytest.raises(InvalidRequest, match="several deployments"):
        actual_cost(records, "2026-03", prices=default_prices(), now=datetime(2026, 3, 5, tzinfo=UTC))


def test_a_month_that_has_not_started_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="has not started"):
        actual_cost(
            [rec("start", 2026, 3, 2, 8)],
            "2026-04",
            prices=default_prices(),
            now=datetime(2026, 3, 5, tzinfo=UTC),
        )
