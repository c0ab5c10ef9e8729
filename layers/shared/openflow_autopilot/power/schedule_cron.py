"""The EventBridge Scheduler side of an on/off schedule: the cron expressions (one start and one
stop spec per distinct local time and weekday group of the merged weekly pattern) with their
notes on holidays and on the dates DST skips or folds an action. It builds on the weekly
pattern in schedule.py; the Scheduler API calls that create the schedules are in
scheduler_api.py.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.power.schedule import (
    DAY_NAMES,
    Action,
    as_utc,
    local_instant,
    schedule_zone,
    weekly_actions,
)

_CRON_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # EventBridge numbers SUN=1..SAT=7
HOLIDAY_NOTE = (
    "holidays cannot be written in cron: on a holiday the start fires and the power workflow skips it "
    "(desired_state / is_holiday)"
)


class ScheduleSpec(BaseModel):
    """One EventBridge Scheduler schedule: one action at one local time on a set of weekdays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    days: list[str]
    time: str
    expression: str
    timezone: str
    notes: list[str]


def _is_ambiguous(day: date, minute: int, zone: ZoneInfo) -> bool:
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    return wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()


def _cron_days(weekdays: list[int]) -> str:
    if len(weekdays) == 7:
        return "*"
    numbers = sorted((d + 1) % 7 + 1 for d in weekdays)  # Mon=0 -> MON=2 ... Sun=6 -> SUN=1
    parts: list[str] = []
    run = [numbers[0]]
    for n in [*numbers[1:], 0]:  # 0 never continues a run: it flushes the last one
        if n == run[-1] + 1:
            run.append(n)
            continue
        if len(run) >= 3:
            parts.append(f"{_CRON_DAYS[run[0] - 1]}-{_CRON_DAYS[run[-1] - 1]}")
        else:
            parts.extend(_CRON_DAYS[x - 1] for x in run)
        run = [n]
    return ",".join(parts)


def _cron(minute: int, weekdays: list[int]) -> str:
    days = _cron_days(weekdays)
    if days == "*":
        return f"cron({minute % 60} {minute // 60} * * ? *)"
    return f"cron({minute % 60} {minute // 60} ? * {days} *)"


def _dst_notes(
    schedule: Schedule, weekdays: list[int], minute: int, action: Action, now: datetime
) -> list[str]:
    zone = schedule_zone(schedule)
    today = as_utc(now, "now").astimezone(zone).date()
    hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
    notes = []
    for offset in range(366):
        day = today + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        if local_instant(day, minute, zone) is None:
            notes.append(
                f"{day}: {hhmm} does not exist in {schedule.timezone} (clocks go forward); "
                f"EventBridge Scheduler skips this {action}, so the state stays as it was"
            )
        elif _is_ambiguous(day, minute, zone):
            notes.append(
                f"{day}: {hhmm} happens twice in {schedule.timezone} (clocks go back); the {action} runs once"
            )
    return notes


def scheduler_expressions(schedule: Schedule, *, now: datetime | None = None) -> list[ScheduleSpec]:
    """One start and one stop spec per distinct (local time, weekdays) group of the merged weekly
    pattern, with ScheduleExpressionTimezone = the schedule's zone. With `now`, each spec's notes
    name the dates in the coming year on which DST skips or folds it."""
    groups: dict[tuple[Action, int], list[int]] = {}
    for weekday, minute, action in weekly_actions(schedule):
        groups.setdefault((action, minute), []).append(weekday)
    specs = []
    for (action, minute), weekdays in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1], sorted(g[1]))):
        notes = [HOLIDAY_NOTE] if action == "start" and schedule.holidays else []
        if now is not None:
            notes += _dst_notes(schedule, weekdays, minute, action, now)
        specs.append(
            ScheduleSpec(
                action=action,
                days=[DAY_NAMES[d] for d in sorted(weekdays)],
                time=f"{minute // 60:02d}:{minute % 60:02d}",
                expression=_cron(minute, weekdays),
                timezone=schedule.timezone,
                notes=notes,
            )
        )
    return specs
