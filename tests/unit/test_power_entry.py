"""The power workflow's glue with moto (mock_aws): the stored request, the schedules the
provisioning workflow creates, the on/off records, the slot check and the gen 1 NiFi call."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.config import parse_request
from openflow_autopilot.cost.records import load_records
from openflow_autopilot.errors import BudgetExhausted, InvalidRequest, PreconditionFailed
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.memory import load_memory
from openflow_autopilot.power.nifi import read_nifi_access, set_flow_state
from openflow_autopilot.power.request_store import load_request, request_key, save_request
from openflow_autopilot.power.slot import SlotCheck, SlotPosition, check_slot, progress
from openflow_autopilot.steps.power import load, record_stop
from openflow_autopilot.steps.provision import schedules

BUCKET = "artifacts"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stack-PowerStateMachine"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
WATCH = "arn:aws:states:us-east-1:123456789012:stateMachine:stack-WatchStateMachine"
DIGEST = "arn:aws:lambda:us-east-1:123456789012:function:stack-PowerDigestFunction"
ENV = FunctionEnv(
    artifact_bucket=BUCKET,
    power_state_machine_arn=MACHINE,
    watch_state_machine_arn=WATCH,
    digest_function_arn=DIGEST,
    scheduler_role_arn=ROLE,
    schedule_group="stack-power",
)
NOW = "2026-03-10T09:00:00+09:00"


def request(schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "sales-cdc",
        "snowflake": {
            "account": "MYORG-MYACCOUNT",
            "admin_user": "JDOE",
            "credentials_secret_arn": (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/x-Ab"
            ),
        },
        "openflow": {"deployment_name": "sales_cdc_deployment"},
        "aws": {"region": "us-east-1"},
        "source": {"host": "db", "database": "sales", "tables": ["public.t"]},
    }
    if schedule is not None:
        data["schedule"] = schedule
    return data


OFFICE = {
    "timezone": "Europe/Berlin",
    "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield {"s3": s3, "scheduler": boto3.client("scheduler", region_name="us-east-1")}


# --- the stored request ----------------------------------------------------------------------------
def test_the_request_is_stored_under_the_deployment_name_and_read_back(aws: dict[str, Any]) -> None:
    req = parse_request(request(OFFICE))
    key = save_request(aws["s3"], BUCKET, req)
    assert key == "requests/SALES_CDC_DEPLOYMENT.json" == request_key("sales_cdc_deployment")
    assert load_request(aws["s3"], BUCKET, "SALES_CDC_DEPLOYMENT") == req


def test_the_same_deployment_name_of_another_snowflake_account_is_refused_not_replaced(
    aws: dict[str, Any],
) -> None:
    first = parse_request(request(OFFICE))
    save_request(aws["s3"], BUCKET, first)
    other = request(OFFICE)
    other["snowflake"]["account"] = "OTHERORG-OTHERACCOUNT"
    with pytest.raises(PreconditionFailed) as caught:
        save_request(aws["s3"], BUCKET, parse_request(other))
    assert "MYORG-MYACCOUNT" in caught.value.message and "another name" in (caught.value.fix or "")
    assert load_request(aws["s3"], BUCKET, "SALES_CDC_DEPLOYMENT") == first  # kept as it was
    # the same account (any case) re-saves its own request, changed or not
    same = request({**OFFICE, "stop_agent": True})
    same["snowflake"]["account"] = "myorg-myaccount"
    save_request(aws["s3"], BUCKET, parse_request(same))
    assert load_request(aws["s3"], BUCKET, "SALES_CDC_DEPLOYMENT").schedule.stop_agent is True  # type: ignore[union-attr]


def test_a_deployment_with_no_stored_request_says_to_provision_it(aws: dict[str, Any]) -> None:
    with pytest.raises(PreconditionFailed, match="no stored request for deployment NOPE"):
        load_request(aws["s3"], BUCKET, "NOPE")
    with pytest.raises(InvalidRequest):
        request_key("../etc")


def test_load_checks_the_input_and_defaults_now_to_the_execution_start(aws: dict[str, Any]) -> None:
    save_request(aws["s3"], BUCKET, parse_request(request({**OFFICE, "stop_agent": True})))
    state = load(
        {
            "input": {"deployment": "SALES_CDC_DEPLOYMENT", "action": "stop"},
            "started_at": "2026-03-10T19:00:00Z",
        },
        env=ENV,
        s3=aws["s3"],
    )
    assert state["power"]["now"] == "2026-03-10T19:00:00+00:00" and state["power"]["reason"] == "manual"
    assert state["power"]["stop_agent"] is True and state["power"]["suspend_warehouse"] is False
    assert state["wal"] is None and state["polls"] == {} and state["phases"] == {}
    with pytest.raises(InvalidRequest, match="action"):
        load({"input": {"deployment": "X", "action": "pause", "now": NOW}}, env=ENV, s3=aws["s3"])
    with pytest.raises(InvalidRequest, match="no time zone"):
        load(
            {"input": {"deployment": "X", "action": "stop", "now": "2026-03-10T19:00"}}, env=ENV, s3=aws["s3"]
        )


# --- the schedules ------------------------------------------------------------------------------------
def test_the_schedules_are_created_from_the_request_and_a_rerun_changes_nothing(aws: dict[str, Any]) -> None:
    event = {"request": request(OFFICE), "now": NOW}
    first = schedules(event, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert first.status == "changed"
    assert first.outputs["schedules"] == ["SALES_CDC_DEPLOYMENT-start-0", "SALES_CDC_DEPLOYMENT-stop-0"]
    assert "SALES_CDC_DEPLOYMENT-stop-0: stop mon,tue,wed,thu,fri 20:00 Europe/Berlin" in first.notes
    stop = aws["scheduler"].get_schedule(Name="SALES_CDC_DEPLOYMENT-stop-0", GroupName="stack-power")
    assert stop["ScheduleExpression"] == "cron(0 20 ? * MON-FRI *)"
    assert stop["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert stop["Target"]["Arn"] == MACHINE and stop["Target"]["RoleArn"] == ROLE
    assert json.loads(stop["Target"]["Input"])["action"] == "stop"
    assert load_request(aws["s3"], BUCKET, "SALES_CDC_DEPLOYMENT").schedule is not None
    second = schedules(event, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert second.status == "unchanged"


def test_removing_the_schedule_from_the_request_removes_the_schedules(aws: dict[str, Any]) -> None:
    schedules({"request": request(OFFICE), "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    result = schedules(
        {"request": request(None), "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"]
    )
    assert result.status == "changed" and result.outputs["schedules"] == []
    # always on: only the watch's and the digest's schedules are left
    left = aws["scheduler"].list_schedules(GroupName="stack-power")["Schedules"]
    assert sorted(s["Name"] for s in left) == ["SALES_CDC_DEPLOYMENT-digest", "SALES_CDC_DEPLOYMENT-watch"]


def test_the_watch_is_scheduled_at_its_interval_and_removed_when_disabled(aws: dict[str, Any]) -> None:
    data = request(OFFICE) | {"watch": {"interval_minutes": 10}}
    first = schedules({"request": data, "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert first.outputs["watch_schedule"] == "SALES_CDC_DEPLOYMENT-watch"
    watch = aws["scheduler"].get_schedule(Name="SALES_CDC_DEPLOYMENT-watch", GroupName="stack-power")
    assert watch["ScheduleExpression"] == "rate(10 minutes)"
    assert watch["Target"]["Arn"] == WATCH and watch["Target"]["RoleArn"] == ROLE
    assert json.loads(watch["Target"]["Input"]) == {
        "deployment": "SALES_CDC_DEPLOYMENT",
        "now": "<aws.scheduler.scheduled-time>",
    }
    again = schedules({"request": data, "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert again.status == "unchanged"
    off = request(OFFICE) | {"watch": {"enabled": False}}
    result = schedules({"request": off, "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert result.status == "changed"
    assert "watch.enabled is false: the watch schedule was removed" in result.notes
    names = [s["Name"] for s in aws["scheduler"].list_schedules(GroupName="stack-power")["Schedules"]]
    assert "SALES_CDC_DEPLOYMENT-watch" not in names and len(names) == 3


def test_the_digest_is_scheduled_weekly_in_the_schedules_zone_and_removed_when_disabled(
    aws: dict[str, Any],
) -> None:
    first = schedules(
        {"request": request(OFFICE), "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"]
    )
    assert first.outputs["digest_schedule"] == "SALES_CDC_DEPLOYMENT-digest"
    assert "SALES_CDC_DEPLOYMENT-digest: weekly digest mon 09:00 Europe/Berlin" in first.notes
    digest = aws["scheduler"].get_schedule(Name="SALES_CDC_DEPLOYMENT-digest", GroupName="stack-power")
    assert digest["ScheduleExpression"] == "cron(0 9 ? * MON *)"
    assert digest["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert digest["Target"]["Arn"] == DIGEST and digest["Target"]["RoleArn"] == ROLE
    assert json.loads(digest["Target"]["Input"]) == {
        "deployment": "SALES_CDC_DEPLOYMENT",
        "now": "<aws.scheduler.scheduled-time>",
    }
    moved = request(OFFICE) | {"digest": {"day": "fri", "time": "17:30", "timezone": "Asia/Tokyo"}}
    changed = schedules({"request": moved, "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert changed.status == "changed"
    digest = aws["scheduler"].get_schedule(Name="SALES_CDC_DEPLOYMENT-digest", GroupName="stack-power")
    assert digest["ScheduleExpression"] == "cron(30 17 ? * FRI *)"
    assert digest["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    off = request(OFFICE) | {"digest": {"enabled": False}}
    result = schedules({"request": off, "now": NOW}, env=ENV, s3=aws["s3"], scheduler=aws["scheduler"])
    assert "digest.enabled is false: the digest schedule was removed" in result.notes
    names = [s["Name"] for s in aws["scheduler"].list_schedules(GroupName="stack-power")["Schedules"]]
    assert "SALES_CDC_DEPLOYMENT-digest" not in names


def test_the_digest_schedule_needs_the_digest_function(aws: dict[str, Any]) -> None:
    from openflow_autopilot.errors import ConfigurationError

    env = ENV.model_copy(update={"digest_function_arn": None})
    with pytest.raises(ConfigurationError, match="DIGEST_FUNCTION_ARN"):
        schedules({"request": request(OFFICE)}, env=env, s3=aws["s3"], scheduler=aws["scheduler"])


def test_the_watch_schedule_needs_the_watch_machine(aws: dict[str, Any]) -> None:
    from openflow_autopilot.errors import ConfigurationError

    env = ENV.model_copy(update={"watch_state_machine_arn": None})
    with pytest.raises(ConfigurationError, match="WATCH_STATE_MACHINE_ARN"):
        schedules({"request": request(OFFICE)}, env=env, s3=aws["s3"], scheduler=aws["scheduler"])


def test_schedules_need_the_scheduler_role(aws: dict[str, Any]) -> None:
    from openflow_autopilot.errors import ConfigurationError

    env = ENV.model_copy(update={"scheduler_role_arn": None})
    with pytest.raises(ConfigurationError, match="SCHEDULER_ROLE_ARN"):
        schedules({"request": request(OFFICE)}, env=env, s3=aws["s3"], scheduler=aws["scheduler"])


# --- records -------------------------------------------------------------------------------------------
def record_event(changed: bool, run: str = "stop", hold: dict[str, Any] | None = None) -> dict[str, Any]:
    status = "changed" if changed else "unchanged"
    return {
        "power": {
            "deployment": "SALES_CDC_DEPLOYMENT",
            "action": run,
            "reason": "schedule",
            "now": "2026-03-10T20:00:00+09:00",
        },
        "decision": {
            "run": run,
            "action": run,
            "reason": "schedule",
            "scheduled": True,
            "why": "w",
            "hold": hold,
        },
        "phases": {
            "StopConnector": {"status": status, "actions": [{"kind": "stop_connector"}] if changed else []}
        },
        "polls": {},
        "wal": None,
        "at": "2026-03-10T11:00:05Z",
    }


def test_a_stop_that_changed_something_writes_one_off_record(aws: dict[str, Any]) -> None:
    out = record_stop(record_event(True), env=ENV, s3=aws["s3"])
    assert (
        out["result"] == "stopped"
        and out["changed"]
        and out["record_key"].startswith("power-records/2026-03/")
    )
    [rec] = load_records(aws["s3"], BUCKET, "power-records", "2026-03")
    assert rec.action == "stop" and rec.reason == "schedule" and "stop_connector" in (rec.note or "")
    assert rec.at == datetime(2026, 3, 10, 11, 0, 5, tzinfo=UTC)


def test_a_stop_that_changed_nothing_writes_no_record_and_says_so(aws: dict[str, Any]) -> None:
    out = record_stop(record_event(False), env=ENV, s3=aws["s3"])
    assert not out["changed"] and out["record_key"] is None and "nothing changed" in out["note"]
    assert load_records(aws["s3"], BUCKET, "power-records", "2026-03") == []
    assert load_memory(aws["s3"], BUCKET, "SALES_CDC_DEPLOYMENT").last_outcome == "already stopped"


def test_a_manual_start_remembers_its_hold(aws: dict[str, Any]) -> None:
    hold = {
        "state": "on",
        "since": "2026-03-10T13:00:00Z",
        "until_next_scheduled_action": "2026-03-10T23:00:00Z",
    }
    record_stop(record_event(True, run="start", hold=hold), env=ENV, s3=aws["s3"])
    memory = load_memory(aws["s3"], BUCKET, "SALES_CDC_DEPLOYMENT")
    assert memory.hold is not None and memory.hold.state == "on" and memory.last_action == "start"


# --- the slot after a start --------------------------------------------------------------------------
def position(confirmed: int | None, current: int, found: bool = True) -> SlotPosition:
    return SlotPosition(
        slot="openflow_sales_cdc",
        found=found,
        active=True,
        confirmed_bytes=confirmed,
        current_bytes=current,
        at=datetime(2026, 3, 11, tzinfo=UTC),
    )


def test_the_slot_advancing_past_its_baseline_passes() -> None:
    baseline = position(1_000, 50_000_000)
    assert progress(baseline, position(1_000, 50_000_100)) == (
        False,
        "slot openflow_sales_cdc has not advanced yet (lag 49999100 bytes, active=True)",
    )
    advanced, note = progress(baseline, position(40_000_000, 50_000_100))
    assert advanced and "lag 49999000 -> 10000100 bytes" in note


def test_a_slot_with_nothing_to_catch_up_passes_with_a_note_and_a_lost_slot_fails() -> None:
    assert progress(position(100, 200), position(100, 300))[0]
    with pytest.raises(PreconditionFailed, match="re-snapshot"):
        progress(position(100, 200), position(None, 300, found=False))


def test_a_slot_that_never_advances_exhausts_the_budget() -> None:
    state = SlotCheck(baseline=position(0, 10_000_000))
    with pytest.raises(BudgetExhausted, match="did not advance within 2 checks"):
        for _ in range(3):
            state = check_slot(position(0, 10_000_000), state, max_checks=2)


# --- gen 1: the NiFi flow -------------------------------------------------------------------------------
class _Response:
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return b"{}"


def test_the_nifi_flow_is_stopped_when_reachable_and_noted_when_not() -> None:
    sent: list[Any] = []

    def opener(req: Any, timeout: float) -> _Response:
        sent.append(req)
        return _Response()

    actions, notes = set_flow_state(("https://nifi/nifi-api", "pat"), "STOPPED", opener=opener)
    assert [a.kind for a in actions] == ["stop_nifi_flow"] and notes == []
    assert sent[0].get_method() == "PUT" and json.loads(sent[0].data) == {"id": "root", "state": "STOPPED"}
    assert sent[0].headers["Authorization"] == "Bearer pat"

    def down(req: Any, timeout: float) -> _Response:
        raise urllib.error.URLError("connection refused")

    actions, notes = set_flow_state(("https://nifi/nifi-api", "pat"), "RUNNING", opener=down)
    assert actions == [] and "not reachable" in notes[0]
    actions, notes = set_flow_state(None, "STOPPED")
    assert actions == [] and "no NiFi access configured" in notes[0]


def test_nifi_access_comes_from_a_secret_and_only_over_https(aws: dict[str, Any]) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    assert read_nifi_access(sm, "openflow-autopilot/sales-cdc/nifi") is None
    sm.create_secret(
        Name="openflow-autopilot/sales-cdc/nifi", SecretString=json.dumps({"url": "http://x", "token": "t"})
    )
    assert read_nifi_access(sm, "openflow-autopilot/sales-cdc/nifi") is None
    sm.put_secret_value(
        SecretId="openflow-autopilot/sales-cdc/nifi",
        SecretString=json.dumps({"url": "https://x/nifi-api/", "token": "t"}),
    )
    assert read_nifi_access(sm, "openflow-autopilot/sales-cdc/nifi") == ("https://x/nifi-api", "t")


def test_time_passes_in_real_hours_for_the_record(aws: dict[str, Any]) -> None:
    # the record's time is the real time the state was entered, not the scheduled time
    event = record_event(True)
    event["at"] = (datetime(2026, 3, 31, 23, 30, tzinfo=UTC) + timedelta(hours=1)).isoformat()
    out = record_stop(event, env=ENV, s3=aws["s3"])
    assert out["record_key"].startswith("power-records/2026-04/")


# --- what the notification says ------------------------------------------------------------------------
def test_the_notification_text_says_what_happened_and_why() -> None:
    from openflow_autopilot.power.notify_text import power_message

    power = {"deployment": "D", "action": "stop", "reason": "schedule", "now": "2026-03-13T20:00:00+09:00"}
    refused = power_message(
        {"power": power, "outcome": {"result": "refused", "why": "not stopped: 40.0 h < 75.0 h"}},
        name="sales-cdc",
    )
    assert refused is not None and refused[0] == "SUCCEEDED"
    assert refused[1] == "Openflow Autopilot: D NOT stopped (WAL guard)" and "40.0 h < 75.0 h" in refused[2]
    stopped = power_message(
        {
            "power": power,
            "outcome": {"result": "stopped", "why": "scheduled stop"},
            "phases": {"SuspendRuntime": {"actions": [{"kind": "suspend_runtime"}], "notes": []}},
            "polls": {"compute": {"actions": [{"kind": "scale_to_zero"}], "notes": ["compute is gone"]}},
        },
        name="sales-cdc",
        execution="arn:x",
    )
    assert stopped is not None and "- SuspendRuntime: suspend_runtime" in stopped[2]
    assert "- VerifyComputeGone: scale_to_zero" in stopped[2] and "Execution: arn:x" in stopped[2]
    failed = power_message(
        {
            "power": power,
            "error": {"Error": "BudgetExhausted", "Cause": json.dumps({"errorMessage": "k1-sm-group"})},
        },
        name="sales-cdc",
        failed_in="VerifyComputeGone",
    )
    assert failed is not None and failed[0] == "FAILED" and "FAILED in VerifyComputeGone" in failed[1]
    assert "k1-sm-group" in failed[2]
    assert power_message({"request": {}}, name="x") is None  # not a power state


# --- gen 1: no SQL for runtimes and connectors, so the node groups are scaled at once ---------------
def test_gen1_notes_what_it_cannot_do_and_scales_the_node_groups_at_once(aws: dict[str, Any]) -> None:
    from openflow_autopilot.steps.power import check_runtime_suspended, stop_connector, suspend_runtime
    from openflow_autopilot.steps.power_compute import verify_compute_gone
    from openflow_sandbox.eks import OpenflowCompute

    gen1 = request(OFFICE)
    gen1["openflow"]["generation"] = 1

    def no_snowflake(**_kw: Any) -> Any:
        raise AssertionError("gen 1 power steps need no Snowflake session")

    suspended = suspend_runtime({"request": gen1}, env=ENV, connector=no_snowflake)
    assert suspended.status == "unchanged" and "no SQL suspend/resume" in suspended.notes[0]
    assert check_runtime_suspended({"request": gen1}, env=ENV, connector=no_snowflake).done
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    stopped = stop_connector({"request": gen1}, env=ENV, secrets=sm, connector=no_snowflake)
    assert "no NiFi access configured" in stopped.notes[0]

    compute = OpenflowCompute()
    compute.create("dp1")
    event = {"request": gen1, "target": {"key": "dp1", "node_type": "SMALL"}, "polls": {}}
    first = verify_compute_gone(event, eks=boto3.client("eks", region_name="us-east-1"))
    assert first.forced and "nothing scales it by itself" in first.notes[-1]
    assert compute.sizes("dp1")["sm"].desired == 0 and compute.sizes("dp1")["sm"].max == 50


def test_the_sample_power_events_are_valid_inputs(aws: dict[str, Any]) -> None:
    from pathlib import Path

    save_request(aws["s3"], BUCKET, parse_request(request(OFFICE)))
    samples = sorted((Path(__file__).resolve().parents[2] / "events" / "power").glob("*.json"))
    assert len(samples) == 3
    for path in samples:
        state = load({"input": json.loads(path.read_text()), "started_at": NOW}, env=ENV, s3=aws["s3"])
        assert state["power"]["deployment"] == "SALES_CDC_DEPLOYMENT", path.name
