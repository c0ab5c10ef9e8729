"""Schedule logic with chosen times: desired state, next transitions, overnight periods, holidays,
DST in Europe/Berlin and America/New_York, overrides and manual holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.schedule import (
    ManualHold,
    Override,
    desired_state,
    is_holiday,
    make_override,
    manual_hold,
    month_hours,
    next_scheduled_action,
    next_transitions,
    on_hours_between,
    representative_on_hours,
    weekly_on_hours,
)

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def schedule(timezone: str, *periods: dict[str, Any], holidays: list[str] | None = None) -> Schedule:
    return Schedule.model_validate(
        {"timezone": timezone, "on_hours": list(periods), "holidays": holidays or []}
    )


@pytest.fixture
def office() -> Schedule:
    """The example request's schedule: Mon-Fri 08:00-20:00 Asia/Tokyo, two year-end holidays."""
    return schedule(
        "Asia/Tokyo",
        {"days": WEEKDAYS, "start": "08:00", "end": "20:00"},
        holidays=["2026-12-31", "2027-01-01"],
    )


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


# --- plain weeks ---------------------------------------------------------------------------------
def test_a_weekday_is_on_between_start_and_end_and_off_outside(office: Schedule) -> None:
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 7, 59)) == "off"
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 8, 0)) == "on"
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 19, 59)) == "on"
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 20, 0)) == "off"


def test_the_weekend_is_off(office: Schedule) -> None:
    assert desired_state(office, at(TOKYO, 2026, 3, 14, 12, 0)) == "off"  # Saturday


def test_now_in_another_zone_is_converted_to_the_schedules_zone(office: Schedule) -> None:
    # 23:30 UTC on Monday is 08:30 Tuesday in Tokyo
    assert desired_state(office, datetime(2026, 3, 9, 23, 30, tzinfo=UTC)) == "on"


def test_a_naive_now_is_rejected_with_a_message_naming_it(office: Schedule) -> None:
    with pytest.raises(InvalidRequest, match=r"now: .* has no time zone"):
        desired_state(office, datetime(2026, 3, 10, 9, 0))


def test_next_transitions_from_friday_evening_skip_the_weekend(office: Schedule) -> None:
    transitions = next_transitions(office, at(TOKYO, 2026, 3, 13, 19, 0), 3)
    assert [(t.action, t.at) for t in transitions] == [
        ("stop", at(TOKYO, 2026, 3, 13, 20, 0)),
        ("start", at(TOKYO, 2026, 3, 16, 8, 0)),
        ("stop", at(TOKYO, 2026, 3, 16, 20, 0)),
    ]


def test_adjacent_periods_merge_into_one_without_a_stop_between() -> None:
    s = schedule(
        "UTC",
        {"days": ["mon"], "start": "08:00", "end": "12:00"},
        {"days": ["mon"], "start": "12:00", "end": "18:00"},
    )
    transitions = next_transitions(s, at(ZoneInfo("UTC"), 2026, 3, 9, 0, 0), 2)
    assert [(t.action, t.at.hour) for t in transitions] == [("start", 8), ("stop", 18)]
    assert weekly_on_hours(s) == 10


def test_the_example_schedule_runs_60_hours_a_week_and_257_hours_in_a_representative_month(
    office: Schedule,
) -> None:
    assert weekly_on_hours(office) == 60
    assert representative_on_hours(office).quantize(Decimal("0.01")) == Decimal("257.14")


# --- overnight -------------------------------------------------------------------------------------
@pytest.fixture
def nightly() -> Schedule:
    return schedule("UTC", {"days": ["mon", "tue"], "start": "22:00", "end": "06:00", "overnight": True})


def test_an_overnight_period_runs_past_midnight_into_the_next_day(nightly: Schedule) -> None:
    utc = ZoneInfo("UTC")
    assert desired_state(nightly, at(utc, 2026, 3, 9, 21, 59)) == "off"  # Monday
    assert desired_state(nightly, at(utc, 2026, 3, 9, 23, 0)) == "on"
    assert desired_state(nightly, at(utc, 2026, 3, 10, 5, 59)) == "on"  # Tuesday morning
    assert desired_state(nightly, at(utc, 2026, 3, 10, 6, 0)) == "off"
    assert desired_state(nightly, at(utc, 2026, 3, 11, 5, 0)) == "on"  # Tuesday's night, Wednesday morning
    assert desired_state(nightly, at(utc, 2026, 3, 12, 5, 0)) == "off"  # no period on Wednesday night


def test_an_overnight_period_stops_on_the_next_day(nightly: Schedule) -> None:
    transitions = next_transitions(nightly, at(ZoneInfo("UTC"), 2026, 3, 9, 12, 0), 4)
    assert [(t.action, t.at.day, t.at.hour) for t in transitions] == [
        ("start", 9, 22),
        ("stop", 10, 6),
        ("start", 10, 22),
        ("stop", 11, 6),
    ]


def test_a_sunday_overnight_period_wraps_into_monday() -> None:
    s = schedule("UTC", {"days": ["sun"], "start": "20:00", "end": "02:00", "overnight": True})
    assert desired_state(s, at(ZoneInfo("UTC"), 2026, 3, 16, 1, 0)) == "on"  # Monday 01:00
    assert weekly_on_hours(s) == 6


# --- holidays ---------------------------------------------------------------------------------------
def test_a_holiday_is_off_all_day(office: Schedule) -> None:
    assert is_holiday(office, at(TOKYO, 2026, 12, 31, 12, 0))
    assert desired_state(office, at(TOKYO, 2026, 12, 31, 12, 0)) == "off"  # a Thursday
    assert desired_state(office, at(TOKYO, 2027, 1, 1, 12, 0)) == "off"  # a Friday


def test_the_day_before_a_holiday_is_a_normal_day(office: Schedule) -> None:
    assert not is_holiday(office, at(TOKYO, 2026, 12, 30, 12, 0))
    assert desired_state(office, at(TOKYO, 2026, 12, 30, 12, 0)) == "on"


def test_holidays_are_dates_in_the_schedules_zone(office: Schedule) -> None:
    # 2026-12-30 16:00 UTC is already 2026-12-31 01:00 in Tokyo
    assert is_holiday(office, datetime(2026, 12, 30, 16, 0, tzinfo=UTC))


def test_an_overnight_period_started_before_a_holiday_runs_to_its_normal_end() -> None:
    s = schedule(
        "UTC", {"days": ["thu"], "start": "20:00", "end": "04:00", "overnight": True}, holidays=["2026-03-13"]
    )
    utc = ZoneInfo("UTC")
    assert desired_state(s, at(utc, 2026, 3, 13, 3, 0)) == "on"  # Friday is a holiday; the night goes on
    assert desired_state(s, at(utc, 2026, 3, 13, 4, 0)) == "off"


def test_holidays_are_left_out_of_the_hours_of_a_calendar_month(office: Schedule) -> None:
    # December 2026 has 23 weekdays; the 31st is a holiday: 22 x 12 h
    assert month_hours(office, "2026-12").on_hours == 22 * 12
    assert month_hours(office, "2026-12").hours_in_month == 31 * 24


# --- DST ----------------------------------------------------------------------------------------------
def test_a_start_at_0230_on_the_spring_forward_day_does_not_happen() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day,
    # EventBridge Scheduler skips it, so the runtime stays off until the next scheduled start.
    s = schedule("Europe/Berlin", {"days": ["sun"], "start": "02:30", "end": "10:00"})
    assert desired_state(s, at(BERLIN, 2026, 3, 22, 5, 0)) == "on"
    assert desired_state(s, at(BERLIN, 2026, 3, 29, 5, 0)) == "off"
    transitions = next_transitions(s, at(BERLIN, 2026, 3, 28, 12, 0), 2)
    assert [(t.action, t.at) for t in transitions] == [
        ("start", at(BERLIN, 2026, 4, 5, 2, 30)),
        ("stop", at(BERLIN, 2026, 4, 5, 10, 0)),
    ]


def test_a_stop_at_0130_on_the_fall_back_day_happens_once_at_the_first_0130() -> None:
    # America/New_York, 2026-11-01: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice.
    s = schedule("America/New_York", {"days": ["sat"], "start": "20:00", "end": "01:30", "overnight": True})
    transitions = next_transitions(s, at(NEW_YORK, 2026, 10, 31, 12, 0), 3)
    stop = transitions[1]
    assert stop.action == "stop"
    assert stop.at.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert transitions[2].at == at(NEW_YORK, 2026, 11, 7, 20, 0)
    # Sat 20:00 EDT to 01:30 EDT is 5.5 real hours
    begin, end = datetime(2026, 10, 31, 12, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    assert on_hours_between(s, begin, end) == Decimal("5.5")


def test_a_period_across_the_fall_back_hour_counts_the_real_25_hour_night() -> None:
    s = schedule("Europe/Berlin", {"days": ["sat"], "start": "22:00", "end": "06:00", "overnight": True})
    # 2026-10-25: the night of Saturday 24th has an extra hour
    begin = at(BERLIN, 2026, 10, 24, 12, 0)
    assert on_hours_between(s, begin, begin + timedelta(days=1)) == 9
    begin = at(BERLIN, 2026, 10, 17, 12, 0)
    assert on_hours_between(s, begin, begin + timedelta(days=1)) == 8


def test_the_on_hours_of_the_dst_month_count_real_elapsed_time() -> None:
    s = schedule("Europe/Berlin", {"days": ["sat"], "start": "22:00", "end": "06:00", "overnight": True})
    march = month_hours(s, "2026-03")
    assert march.hours_in_month == 31 * 24 - 1  # the spring-forward hour is missing
    # Saturdays 7, 14, 21: 8 h each; the night of the 28th loses an hour; the 28th of Feb spills 6 h in
    assert march.on_hours == 6 + 3 * 8 + 7
    assert month_hours(s, "2026-10").hours_in_month == 31 * 24 + 1


def test_next_transitions_cross_the_spring_forward_change_at_the_right_instants() -> None:
    s = schedule("America/New_York", {"days": WEEKDAYS, "start": "08:00", "end": "20:00"})
    transitions = next_transitions(s, at(NEW_YORK, 2026, 3, 6, 12, 0), 3)  # Friday before the change
    assert [t.at.astimezone(UTC).hour for t in transitions] == [1, 12, 0]  # 20:00 EST, 08:00 EDT, 20:00 EDT
    assert [t.at.hour for t in transitions] == [20, 8, 20]


# --- overrides and manual holds -----------------------------------------------------------------------------
def test_an_override_keeps_the_runtime_on_until_2200_today(office: Schedule) -> None:
    now = at(TOKYO, 2026, 3, 10, 15, 0)
    override = make_override(office, "22:00", now=now)
    assert override.keep_on_until == at(TOKYO, 2026, 3, 10, 22, 0)
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 20, 0), override=override) == "on"
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 21, 59), override=override) == "on"
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 22, 0), override=override) == "off"


def test_an_override_in_the_past_is_rejected_naming_the_field(office: Schedule) -> None:
    with pytest.raises(
        InvalidRequest, match=r"override.keep_on_until: 2026-03-10 22:00 Asia/Tokyo is not in"
    ):
        make_override(office, "22:00", now=at(TOKYO, 2026, 3, 10, 23, 0))


def test_an_override_more_than_a_week_ahead_is_rejected(office: Schedule) -> None:
    with pytest.raises(InvalidRequest, match="more than 7 days ahead"):
        make_override(office, "2027-03-10T22:00", now=at(TOKYO, 2026, 3, 10, 9, 0))


def test_an_override_accepts_a_date_and_time_in_the_schedules_zone(office: Schedule) -> None:
    override = make_override(office, "2026-03-11T01:30", now=at(TOKYO, 2026, 3, 10, 9, 0))
    assert override.keep_on_until == at(TOKYO, 2026, 3, 11, 1, 30)


def test_a_manual_start_during_off_hours_holds_until_the_next_scheduled_action(office: Schedule) -> None:
    since = at(TOKYO, 2026, 3, 10, 22, 0)  # Tuesday night, after the 20:00 stop
    hold = manual_hold(office, "on", since)
    assert hold.until_next_scheduled_action == at(TOKYO, 2026, 3, 11, 8, 0)
    assert desired_state(office, at(TOKYO, 2026, 3, 11, 3, 0), hold=hold) == "on"
    assert desired_state(office, at(TOKYO, 2026, 3, 11, 3, 0)) == "off"
    # from the next scheduled action on, the schedule decides again
    assert desired_state(office, at(TOKYO, 2026, 3, 11, 20, 0), hold=hold) == "off"


def test_a_manual_stop_during_on_hours_holds_until_the_evening_stop(office: Schedule) -> None:
    hold = manual_hold(office, "off", at(TOKYO, 2026, 3, 10, 11, 0))
    assert hold.until_next_scheduled_action == at(TOKYO, 2026, 3, 10, 20, 0)
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 15, 0), hold=hold) == "off"
    assert desired_state(office, at(TOKYO, 2026, 3, 11, 9, 0), hold=hold) == "on"


def test_a_manual_start_on_a_holiday_holds_until_the_holidays_evening_stop(office: Schedule) -> None:
    hold = manual_hold(office, "on", at(TOKYO, 2026, 12, 31, 10, 0))
    action = next_scheduled_action(office, at(TOKYO, 2026, 12, 31, 10, 0))
    assert action is not None and action.action == "stop"
    assert hold.until_next_scheduled_action == at(TOKYO, 2026, 12, 31, 20, 0)


def test_the_later_of_a_manual_hold_and_an_override_wins(office: Schedule) -> None:
    hold = ManualHold(
        state="off",
        since=at(TOKYO, 2026, 3, 10, 11, 0),
        until_next_scheduled_action=at(TOKYO, 2026, 3, 10, 20, 0),
    )
    later_override = Override(
        keep_on_until=at(TOKYO, 2026, 3, 10, 22, 0), since=at(TOKYO, 2026, 3, 10, 12, 0)
    )
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 13, 0), override=later_override, hold=hold) == "on"
    earlier_override = Override(
        keep_on_until=at(TOKYO, 2026, 3, 10, 22, 0), since=at(TOKYO, 2026, 3, 10, 10, 0)
    )
    assert desired_state(office, at(TOKYO, 2026, 3, 10, 13, 0), override=earlier_override, hold=hold) == "off"


def test_a_scheduled_start_on_a_holiday_leaves_the_runtime_off_for_the_power_workflow(
    office: Schedule,
) -> None:
    # The start fires (cron knows no holidays); the workflow asks desired_state at the scheduled time.
    assert desired_state(office, at(TOKYO, 2026, 12, 31, 8, 0)) == "off"
    assert desired_state(office, at(TOKYO, 2027, 1, 4, 8, 0)) == "on"
