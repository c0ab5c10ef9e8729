"""Stop, start or skip, with chosen times: weekends, DST, holidays, overrides and manual holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.decide import decide, next_start, off_period
from openflow_autopilot.power.schedule import Override, manual_hold

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def schedule(timezone: str, *, holidays: list[str] | None = None, **period: Any) -> Schedule:
    on = {"days": WEEKDAYS, "start": "08:00", "end": "20:00", **period}
    return Schedule.model_validate({"timezone": timezone, "on_hours": [on], "holidays": holidays or []})


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


@pytest.fixture
def office() -> Schedule:
    return schedule("Asia/Tokyo", holidays=["2026-12-31", "2027-01-01"])


def test_a_scheduled_evening_stop_stops_for_the_12_hours_until_the_morning(office: Schedule) -> None:
    d = decide(office, action="stop", reason="schedule", now=at(TOKYO, 2026, 3, 10, 20, 0))
    assert d.run == "stop" and d.scheduled
    assert d.off_hours == 12.0 and d.next_start == at(TOKYO, 2026, 3, 11, 8, 0)


def test_a_friday_stop_is_off_for_the_60_hour_weekend(office: Schedule) -> None:
    d = decide(office, action="stop", reason="schedule", now=at(TOKYO, 2026, 3, 13, 20, 0))
    assert d.off_hours == 60.0


def test_the_weekend_across_spring_forward_is_an_hour_shorter_in_real_time() -> None:
    berlin = schedule("Europe/Berlin")
    # Clocks go forward on Sunday 2026-03-29: Friday 20:00 to Monday 08:00 is 59 real hours.
    hours, start = off_period(berlin, at(BERLIN, 2026, 3, 27, 20, 0))
    assert hours == 59.0 and start == at(BERLIN, 2026, 3, 30, 8, 0)
    new_york = schedule("America/New_York")
    # ... and across fall back (Sunday 2026-11-01) 61 real hours.
    assert off_period(new_york, at(NEW_YORK, 2026, 10, 30, 20, 0))[0] == 61.0


def test_a_start_whose_time_does_not_exist_on_the_dst_day_never_comes_so_the_stop_lasts_longer() -> None:
    night = schedule("Europe/Berlin", days=["sun"], start="02:30", end="06:00")
    # 02:30 does not exist on 2026-03-29: the next start is a week later.
    start = next_start(night, at(BERLIN, 2026, 3, 22, 6, 0))
    assert start == at(BERLIN, 2026, 4, 5, 2, 30)


def test_a_holiday_monday_makes_the_weekend_stop_longer(office: Schedule) -> None:
    long_weekend = schedule("Asia/Tokyo", holidays=["2026-03-16"])
    d = decide(long_weekend, action="stop", reason="schedule", now=at(TOKYO, 2026, 3, 13, 20, 0))
    assert d.off_hours == 84.0  # to Tuesday 08:00


def test_a_scheduled_start_on_a_holiday_is_skipped_and_says_so(office: Schedule) -> None:
    d = decide(office, action="start", reason="schedule", now=at(TOKYO, 2026, 12, 31, 8, 0))
    assert d.run == "skip" and "2026-12-31 is a holiday" in d.why


def test_a_scheduled_stop_during_an_override_is_skipped(office: Schedule) -> None:
    override = Override(keep_on_until=at(TOKYO, 2026, 3, 10, 22, 0), since=at(TOKYO, 2026, 3, 10, 19, 0))
    d = decide(office, action="stop", reason="schedule", now=at(TOKYO, 2026, 3, 10, 20, 0), override=override)
    assert d.run == "skip" and "override keeps it running until Tue 2026-03-10 22:00 Asia/Tokyo" in d.why
    end = decide(
        office, action="stop", reason="override-end", now=at(TOKYO, 2026, 3, 10, 22, 0), override=override
    )
    assert end.run == "stop" and end.off_hours == 10.0


def test_a_manual_start_in_the_evening_holds_until_the_next_scheduled_action(office: Schedule) -> None:
    manual = decide(office, action="start", reason="manual", now=at(TOKYO, 2026, 3, 10, 22, 0))
    assert manual.run == "start" and not manual.scheduled
    assert manual.hold is not None and manual.hold.until_next_scheduled_action == at(TOKYO, 2026, 3, 11, 8, 0)
    later = decide(
        office, action="stop", reason="override-end", now=at(TOKYO, 2026, 3, 10, 23, 0), hold=manual.hold
    )
    assert later.run == "skip" and "manual start at Tue 2026-03-10 22:00" in later.why
    assert later.hold == manual.hold
    evening = decide(
        office, action="stop", reason="schedule", now=at(TOKYO, 2026, 3, 11, 20, 0), hold=manual.hold
    )
    assert evening.run == "stop" and evening.hold is None  # the hold ended: it is forgotten


def test_a_manual_stop_in_the_day_holds_and_cancels_an_override(office: Schedule) -> None:
    override = Override(keep_on_until=at(TOKYO, 2026, 3, 10, 22, 0), since=at(TOKYO, 2026, 3, 10, 9, 0))
    d = decide(office, action="stop", reason="manual", now=at(TOKYO, 2026, 3, 10, 11, 0), override=override)
    assert d.run == "stop" and d.cancel_override and "cancelled" in d.why
    assert d.off_hours == 21.0  # the hold lasts to 20:00; the next start is tomorrow 08:00
    hold = manual_hold(office, "off", at(TOKYO, 2026, 3, 10, 11, 0))
    assert d.hold == hold


def test_extend_sets_an_override_and_makes_sure_it_runs(office: Schedule) -> None:
    d = decide(office, action="extend", reason="manual", now=at(TOKYO, 2026, 3, 10, 19, 0), until="22:00")
    assert d.run == "start" and d.override is not None
    assert d.override.keep_on_until == at(TOKYO, 2026, 3, 10, 22, 0)
    with pytest.raises(InvalidRequest, match="until"):
        decide(office, action="extend", reason="manual", now=at(TOKYO, 2026, 3, 10, 19, 0))
    with pytest.raises(InvalidRequest, match="not in the future"):
        decide(office, action="extend", reason="manual", now=at(TOKYO, 2026, 3, 10, 23, 0), until="22:00")


def test_without_a_schedule_manual_actions_run_and_scheduled_ones_are_ignored() -> None:
    now = at(TOKYO, 2026, 3, 10, 12, 0)
    manual = decide(None, action="stop", reason="manual", now=now)
    assert manual.run == "stop" and manual.off_hours is None and manual.hold is None
    assert decide(None, action="start", reason="schedule", now=now).run == "skip"
    with pytest.raises(InvalidRequest, match="no schedule"):
        decide(None, action="extend", reason="manual", now=now, until="22:00")


def test_bad_input_is_rejected_naming_the_field(office: Schedule) -> None:
    with pytest.raises(InvalidRequest, match="action"):
        decide(office, action="reboot", reason="manual", now=at(TOKYO, 2026, 3, 10, 12, 0))
    with pytest.raises(InvalidRequest, match="no time zone"):
        decide(office, action="stop", reason="manual", now=datetime(2026, 3, 10, 12, 0))
