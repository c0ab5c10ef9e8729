"""The watch's decisions, without a sandbox: Openflow findings and heals, the slot, freshness,
when to alert, and the run's mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.config import parse_request
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.postgres.models import WalReport, WalSample
from openflow_autopilot.power.memory import update_memory
from openflow_autopilot.power.request_store import save_request
from openflow_autopilot.steps import watch as steps_watch
from openflow_autopilot.watch import alerts, events, store
from openflow_autopilot.watch.heartbeat import freshness
from openflow_autopilot.watch.models import (
    Finding,
    Heartbeat,
    SlotReading,
    StepError,
    WatchMemory,
    WatchPart,
    WatchRun,
)
from openflow_autopilot.watch.openflow_check import (
    HealBudget,
    check_connector,
    check_deployment,
    check_runtime,
)
from openflow_autopilot.watch.record import RunParts, build_run
from openflow_autopilot.watch.run import HealLock
from openflow_autopilot.watch.slot_watch import slot_findings, stalled

T0 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
RUNTIME = "OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME"
CONNECTOR = "OPENFLOW.OPENFLOW.POSTGRES_CDC"
EVENTS = "OPENFLOW.OPENFLOW.OPENFLOW_EVENTS"


SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/sf-AbCdEf"


def request_data(**watch: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "sales-cdc",
        "snowflake": {
            "account": "MYORG-MYACCOUNT",
            "admin_user": "JDOE",
            "credentials_secret_arn": SECRET,
        },
        "openflow": {"deployment_name": "SALES_CDC_DEPLOYMENT"},
        "aws": {"region": "us-east-1"},
        "source": {"host": "db.example.com", "database": "sales", "tables": ["public.sample_data"]},
        "schedule": {
            "timezone": "UTC",
            "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
        },
    }
    if watch:
        data["watch"] = watch
    return data


REQUEST = parse_request(request_data())


class FakeOpenflow:
    """DESC/ALTER of one runtime and one connector, as the documented lifecycle moves them."""

    def __init__(
        self, runtime: str = "ACTIVE", connector: str = "RUNNING", deployment: str = "ACTIVE"
    ) -> None:
        self.status = {"runtime": runtime, "connector": connector, "deployment": deployment}
        self.start_fails = False
        self.executed: list[str] = []
        self.event_rows: list[dict[str, Any]] = []

    def query(self, statement: str) -> list[dict[str, Any]]:
        self.executed.append(statement)
        if statement.startswith("DESC OPENFLOW DEPLOYMENT"):
            return [{"status": self.status["deployment"], "error_code": None, "status_message": None}]
        if statement.startswith("DESC OPENFLOW RUNTIME"):
            return [
                {
                    "status": self.status["runtime"],
                    "key": "pg-cdc",
                    "error_code": "E1",
                    "status_message": "boom",
                }
            ]
        if statement.startswith("SHOW OPENFLOW CONNECTORS"):
            return [{"name": "POSTGRES_CDC"}]
        if statement.startswith("DESC OPENFLOW CONNECTOR"):
            return [
                {"status": self.status["connector"], "error_code": None, "status_message": "cannot start"}
            ]
        if statement.startswith("SELECT TIMESTAMP, VALUE FROM"):
            return self.event_rows
        return []

    def execute(self, statement: str) -> None:
        self.executed.append(statement)
        if statement.endswith(" STOP"):
            self.status["connector"] = "STOPPED"
        elif statement.endswith(" START"):
            self.status["connector"] = "START_FAILED" if self.start_fails else "RUNNING"
        elif "RECOVERY" in statement:
            self.status["runtime"] = "ACTIVE"

    @property
    def writes(self) -> list[str]:
        return [s for s in self.executed if s.startswith("ALTER")]


# --- Openflow ------------------------------------------------------------------------------------
def test_a_connector_that_failed_to_start_is_stopped_then_started_and_reported_healed() -> None:
    sql = FakeOpenflow(connector="START_FAILED")
    finding, heal = check_connector(sql, REQUEST, budget=HealBudget({}, 2))  # type: ignore[arg-type]
    assert sql.writes == [
        f"ALTER OPENFLOW CONNECTOR {CONNECTOR} STOP",
        f"ALTER OPENFLOW CONNECTOR {CONNECTOR} START",
    ]
    assert (
        heal is not None
        and heal.ok
        and heal.status_before == "START_FAILED"
        and heal.status_after == "RUNNING"
    )
    assert finding.healed and finding.severity == "warning" and "cannot start" in finding.message


def test_a_heal_that_does_not_help_is_critical_and_the_daily_budget_then_stops_healing() -> None:
    sql = FakeOpenflow(connector="UPDATE_FAILED")
    sql.start_fails = True
    budget = HealBudget({}, 1)
    finding, heal = check_connector(sql, REQUEST, budget=budget)  # type: ignore[arg-type]
    assert heal is not None and not heal.ok and finding.severity == "critical"
    sql.executed.clear()
    finding, heal = check_connector(sql, REQUEST, budget=budget)  # type: ignore[arg-type]
    assert heal is None and sql.writes == [] and "already ran 1x today" in finding.message
    assert budget.counts == {"connector:STOP then START": 1}


@pytest.mark.parametrize(("kind", "status"), [("connector", "START_FAILED"), ("runtime", "ACTIVATE_FAILED")])
def test_a_heal_waits_while_another_run_holds_the_lock_and_keeps_its_budget(kind: str, status: str) -> None:
    sql = FakeOpenflow(**{kind: status})
    budget = HealBudget({}, 2)
    held = "power execution arn:exec:stop (started 2026-03-10T03:00:00+00:00)"
    if kind == "connector":
        finding, heal = check_connector(sql, REQUEST, budget=budget, may_heal=lambda: held)  # type: ignore[arg-type]
    else:
        finding, heal = check_runtime(  # type: ignore[arg-type]
            sql, REQUEST, budget=budget, event_table=EVENTS, may_heal=lambda: held
        )
    assert heal is None and sql.writes == [] and budget.counts == {}
    assert finding.severity == "critical" and f"not healed now: {held}" in finding.message
    assert finding.fix is not None and "next watch run" in finding.fix


def test_a_stopped_connector_is_reported_but_never_started_by_the_watch() -> None:
    sql = FakeOpenflow(connector="STOPPED")
    finding, heal = check_connector(sql, REQUEST, budget=HealBudget({}, 2))  # type: ignore[arg-type]
    assert heal is None and sql.writes == [] and finding.severity == "warning"


@pytest.mark.parametrize(
    ("status", "remedy"),
    [
        ("ACTIVATE_FAILED", "RESUME RECOVERY"),
        ("RESTART_FAILED", "RESTART RECOVERY"),
        ("UPGRADE_FAILED", "UPGRADE RECOVERY"),
    ],
)
def test_a_failed_runtime_gets_its_documented_recovery_with_the_event_tables_errors(
    status: str, remedy: str
) -> None:
    sql = FakeOpenflow(runtime=status)
    sql.event_rows = [
        {
            "timestamp": "t2",
            "value": json.dumps(json.dumps({"level": "ERROR", "formattedMessage": "disk full"})),
        },
        {
            "timestamp": "t1",
            "value": json.dumps({"level": "INFO", "formattedMessage": "an ERROR word in info"}),
        },
    ]
    finding, heal = check_runtime(sql, REQUEST, budget=HealBudget({}, 2), event_table=EVENTS)  # type: ignore[arg-type]
    assert sql.writes == [f"ALTER OPENFLOW RUNTIME {RUNTIME} {remedy}"]
    assert heal is not None and heal.ok and finding.healed
    assert (
        "E1; boom" in finding.message and "t2: disk full" in finding.message and "info" not in finding.message
    )
    select = next(s for s in sql.executed if s.startswith("SELECT TIMESTAMP"))
    assert "'runtime-pg-cdc'" in select and "DATEADD(minute, -60" in select  # the key DESC returned


def test_a_failed_status_without_a_documented_remedy_alerts_and_changes_nothing() -> None:
    sql = FakeOpenflow(runtime="CREATE_FAILED")
    finding, heal = check_runtime(sql, REQUEST, budget=HealBudget({}, 2), event_table=EVENTS)  # type: ignore[arg-type]
    assert heal is None and sql.writes == [] and finding.severity == "critical"


@pytest.mark.parametrize(
    ("status", "severity"),
    [("NOT_HEALTHY", "critical"), ("NOT_REPORTING", "critical"), ("UPGRADING", "info"), ("ACTIVE", "ok")],
)
def test_the_deployments_status_is_judged_from_the_documented_list(status: str, severity: str) -> None:
    finding, _ = check_deployment(FakeOpenflow(deployment=status), REQUEST)  # type: ignore[arg-type]
    assert finding.severity == severity
    if severity == "critical":
        assert finding.fix is not None and "doctor agent" in finding.fix


def test_the_runtime_key_is_derived_like_the_docs_example() -> None:
    assert events.runtime_key("PostgreSQL CDC") == "postgresql-cdc"
    assert events.runtime_key("POSTGRES_CDC_RUNTIME") == "postgres-cdc-runtime"


# --- the slot ------------------------------------------------------------------------------------
def reading(confirmed: int, current: int, wal_status: str = "reserved") -> SlotReading:
    return SlotReading(
        slot="s",
        found=True,
        active=True,
        wal_status=wal_status,
        retained_bytes=current - confirmed,
        confirmed_bytes=confirmed,
        current_bytes=current,
        at=T0,
    )


def report(level: str = "ok", headroom: float | None = None, message: str = "m") -> WalReport:
    return WalReport(
        slot="s",
        slot_found=True,
        active=True,
        wal_status="reserved",
        retained_bytes=0,
        free_storage_bytes=None,
        rate_bytes_per_second=1.0,
        hours_until_storage_full=headroom,
        hours_until_slot_limit=None,
        level=level,
        message=message,  # type: ignore[arg-type]
        sample=WalSample(at=T0, position_bytes=0),
    )


def test_a_slot_is_stalled_only_after_a_whole_interval_with_wal_to_consume_and_no_progress() -> None:
    assert stalled(reading(100, 500), reading(100, 200))  # there was WAL to consume, nothing confirmed
    assert not stalled(reading(150, 500), reading(100, 200))  # it moved
    assert not stalled(reading(100, 500), reading(100, 100))  # nothing was waiting at the last run
    assert not stalled(reading(100, 500), None)


def kinds(findings: list[Finding]) -> dict[str, str]:
    return {f.kind: f.severity for f in findings}


def test_slot_levels_follow_wal_status_retained_bytes_and_the_wal_budget() -> None:
    lost = reading(0, 10, wal_status="lost")
    found, _ = slot_findings(lost, report(), last=None, pipeline_on=True, warn_bytes=2**30)
    assert kinds(found) == {"slot_lost": "critical"}
    big, _ = slot_findings(reading(0, 2**31), report(), last=None, pipeline_on=True, warn_bytes=2**30)
    assert kinds(big) == {"wal_retained": "warning"}
    soon, _ = slot_findings(
        reading(0, 10), report("critical", 5.0), last=None, pipeline_on=True, warn_bytes=2**30
    )
    assert kinds(soon) == {"wal_budget": "critical"}
    fine, wake = slot_findings(reading(0, 10), report(), last=None, pipeline_on=True, warn_bytes=2**30)
    assert kinds(fine) == {"slot": "ok"} and not wake


def test_asleep_a_wal_budget_shorter_than_the_night_wakes_the_pipeline_and_a_long_one_does_not() -> None:
    short, wake = slot_findings(
        reading(0, 10),
        report("warning", 30.0),
        last=None,
        pipeline_on=False,
        warn_bytes=2**30,
        off_hours_left=40.0,
    )
    assert wake and kinds(short) == {"wal_budget": "warning"} and "woken early" in short[0].message
    _, wake = slot_findings(
        reading(0, 10),
        report("ok", 200.0),
        last=None,
        pipeline_on=False,
        warn_bytes=2**30,
        off_hours_left=12.0,
    )
    assert not wake
    # asleep, a slot that does not advance is expected
    quiet, _ = slot_findings(
        reading(100, 500), report(), last=reading(100, 200), pipeline_on=False, warn_bytes=2**30
    )
    assert "slot_stalled" not in kinds(quiet)


# --- freshness and alerts --------------------------------------------------------------------------
def beat(age: float, latency: float | None = None) -> Heartbeat:
    written = T0 - timedelta(seconds=age)
    seen = written + timedelta(seconds=latency) if latency is not None else None
    return Heartbeat(
        id="00000000-0000-0000-0000-000000000001", written_at=written, seen_at=seen, latency_seconds=latency
    )


def test_freshness_breached_once_is_recorded_twice_in_a_row_warns_and_an_arrival_resets_it() -> None:
    first, n = freshness([], [beat(700)], now=T0, slo_seconds=600, breaches=0)
    assert first.severity == "info" and n == 1
    second, n = freshness([beat(900, 800)], [], now=T0, slo_seconds=600, breaches=n)
    assert second.severity == "warning" and n == 2 and "800 s" in second.message
    fine, n = freshness([beat(10, 2.5)], [], now=T0, slo_seconds=600, breaches=n)
    assert fine.severity == "ok" and n == 0 and "2.5 s" in fine.message


def run_with(*findings: tuple[str, str]) -> WatchRun:
    found = [Finding(kind=k, severity=s, message=k) for k, s in findings]  # type: ignore[arg-type]
    from openflow_autopilot.watch.models import worst

    return WatchRun(
        deployment="D", at=T0, mode="on", findings=found, severity=worst([f.severity for f in found])
    )


def test_an_alert_goes_once_per_change_and_a_recovery_sends_one_resolved() -> None:
    memory = WatchMemory(deployment="D")
    assert alerts.decide(run_with(("slot", "ok"), ("freshness", "info")), memory) is None
    warning = run_with(("connector", "warning"))
    assert alerts.decide(warning, memory) == "alert"
    memory = memory.model_copy(update={"alerted_severity": "warning", "alerted_kinds": ["connector"]})
    assert alerts.decide(warning, memory) is None  # nothing changed
    assert alerts.decide(run_with(("connector", "warning"), ("slot_stalled", "warning")), memory) == "alert"
    assert alerts.decide(run_with(("connector", "critical")), memory) == "alert"
    assert alerts.decide(run_with(("connector", "ok")), memory) == "resolved"
    subject, text = alerts.message(warning, "alert")
    assert subject == "[warning] Openflow D: connector" and "- warning: connector" in text


def test_a_step_that_failed_becomes_a_critical_finding_so_the_watch_still_alerts() -> None:
    error = StepError.model_validate(
        {"Error": "SnowflakeRetryableError", "Cause": json.dumps({"errorMessage": "login failed: 503"})}
    )
    run, memory = build_run(
        REQUEST,
        WatchMemory(deployment="SALES_CDC_DEPLOYMENT"),
        WatchPart(deployment="SALES_CDC_DEPLOYMENT", mode="on", now=T0),
        RunParts(error=error),
        T0,
    )
    assert run.severity == "critical" and run.findings[-1].kind == "watch_error"
    assert "login failed: 503" in run.findings[-1].message
    assert alerts.decide(run, memory) == "alert"


# --- the request's watch section -----------------------------------------------------------------
def test_the_watch_settings_are_strict_and_defaults_are_not_written_back() -> None:
    assert "watch" not in REQUEST.model_dump(mode="json")
    with pytest.raises(InvalidRequest, match=r"watch\.interval_minutes"):
        parse_request(request_data(interval_minutes=True))
    with pytest.raises(InvalidRequest, match=r"watch\.max_heals"):
        parse_request(request_data(max_heals="2"))
    assert parse_request(request_data(interval_minutes=10)).watch.interval_minutes == 10


# --- Load: the run's mode ------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # moto does not execute state machines here: a started execution stays RUNNING (a live holder)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName="locks",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "deployment", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "deployment", "KeyType": "HASH"}],
        )
        save_request(s3, "artifacts", REQUEST)
        yield s3, db


ENV = FunctionEnv(artifact_bucket="artifacts", lock_table="locks")


def load(aws: Any, now: datetime = T0) -> dict[str, Any]:
    s3, db = aws
    event = {"input": {"deployment": "SALES_CDC_DEPLOYMENT", "now": now.isoformat()}, "settings": {}}
    return steps_watch.load(event, env=ENV, s3=s3, dynamodb=db)["watch"]


def test_the_mode_is_on_asleep_after_a_power_stop_and_hourly_while_asleep(aws: Any) -> None:
    s3, _ = aws
    assert load(aws)["mode"] == "on"
    update_memory(s3, "artifacts", "SALES_CDC_DEPLOYMENT", last_action="stop")
    assert load(aws)["mode"] == "asleep"
    store.save_memory(s3, "artifacts", WatchMemory(deployment="SALES_CDC_DEPLOYMENT", last_slot_at=T0))
    assert load(aws, T0 + timedelta(minutes=5))["mode"] == "skip"
    assert load(aws, T0 + timedelta(minutes=60))["mode"] == "asleep"


def _execution(name: str) -> str:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name=f"m-{name}",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"])


def _hold(db: Any, holder: str, kind: str = "power", expires_in: int = 3600) -> None:
    db.put_item(
        TableName="locks",
        Item={
            "deployment": {"S": LOCK_KEY},
            "holder": {"S": holder},
            "kind": {"S": kind},
            "started_at": {"S": T0.isoformat()},
            "acquired_at": {"N": "1"},
            "expires_at": {"N": str(int(datetime.now(UTC).timestamp()) + expires_in)},
        },
    )


LOCK_KEY = "MYORG-MYACCOUNT/SALES_CDC_DEPLOYMENT"


def test_a_run_while_another_workflow_holds_the_lock_looks_at_nothing(aws: Any) -> None:
    _, db = aws
    _hold(db, _execution("stop"))
    watch = load(aws)
    assert watch["mode"] == "skip" and "holds the deployment's lock" in watch["why"]


def test_a_stale_lock_whose_holder_has_ended_does_not_stop_the_watch(aws: Any) -> None:
    _, db = aws
    holder = _execution("stopped-by-hand")
    boto3.client("stepfunctions", region_name="us-east-1").stop_execution(executionArn=holder)
    _hold(db, holder)
    assert load(aws)["mode"] == "on"
    _hold(db, "arn:aws:states:us-east-1:123456789012:execution:gone:x")  # no longer exists
    assert load(aws)["mode"] == "on"


def test_a_heal_holds_the_deployments_lock_and_the_workflows_wait_for_it(aws: Any) -> None:
    from openflow_autopilot.errors import HealInProgress
    from openflow_autopilot.locks import WATCH_TTL_SECONDS, read_lock
    from openflow_autopilot.steps.shared import acquire_lock

    _, db = aws
    with HealLock(REQUEST, ENV, "arn:exec:watch-1", dynamodb=db, sfn=None) as may_heal:
        assert read_lock(db, "locks", LOCK_KEY) is None  # taken only when a remedy is about to run
        assert may_heal() is None and may_heal() is None  # taken once, then held
        held = read_lock(db, "locks", LOCK_KEY)
        assert held is not None and held.kind == "watch" and held.holder == "arn:exec:watch-1"
        assert held.expires_at - held.acquired_at == WATCH_TTL_SECONDS
        other = HealLock(REQUEST, ENV, "arn:exec:watch-2", dynamodb=db, sfn=None)
        assert "watch execution arn:exec:watch-1" in (other() or "")
        for kind, on_conflict in (("power", "skip"), ("provision", "fail")):
            event = {
                "request": REQUEST.model_dump(mode="json"),
                "kind": kind,
                "on_conflict": on_conflict,
                "execution": f"arn:exec:{kind}",
            }
            with pytest.raises(HealInProgress, match="the watch is healing deployment SALES_CDC_DEPLOYMENT"):
                acquire_lock(event, env=ENV, dynamodb=db)
    assert read_lock(db, "locks", LOCK_KEY) is None  # given back at the step's end


def test_the_heal_does_not_take_a_lock_a_live_run_holds(aws: Any) -> None:
    from openflow_autopilot.locks import read_lock

    _, db = aws
    power = _execution("start")
    _hold(db, power)
    with HealLock(REQUEST, ENV, "arn:exec:watch-1", dynamodb=db, sfn=None) as may_heal:
        assert f"power execution {power}" in (may_heal() or "")
    held = read_lock(db, "locks", LOCK_KEY)
    assert held is not None and held.holder == power  # untouched


def test_a_missing_deployment_in_the_input_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="deployment: missing"):
        steps_watch.load({"input": {}}, env=ENV)
