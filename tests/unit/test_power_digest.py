"""The weekly digest: its week, hours from the on/off records, cost measured and modelled, the WAL
guard's refusals, and its delivery (moto S3, SNS and SQS); the WAL guard step writing what the digest
reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from fakes import Opener
from moto import mock_aws

from openflow_autopilot.config import parse_request
from openflow_autopilot.cost.measured import modelled_for
from openflow_autopilot.cost.model import monthly_cost
from openflow_autopilot.cost.period import week_before
from openflow_autopilot.cost.prices import load_prices, with_runtime_size
from openflow_autopilot.cost.records import (
    GUARD_PREFIX,
    RECORDS_PREFIX,
    PowerRecord,
    WalGuardRecord,
    append_record,
    load_guard_records,
)
from openflow_autopilot.errors import PermissionDenied
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.postgres import source_admin as source_admin_module
from openflow_autopilot.postgres.models import WalReport, WalSample
from openflow_autopilot.power import wal_step
from openflow_autopilot.power.digest import compose
from openflow_autopilot.power.digest_step import digest_key
from openflow_autopilot.power.request_store import save_request
from openflow_autopilot.power.schedule import on_hours_between
from openflow_autopilot.steps.digest import weekly_digest
from openflow_autopilot.steps.power import wal_guard

BUCKET = "artifacts"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/x-Ab"
NEEDS = "not stopped: the source can keep the slot's WAL for 20.0 h, but the 62.0 h off period needs 77.5 h"
DEPLOYMENT = "SALES_CDC_DEPLOYMENT"
# Monday 09:00 in Tokyo is Monday 00:00 UTC: the week is Mon 2026-03-09 to Sun 2026-03-15 (UTC)
SENT = datetime.fromisoformat("2026-03-16T09:00:00+09:00")
START, END = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)
OFFICE = {
    "timezone": "Asia/Tokyo",
    "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
    "sleep": "deep",
}


def request(schedule: dict[str, Any] | None = OFFICE, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "sales-cdc",
        "snowflake": {
            "account": "MYORG-MYACCOUNT",
            "admin_user": "JDOE",
            "credentials_secret_arn": SECRET,
        },
        "openflow": {"deployment_name": DEPLOYMENT},
        "aws": {"region": "us-east-1"},
        "source": {"host": "db", "database": "sales", "tables": ["public.t"]},
        **extra,
    }
    if schedule is not None:
        data["schedule"] = schedule
    return data


def prices(size: str = "MEDIUM") -> Any:
    return with_runtime_size(load_prices(), size)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def office_week_records() -> list[PowerRecord]:
    """Mon-Fri 08:00-20:00 Tokyo (23:00 the day before to 11:00 UTC), with the last record before the week."""
    records = [PowerRecord(deployment=DEPLOYMENT, action="stop", at=at(6, 11))]
    for day in range(9, 14):
        records.append(PowerRecord(deployment=DEPLOYMENT, action="start", at=at(day, 0) - timedelta(hours=1)))
        records.append(PowerRecord(deployment=DEPLOYMENT, action="stop", at=at(day, 11)))
    # next Monday 08:00 Tokyo is Sunday 23:00 UTC: its first hour is in the week
    records.append(PowerRecord(deployment=DEPLOYMENT, action="start", at=at(15, 23)))
    return records


def refusal(when: datetime, decision: str = "refuse") -> WalGuardRecord:
    return WalGuardRecord(
        deployment=DEPLOYMENT,
        at=when,
        decision=decision,  # type: ignore[arg-type]
        reason=NEEDS,
        off_hours=62.0,
        headroom_hours=20.0,
    )


# --- the week and its figures ------------------------------------------------------------------
def week_digest(
    data: dict[str, Any] | None = None,
    *,
    records: list[PowerRecord] | None = None,
    guard: list[WalGuardRecord] | None = None,
    now: datetime = SENT,
) -> Any:
    """The digest of the week before SENT, nothing measured."""
    return compose(
        parse_request(data or request()),
        prices(),
        week_before(SENT),
        records=records or [],
        guard=guard or [],
        measured=None,
        measured_error=None,
        now=now,
    )


def test_the_week_is_the_seven_utc_days_before_the_day_it_is_sent() -> None:
    week = week_before(SENT)
    assert (week.start, week.end, week.span) == (START, END, "week")
    assert week.hours == 168 and week.complete
    assert week.ce_time_period() == {"Start": "2026-03-09", "End": "2026-03-16"}
    assert week.label == "the week 2026-03-09 to 2026-03-15"
    # later the same UTC day: the same week
    assert week_before(datetime(2026, 3, 16, 23, 59, tzinfo=UTC)) == week


def test_hours_come_from_the_records_and_the_cost_is_modelled_for_the_schedule_and_the_records() -> None:
    req = parse_request(request())
    table = prices()
    week = week_before(SENT)
    # a holiday on Wednesday: the start never came, so the records say 48 h on, the schedule 60 h
    records = [r for r in office_week_records() if r.at not in (at(10, 23), at(11, 11))]
    digest = compose(
        req,
        table,
        week,
        records=records,
        guard=[],
        measured=None,
        measured_error=None,
        now=SENT + timedelta(days=2),
    )
    assert digest.hours_on == 48 and digest.hours_asleep == 120 and digest.hours == 168
    assert digest.stops == 4 and digest.starts == 4
    assert (
        "power workflow's records" in digest.hours_basis
        and "on (last record before the week 2026-03-09" in digest.hours_basis
    )
    fraction = Decimal(168) / table.hours_per_month
    recorded = monthly_cost(
        table,
        on_hours_per_month=Decimal(48),
        hours_in_month=Decimal(168),
        volume_fraction=fraction,
        deep=True,
    )
    assert digest.recorded_usd == recorded.total_usd
    scheduled = modelled_for(table, req.schedule, week)
    assert on_hours_between(req.schedule, START, END) == 60  # type: ignore[arg-type]
    assert digest.modelled_usd == scheduled.modelled.total_usd > digest.recorded_usd
    assert digest.always_on_usd == scheduled.always_on.total_usd
    # nothing measured: the saving is the model's at the recorded hours
    assert digest.saved_usd == digest.always_on_usd - digest.recorded_usd > 0
    assert digest.saved_basis.startswith("modelled at the recorded hours")
    assert "48.0 h on, 120.0 h asleep (deep: the whole data plane) of 168.0 h" in digest.text
    assert "Measured: not available: nothing measured" in digest.text
    assert digest.subject == f"Openflow weekly digest: {DEPLOYMENT}, 2026-03-09 to 2026-03-15 (UTC)"
    assert "Mon 2026-03-09 09:00 to Mon 2026-03-16 09:00 (Asia/Tokyo)" in digest.text


def test_without_records_the_hours_are_the_schedules_and_without_a_schedule_always_on() -> None:
    scheduled = week_digest()
    assert scheduled.hours_on == 60 and "no on/off records yet" in scheduled.hours_basis
    assert scheduled.recorded_usd == scheduled.modelled_usd
    always = week_digest(request(None))
    assert always.hours_on == 168 and always.hours_asleep == 0 and always.sleep == "none"
    assert always.saved_usd == 0 and "always on: the request has no schedule" in always.hours_basis


def test_the_wal_guard_refusals_and_shortenings_of_the_week_are_listed_and_others_left_out() -> None:
    guard = [
        refusal(at(8, 11)),  # the week before
        refusal(at(13, 11)),
        refusal(at(12, 11), "shorten"),
        refusal(at(16, 1)),  # after the week
    ]
    digest = week_digest(records=office_week_records(), guard=guard)
    assert [g.at for g in digest.guard] == [at(13, 11), at(12, 11)]
    assert "WAL guard: 1 stop refused, 1 shortened:" in digest.text
    assert "- Fri 2026-03-13 20:00 refused: not stopped: the source can keep" in digest.text
    assert "- Thu 2026-03-12 20:00 shortened:" in digest.text
    quiet = week_digest(records=office_week_records())
    assert "WAL guard: it refused and shortened no stop this week." in quiet.text


def test_a_digest_sent_within_a_day_of_the_weeks_end_says_the_last_hours_may_be_missing() -> None:
    early = week_digest()
    late = week_digest(now=SENT + timedelta(days=1))
    assert any("last hours may be missing" in n for n in early.notes)
    assert not any("last hours may be missing" in n for n in late.notes)


# --- the function, on moto -----------------------------------------------------------------------
@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="digests")["TopicArn"]
        queue = sqs.create_queue(QueueName="digests")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        yield {"s3": s3, "sns": sns, "sqs": sqs, "topic": topic, "queue": queue}


def _received(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


@contextmanager
def _refused(role: str) -> Iterator[Any]:
    raise PermissionDenied(
        f"{role} cannot read SNOWFLAKE.ACCOUNT_USAGE",
        fix=f"GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE {role}",
    )
    yield  # pragma: no cover


def test_the_digest_is_sent_to_the_targets_and_kept_even_when_the_week_cannot_be_measured(
    aws: dict[str, Any],
) -> None:
    data = request(notifications=[{"sns_topic_arn": aws["topic"]}])
    save_request(aws["s3"], BUCKET, parse_request(data))
    for record in office_week_records():
        append_record(aws["s3"], BUCKET, RECORDS_PREFIX, record)
    append_record(aws["s3"], BUCKET, GUARD_PREFIX, refusal(at(13, 11)))
    env = FunctionEnv(artifact_bucket=BUCKET)
    digest = weekly_digest(
        {"deployment": DEPLOYMENT, "now": "2026-03-16T00:00:00Z"},
        env=env,
        s3=aws["s3"],
        sns=aws["sns"],
        sessions=_refused,
        ce=object(),  # never called: Snowflake is read first
    )
    assert digest.hours_on == 60 and digest.stops == 5 and digest.starts == 5
    assert digest.measured is None
    assert digest.measured_error is not None and "GRANT IMPORTED PRIVILEGES" in digest.measured_error
    assert digest.delivered_to == [aws["topic"]]
    [message] = _received(aws)
    assert message["workflow"] == "digest" and message["status"] == "DIGEST"
    assert message["subject"] == digest.subject and "1 stop refused" in message["text"]
    assert message["digest"]["hours_on"] == 60.0
    kept = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=digest_key(DEPLOYMENT, week_before(SENT)))["Body"].read()
    )
    assert kept["delivered_to"] == [aws["topic"]] and kept["guard"][0]["decision"] == "refuse"
    assert digest_key(DEPLOYMENT, week_before(SENT)) == f"digests/{DEPLOYMENT}/2026-03-09.json"


def test_a_digest_for_a_deployment_never_provisioned_says_so(aws: dict[str, Any]) -> None:
    from openflow_autopilot.errors import InvalidRequest, PreconditionFailed

    env = FunctionEnv(artifact_bucket=BUCKET)
    with pytest.raises(PreconditionFailed, match="no stored request"):
        weekly_digest({"deployment": "OTHER", "now": "2026-03-16T00:00:00Z"}, env=env, s3=aws["s3"])
    with pytest.raises(InvalidRequest, match="now:"):
        weekly_digest({"deployment": DEPLOYMENT, "now": "monday"}, env=env, s3=aws["s3"])
    with pytest.raises(InvalidRequest, match="deployment: missing"):
        weekly_digest({"now": "2026-03-16T00:00:00Z"}, env=env, s3=aws["s3"])


# --- what the WAL guard leaves for it ------------------------------------------------------------
def _report(headroom: float) -> WalReport:
    return WalReport(
        slot="openflow_slot",
        slot_found=True,
        active=False,
        wal_status="reserved",
        retained_bytes=2**30,
        free_storage_bytes=10 * 2**30,
        rate_bytes_per_second=1000.0,
        hours_until_storage_full=headroom,
        hours_until_slot_limit=None,
        level="ok",
        message="ok",
        sample=WalSample(at=at(13, 11), position_bytes=10**9),
    )


@pytest.mark.parametrize(("headroom", "written"), [(20.0, "refuse"), (500.0, None)])
def test_the_wal_guard_step_records_a_refused_stop_and_nothing_for_an_allowed_one(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, headroom: float, written: str | None
) -> None:
    class _Login:
        def dsn(self) -> str:
            return "postgresql://unused"

    @contextmanager
    def _connect(_dsn: str) -> Iterator[None]:
        yield None

    monkeypatch.setattr(source_admin_module, "admin_login", lambda *a, **k: _Login())
    monkeypatch.setattr(wal_step, "connect", _connect)
    monkeypatch.setattr(wal_step, "check_wal", lambda *a, **k: _report(headroom))
    event = {
        "request": request(),
        "power": {"deployment": DEPLOYMENT, "action": "stop", "now": "2026-03-13T20:00:00+09:00"},
        "decision": {
            "run": "stop",
            "action": "stop",
            "reason": "schedule",
            "scheduled": True,
            "why": "off-hours",
            "off_hours": 62.0,
        },
        "at": "2026-03-13T11:00:05Z",
    }
    result = wal_guard(event, env=FunctionEnv(artifact_bucket=BUCKET), s3=aws["s3"])
    guard = load_guard_records(aws["s3"], BUCKET, "2026-03", deployment=DEPLOYMENT)
    if written is None:
        assert result["decision"] == "allow" and guard == [] and "guard_record_key" not in result
    else:
        assert result["decision"] == written
        [record] = guard
        assert record.decision == "refuse" and record.off_hours == 62.0 and record.headroom_hours == 20.0
        assert record.at == datetime(2026, 3, 13, 11, 0, 5, tzinfo=UTC) and "needs 77.5 h" in record.reason
        assert result["guard_record_key"].startswith(f"{GUARD_PREFIX}/2026-03/{DEPLOYMENT}/")


def test_the_next_digest_is_the_next_weekday_and_time_in_its_zone() -> None:
    from openflow_autopilot.config_monitoring import DigestSettings
    from openflow_autopilot.power.digest import next_digest_at

    monday = DigestSettings()
    friday = datetime.fromisoformat("2026-12-04T18:00:00+00:00")  # Sat 03:00 in Tokyo
    assert next_digest_at(monday, "Asia/Tokyo", friday) == datetime.fromisoformat("2026-12-07T09:00:00+09:00")
    sent = datetime.fromisoformat("2026-12-07T09:00:00+09:00")
    assert next_digest_at(monday, "Asia/Tokyo", sent) == datetime.fromisoformat("2026-12-14T09:00:00+09:00")
    earlier = datetime.fromisoformat("2026-12-07T08:59:00+09:00")
    assert next_digest_at(monday, "Asia/Tokyo", earlier) == sent
    # across the spring DST change in Berlin: 09:00 local is 07:00 UTC after it (08:00 before)
    spring = next_digest_at(monday, "Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC))
    assert spring.astimezone(UTC) == datetime(2026, 3, 30, 7, tzinfo=UTC)


def test_a_slack_target_gets_the_digests_text_and_an_unreachable_one_does_not_stop_the_rest(
    aws: dict[str, Any],
) -> None:
    from openflow_autopilot import notify

    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    hook = secrets.create_secret(
        Name="openflow-autopilot/slack-digest", SecretString="https://hooks.slack.com/services/T0/B0/secret"
    )["ARN"]
    opener = Opener(status=200, body=b"ok")
    req = parse_request(
        request(notifications=[{"slack_webhook_secret_arn": hook}, {"sns_topic_arn": aws["topic"]}])
    )

    def send(through: Opener) -> list[str]:
        return notify.send_digest(
            req,
            subject="S",
            text="T",
            digest={},
            default_topic_arn=None,
            sns=aws["sns"],
            secrets=secrets,
            opener=through,
        )

    assert send(opener) == [aws["topic"], f"slack webhook ({hook})"]
    assert opener.posts == [("https://hooks.slack.com/services/T0/B0/secret", {"text": "*S*\nT"})]
    still = send(Opener(fail=OSError("connection refused")))
    assert still == [aws["topic"]]  # the topic got it; the Slack failure is logged by type only


@pytest.mark.parametrize(
    ("digest", "field", "words"),
    [
        ({"time": "9am"}, "digest.time", "HH:MM"),
        ({"time": "24:00"}, "digest.time", "HH:MM"),
        ({"day": "monday"}, "digest.day", "mon"),
        ({"timezone": "Mars/Olympus"}, "digest.timezone", "IANA"),
        ({"enabled": "yes"}, "digest.enabled", "boolean"),
        ({"weekly": True}, "digest.weekly", "Extra inputs"),
    ],
)
def test_a_bad_digest_setting_is_refused_naming_the_field(
    digest: dict[str, Any], field: str, words: str
) -> None:
    from openflow_autopilot.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        parse_request(request(digest=digest))
    assert field in refused.value.message and words in refused.value.message


def test_the_digest_defaults_are_not_written_back_and_its_zone_follows_the_schedule() -> None:
    plain = parse_request(request())
    assert "digest" not in plain.model_dump(mode="json")
    assert plain.digest_timezone == "Asia/Tokyo"
    assert parse_request(request(None)).digest_timezone == "UTC"
    assert parse_request(request(digest={"timezone": "Europe/Berlin"})).digest_timezone == "Europe/Berlin"
