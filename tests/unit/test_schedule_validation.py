"""Bad schedules are rejected before anything is created, with a message naming the field and the fix;
the EventBridge Scheduler expressions of good ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.schedule import parse_schedule
from openflow_autopilot.power.schedule_cron import HOLIDAY_NOTE, scheduler_expressions

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def rejected(data: dict[str, Any], *words: str) -> str:
    with pytest.raises(InvalidRequest) as info:
        parse_schedule(data)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def test_an_end_before_the_start_without_overnight_is_rejected_and_suggests_overnight() -> None:
    rejected(
        {"timezone": "UTC", "on_hours": [{"days": ["mon"], "start": "20:00", "end": "08:00"}]},
        "schedule.on_hours.0",
        "end 08:00 is not after start 20:00",
        "overnight: true",
    )


def test_an_overnight_period_whose_end_is_after_its_start_is_rejected() -> None:
    rejected(
        {
            "timezone": "UTC",
            "on_hours": [{"days": ["mon"], "start": "08:00", "end": "20:00", "overnight": True}],
        },
        "schedule.on_hours.0",
        "overnight is set but end 20:00 is after start 08:00",
    )


def test_an_unknown_time_zone_is_rejected() -> None:
    rejected(
        {"timezone": "Asia/Osaka", "on_hours": [{"days": ["mon"], "start": "08:00", "end": "20:00"}]},
        "schedule.timezone",
        "IANA",
    )


def test_periods_overlapping_on_a_day_are_rejected_naming_both() -> None:
    rejected(
        {
            "timezone": "UTC",
            "on_hours": [
                {"days": WEEKDAYS, "start": "08:00", "end": "12:00"},
                {"days": ["wed"], "start": "11:00", "end": "14:00"},
            ],
        },
        "overlap on wed at 11:00",
        "on_hours[0] (mon,tue,wed,thu,fri 08:00-12:00)",
        "on_hours[1] (wed 11:00-14:00)",
    )


def test_an_overnight_period_spilling_into_the_next_days_period_is_rejected() -> None:
    rejected(
        {
            "timezone": "UTC",
            "on_hours": [
                {"days": ["mon"], "start": "20:00", "end": "08:00", "overnight": True},
                {"days": ["tue"], "start": "06:00", "end": "10:00"},
            ],
        },
        "overlap on tue at 06:00",
        "overnight",
    )


def test_a_sunday_overnight_period_spilling_into_monday_is_rejected() -> None:
    rejected(
        {
            "timezone": "UTC",
            "on_hours": [
                {"days": ["sun"], "start": "22:00", "end": "09:00", "overnight": True},
                {"days": WEEKDAYS, "start": "08:00", "end": "20:00"},
            ],
        },
        "overlap on mon at 08:00",
    )


def test_an_empty_schedule_is_rejected_with_the_fix() -> None:
    rejected({"timezone": "UTC", "on_hours": []}, "on_hours is empty", "remove schedule")


def test_a_schedule_covering_the_whole_week_is_rejected() -> None:
    rejected(
        {
            "timezone": "UTC",
            "on_hours": [
                {"days": [*WEEKDAYS, "sat", "sun"], "start": "00:00", "end": "00:00", "overnight": True}
            ],
        },
        "whole week",
    )


def test_a_day_listed_twice_is_rejected() -> None:
    rejected(
        {"timezone": "UTC", "on_hours": [{"days": ["mon", "mon"], "start": "08:00", "end": "20:00"}]},
        "lists a day twice",
    )


def test_a_period_ending_exactly_where_the_next_starts_is_accepted() -> None:
    parse_schedule(
        {
            "timezone": "UTC",
            "on_hours": [
                {"days": ["mon"], "start": "20:00", "end": "08:00", "overnight": True},
                {"days": ["tue"], "start": "08:00", "end": "12:00"},
            ],
        }
    )


def test_overnight_is_left_out_of_dumps_when_false_so_old_requests_round_trip() -> None:
    s = Schedule.model_validate({"on_hours": [{"days": ["mon"], "start": "08:00", "end": "20:00"}]})
    assert "overnight" not in s.model_dump()["on_hours"][0]
    assert "stop_agent" not in s.model_dump()


# --- expressions ---------------------------------------------------------------------------------
def test_the_example_schedule_gives_one_start_and_one_stop_cron_in_the_tokyo_zone() -> None:
    s = parse_schedule(
        {
            "timezone": "Asia/Tokyo",
            "on_hours": [{"days": WEEKDAYS, "start": "08:00", "end": "20:00"}],
            "holidays": ["2026-12-31"],
        }
    )
    specs = scheduler_expressions(s)
    assert [(x.action, x.expression, x.timezone) for x in specs] == [
        ("start", "cron(0 8 ? * MON-FRI *)", "Asia/Tokyo"),
        ("stop", "cron(0 20 ? * MON-FRI *)", "Asia/Tokyo"),
    ]
    assert specs[0].notes == [HOLIDAY_NOTE]


def test_groups_with_different_times_get_their_own_crons_and_overnight_stops_land_on_the_next_day() -> None:
    s = parse_schedule(
        {
            "timezone": "UTC",
            "on_hours": [
                {"days": ["mon", "wed"], "start": "09:30", "end": "17:00"},
                {"days": ["fri"], "start": "22:00", "end": "06:00", "overnight": True},
                {"days": ["sat", "sun"], "start": "10:00", "end": "11:00"},
            ],
        }
    )
    got = {(x.action, x.expression) for x in scheduler_expressions(s)}
    assert got == {
        ("start", "cron(30 9 ? * MON,WED *)"),
        ("stop", "cron(0 17 ? * MON,WED *)"),
        ("start", "cron(0 22 ? * FRI *)"),
        ("stop", "cron(0 6 ? * SAT *)"),
        ("start", "cron(0 10 ? * SUN,SAT *)"),
        ("stop", "cron(0 11 ? * SUN,SAT *)"),
    }


def test_an_every_day_group_uses_a_day_of_month_wildcard() -> None:
    days = [*WEEKDAYS, "sat", "sun"]
    s = parse_schedule({"timezone": "UTC", "on_hours": [{"days": days, "start": "07:00", "end": "19:00"}]})
    assert scheduler_expressions(s)[0].expression == "cron(0 7 * * ? *)"


def test_specs_name_the_dates_dst_skips_or_folds_in_the_coming_year() -> None:
    s = parse_schedule(
        {"timezone": "Europe/Berlin", "on_hours": [{"days": ["sun"], "start": "02:30", "end": "04:00"}]}
    )
    start = scheduler_expressions(s, now=datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))[0]
    assert any(n.startswith("2026-03-29: 02:30 does not exist") and "skips" in n for n in start.notes)
    assert any(n.startswith("2026-10-25: 02:30 happens twice") for n in start.notes)
