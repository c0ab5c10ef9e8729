"""EventBridge Scheduler schedules with moto: create, update, stale clean-up, removal, overrides.
moto stores schedules but neither validates expressions nor fires them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.power.schedule import make_override, parse_schedule
from openflow_autopilot.power.schedule_cron import scheduler_expressions
from openflow_autopilot.power.scheduler_api import (
    SCHEDULED_TIME,
    active_override,
    apply_override,
    apply_schedules,
    name_base,
    remove_override,
    remove_schedules,
)

REGION = "ap-northeast-1"
TARGET = f"arn:aws:states:{REGION}:123456789012:stateMachine:power"
ROLE = "arn:aws:iam::123456789012:role/scheduler-invokes-power"
GROUP = "openflow-autopilot"
TOKYO = ZoneInfo("Asia/Tokyo")
OFFICE = parse_schedule(
    {
        "timezone": "Asia/Tokyo",
        "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
    }
)
SPLIT = parse_schedule(
    {
        "timezone": "Asia/Tokyo",
        "on_hours": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "12:00"},
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "13:00", "end": "20:00"},
        ],
    }
)


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("scheduler", region_name=REGION)


def apply(scheduler: Any, schedule: Any = OFFICE, deployment: str = "SALES_CDC_DEPLOYMENT") -> list[str]:
    return apply_schedules(
        scheduler,
        deployment=deployment,
        specs=scheduler_expressions(schedule),
        target_arn=TARGET,
        role_arn=ROLE,
        group=GROUP,
    )


def listed(scheduler: Any) -> list[str]:
    return sorted(s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"])


def test_apply_creates_the_group_and_one_schedule_per_spec_targeting_the_power_state_machine(
    scheduler: Any,
) -> None:
    names = apply(scheduler)
    assert names == ["SALES_CDC_DEPLOYMENT-start-0", "SALES_CDC_DEPLOYMENT-stop-0"]
    start = scheduler.get_schedule(Name=names[0], GroupName=GROUP)
    assert start["ScheduleExpression"] == "cron(0 8 ? * MON-FRI *)"
    assert start["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert start["Target"]["Arn"] == TARGET and start["Target"]["RoleArn"] == ROLE
    assert json.loads(start["Target"]["Input"]) == {
        "deployment": "SALES_CDC_DEPLOYMENT",
        "action": "start",
        "reason": "schedule",
        "now": SCHEDULED_TIME,
    }


class Recording:
    """The real (moto) client, recording which API calls were made."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if callable(attr) and not name.startswith("get_paginator"):

            def call(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(*args, **kwargs)

            return call
        return attr


def test_applying_the_same_schedule_twice_changes_nothing(scheduler: Any) -> None:
    apply(scheduler)
    recording = Recording(scheduler)
    assert apply(recording) == ["SALES_CDC_DEPLOYMENT-start-0", "SALES_CDC_DEPLOYMENT-stop-0"]
    assert not {"create_schedule", "update_schedule", "delete_schedule", "create_schedule_group"} & set(
        recording.calls
    )
    assert len(listed(scheduler)) == 2


def test_a_changed_time_is_updated_not_recreated(scheduler: Any) -> None:
    apply(scheduler)
    later = parse_schedule(
        {
            "timezone": "Asia/Tokyo",
            "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "20:00"}],
        }
    )
    recording = Recording(scheduler)
    apply(recording, later)
    assert recording.calls.count("update_schedule") == 1 and "create_schedule" not in recording.calls
    start = scheduler.get_schedule(Name="SALES_CDC_DEPLOYMENT-start-0", GroupName=GROUP)
    assert start["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"


def test_a_changed_schedule_updates_in_place_and_deletes_the_stale_ones(scheduler: Any) -> None:
    apply(scheduler, SPLIT)
    assert len(listed(scheduler)) == 4
    apply(scheduler, parse_schedule({**OFFICE.model_dump(), "timezone": "Europe/Berlin"}))
    assert listed(scheduler) == ["SALES_CDC_DEPLOYMENT-start-0", "SALES_CDC_DEPLOYMENT-stop-0"]
    start = scheduler.get_schedule(Name="SALES_CDC_DEPLOYMENT-start-0", GroupName=GROUP)
    assert start["ScheduleExpressionTimezone"] == "Europe/Berlin"


def test_another_deployments_schedules_in_the_same_group_are_left_alone(scheduler: Any) -> None:
    apply(scheduler, SPLIT, deployment="SALES")
    apply(scheduler, OFFICE, deployment="SALES_EU")
    apply(scheduler, OFFICE, deployment="SALES")
    assert listed(scheduler) == ["SALES-start-0", "SALES-stop-0", "SALES_EU-start-0", "SALES_EU-stop-0"]


def test_remove_deletes_every_schedule_of_the_deployment_and_is_idempotent(scheduler: Any) -> None:
    apply(scheduler, SPLIT)
    apply(scheduler, OFFICE, deployment="OTHER")
    removed = remove_schedules(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP)
    assert len(removed) == 4
    assert listed(scheduler) == ["OTHER-start-0", "OTHER-stop-0"]
    assert remove_schedules(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP) == []


def test_remove_from_a_group_that_does_not_exist_removes_nothing(scheduler: Any) -> None:
    assert remove_schedules(scheduler, deployment="SALES", group="never-created") == []


def test_names_are_made_safe_and_short_for_the_scheduler() -> None:
    assert name_base("SALES_CDC_DEPLOYMENT") == "SALES_CDC_DEPLOYMENT"
    odd = name_base("My Deployment$1")
    assert odd.startswith("My-Deployment-1-") and len(odd) <= 40
    long = name_base("D" * 200)
    assert len(long) <= 40 and long != name_base("D" * 199)


def test_an_override_is_a_one_time_stop_that_reads_back_and_survives_reapplying(scheduler: Any) -> None:
    now = datetime(2026, 3, 10, 15, 0, tzinfo=TOKYO)
    override = make_override(OFFICE, "22:00", now=now)
    apply(scheduler)
    name = apply_override(
        scheduler,
        deployment="SALES_CDC_DEPLOYMENT",
        override=override,
        target_arn=TARGET,
        role_arn=ROLE,
        group=GROUP,
    )
    schedule = scheduler.get_schedule(Name=name, GroupName=GROUP)
    assert schedule["ScheduleExpression"] == "at(2026-03-10T13:00:00)"  # 22:00 Tokyo in UTC
    assert json.loads(schedule["Target"]["Input"])["action"] == "stop"
    apply(scheduler)  # a schedule edit must not cancel the override
    found = active_override(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP, now=now)
    assert found is not None and found.keep_on_until == override.keep_on_until
    later = datetime(2026, 3, 10, 22, 0, tzinfo=TOKYO)
    assert active_override(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP, now=later) is None
    assert remove_override(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP)
    assert not remove_override(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP)
    assert active_override(scheduler, deployment="SALES_CDC_DEPLOYMENT", group=GROUP, now=now) is None
