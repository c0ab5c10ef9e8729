"""On/off schedules: the state a deployment should be in at a given time, when it changes next,
how many hours it runs in a month. The EventBridge Scheduler expressions that drive it are built
from the same weekly pattern in schedule_cron.py; calendar months are in months.py.

The model follows what EventBridge Scheduler actually does, so forecasts match the bill:
- Periods are wall-clock times in the schedule's IANA zone. Adjacent periods merge: no stop and
  start at the same minute.
- `overnight: true` on a period means it ends the next day (see config_schedule.OnHours).
- DST: a start/stop whose local time does not exist (spring forward, e.g. 02:30 in Europe/Berlin
  on the last Sunday of March) does not happen that day: the Scheduler skips it, so the state
  stays as it was until the next action. A local time that happens twice (fall back) acts once,
  at the first occurrence. `scheduler_expressions(..., now=...)` names the affected dates.
- Holidays: no start happens on a holiday (the date in the schedule's zone); stops still happen.
  An overnight period that began the evening before runs to its normal end. Cron cannot express
  dates, so the power workflow asks `desired_state` (or `is_holiday`) when a start fires.
- A temporary `Override` keeps the runtime on until a time; a `ManualHold` (a manual start or
  stop) holds until the next scheduled action. The later of the two wins.

The power workflow, on every event, runs `desired_state(schedule, now, override=..., hold=...)`
with `now` = the Scheduler's scheduled time, and ensures that state.
Time is always a parameter; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.months import month_bounds

Action = Literal["start", "stop"]
State = Literal["on", "off"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = 24 * 60
_WEEK = 7 * _DAY
_LOOKBACK_WINDOWS = 60  # x 8 days: how far back desired_state looks for the last action
_HORIZON = timedelta(days=800)  # next_transitions never searches further than this
MAX_OVERRIDE = timedelta(days=7)  # an override is temporary; a typo in the year must not run for months


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transition(_Frozen):
    at: AwareDatetime
    action: Action


class Override(_Frozen):
    """Keep running until `keep_on_until` (e.g. 22:00 today); `since`: when it was requested."""

    keep_on_until: AwareDatetime
    since: AwareDatetime | None = None


class ManualHold(_Frozen):
    """A manual start or stop, recorded by the power workflow, respected until the next scheduled
    action (None: the schedule has no action ahead)."""

    state: State
    since: AwareDatetime
    until_next_scheduled_action: AwareDatetime | None


class MonthHours(_Frozen):
    month: str
    on_hours: Decimal
    hours_in_month: Decimal


# --- parsing and validation -------------------------------------------------------------------
def parse_schedule(data: Any) -> Schedule:
    """Validate a schedule mapping; raise InvalidRequest naming each bad field."""
    if isinstance(data, Schedule):
        return data
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(["schedule", *(str(p) for p in err["loc"])])
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise InvalidRequest(
            "invalid schedule: " + "; ".join(problems), fix="correct the fields named"
        ) from None


def as_utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(
            f"{field}: {value.isoformat()} has no time zone", fix="pass an aware datetime, e.g. with +09:00"
        )
    return value.astimezone(UTC)


def schedule_zone(schedule: Schedule) -> ZoneInfo:
    return ZoneInfo(schedule.timezone)


# --- the weekly pattern -------------------------------------------------------------------------
def _weekly_periods(schedule: Schedule) -> list[tuple[int, int]]:
    """Merged on-periods in minutes from Monday 00:00; one crossing the week's end has end > _WEEK."""
    spans = sorted(span for period in schedule.on_hours for span in period.weekly_spans())
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if len(merged) > 1 and merged[-1][1] >= merged[0][0] + _WEEK:
        last, first = merged.pop(), merged.pop(0)
        merged.append((last[0], max(last[1], first[1] + _WEEK)))
    return merged


def weekly_actions(schedule: Schedule) -> list[tuple[int, int, Action]]:
    """(weekday 0=Mon, minute of day, action) for every start and stop of the week."""
    actions: list[tuple[int, int, Action]] = []
    for start, end in _weekly_periods(schedule):
        if end - start >= _WEEK:  # pragma: no cover - Schedule rejects a whole-week schedule
            continue
        actions.append((start % _WEEK // _DAY, start % _DAY, "start"))
        actions.append((end % _WEEK // _DAY, end % _DAY, "stop"))
    return actions


def weekly_on_hours(schedule: Schedule) -> Decimal:
    """On-hours in one week of wall-clock time (no DST, no holidays)."""
    return Decimal(sum(end - start for start, end in _weekly_periods(schedule))) / 60


def representative_on_hours(schedule: Schedule, days: int = 30) -> Decimal:
    """On-hours in a representative `days`-day month (the seed's 24 x 30): weekly hours x days/7."""
    return weekly_on_hours(schedule) * days / 7


# --- local times and the stream of scheduled actions -----------------------------------------
def local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime | None:
    """The instant `day` at `minute` in `zone`, or None when that wall time does not exist (DST gap).
    A wall time that happens twice maps to its first occurrence (fold=0)."""
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    aware = wall.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return aware


def _scheduled(schedule: Schedule, begin: datetime, end: datetime) -> Iterator[tuple[datetime, Action]]:
    """Actions the power workflow carries out in [begin, end) (UTC), in order: every cron firing
    that exists, minus starts on holidays."""
    zone = schedule_zone(schedule)
    weekly = weekly_actions(schedule)
    holidays = set(schedule.holidays)
    day = begin.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    found: list[tuple[datetime, Action]] = []
    while day <= last:
        for weekday, minute, action in weekly:
            if weekday != day.weekday() or (action == "start" and day in holidays):
                continue
            at = local_instant(day, minute, zone)
            if at is not None and begin <= at.astimezone(UTC) < end:
                found.append((at.astimezone(UTC), action))
        day += timedelta(days=1)
    yield from sorted(found)


def _state(action: Action) -> State:
    return "on" if action == "start" else "off"


def _schedule_state(schedule: Schedule, now: datetime) -> State:
    """The state the last scheduled action at or before `now` (UTC) left."""
    window = timedelta(days=8)
    end = now + timedelta(microseconds=1)
    for _ in range(_LOOKBACK_WINDOWS):
        actions = list(_scheduled(schedule, end - window, end))
        if actions:
            return _state(actions[-1][1])
        end -= window
    return "off"


def _local(schedule: Schedule, at: datetime) -> datetime:
    return at.astimezone(schedule_zone(schedule))


# --- public logic -----------------------------------------------------------------------------------
def is_holiday(schedule: Schedule, now: datetime) -> bool:
    """Is `now`'s date, in the schedule's zone, one of its holidays?"""
    return as_utc(now, "now").astimezone(schedule_zone(schedule)).date() in set(schedule.holidays)


def desired_state(
    schedule: Schedule,
    now: datetime,
    *,
    override: Override | None = None,
    hold: ManualHold | None = None,
) -> State:
    """'on' or 'off' at `now`: the latest of an active manual hold and an active override, else the
    schedule. An action scheduled exactly at `now` has already happened."""
    now_utc = as_utc(now, "now")
    candidates: list[tuple[datetime, State]] = []
    if hold is not None and hold.since <= now_utc:
        until = hold.until_next_scheduled_action
        if until is None or now_utc < until:
            candidates.append((hold.since.astimezone(UTC), hold.state))
    if override is not None and now_utc < override.keep_on_until:
        # An override without `since` counts as older than any hold.
        since = override.since.astimezone(UTC) if override.since else datetime.min.replace(tzinfo=UTC)
        candidates.append((since, "on"))
    if candidates:
        return max(candidates, key=lambda c: c[0])[1]
    return _schedule_state(schedule, now_utc)


def next_transitions(schedule: Schedule, now: datetime, n: int = 4) -> list[Transition]:
    """The next `n` changes of the scheduled state after `now` (actions that change nothing, such as
    a stop on a holiday when nothing started, are left out). Times are in the schedule's zone."""
    now_utc = as_utc(now, "now")
    state = _schedule_state(schedule, now_utc)
    out: list[Transition] = []
    cursor = now_utc + timedelta(microseconds=1)
    step = timedelta(days=14)
    while len(out) < n and cursor < now_utc + _HORIZON:
        for at, action in _scheduled(schedule, cursor, cursor + step):
            if _state(action) != state:
                state = _state(action)
                out.append(Transition(at=_local(schedule, at), action=action))
                if len(out) == n:
                    break
        cursor += step
    return out


def next_scheduled_action(schedule: Schedule, after: datetime) -> Transition | None:
    """The first action the power workflow will carry out after `after`, even one that changes
    nothing (a start when already on). None if there is none within the search horizon."""
    begin = as_utc(after, "after") + timedelta(microseconds=1)
    step = timedelta(days=14)
    cursor = begin
    while cursor < begin + _HORIZON:
        for at, action in _scheduled(schedule, cursor, cursor + step):
            return Transition(at=_local(schedule, at), action=action)
        cursor += step
    return None


def manual_hold(schedule: Schedule, state: State, since: datetime) -> ManualHold:
    """The hold a manual start ('on') or stop ('off') at `since` creates."""
    nxt = next_scheduled_action(schedule, since)
    return ManualHold(
        state=state, since=as_utc(since, "since"), until_next_scheduled_action=nxt.at if nxt else None
    )


def make_override(schedule: Schedule, until: datetime | str, *, now: datetime) -> Override:
    """An override keeping the runtime on until `until`: "22:00" (today, or the given date as
    "2026-03-10T22:00", in the schedule's zone) or a datetime. Rejects a time that is not in the
    future, or further than MAX_OVERRIDE ahead."""
    now_utc = as_utc(now, "now")
    zone = schedule_zone(schedule)
    if isinstance(until, str):
        text = until.strip()
        try:
            if len(text) == 5:
                target = datetime.combine(now_utc.astimezone(zone).date(), time.fromisoformat(text))
            else:
                target = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                f"override.keep_on_until: {until!r} is neither HH:MM nor an ISO date-time",
                fix="write e.g. 22:00 (today) or 2026-03-10T22:00",
            ) from None
    else:
        target = until
    if target.tzinfo is None:
        local = local_instant(target.date(), target.hour * 60 + target.minute, zone)
        if local is None:
            raise InvalidRequest(
                f"override.keep_on_until: {target:%Y-%m-%d %H:%M} does not exist in {schedule.timezone} "
                "(clocks go forward then)",
                fix="pick a time outside the DST change",
            )
        target = local.replace(second=target.second)
    target_utc = target.astimezone(UTC)
    shown = f"{target.astimezone(zone):%Y-%m-%d %H:%M} {schedule.timezone}"
    if target_utc <= now_utc:
        raise InvalidRequest(
            f"override.keep_on_until: {shown} is not in the future (now is "
            f"{now_utc.astimezone(zone):%Y-%m-%d %H:%M})",
            fix="give a later time, e.g. tomorrow's date with the time",
        )
    if target_utc - now_utc > MAX_OVERRIDE:
        raise InvalidRequest(
            f"override.keep_on_until: {shown} is more than {MAX_OVERRIDE.days} days ahead",
            fix="an override is temporary; change the schedule for a lasting change",
        )
    return Override(keep_on_until=target.astimezone(zone), since=now_utc)


def on_hours_between(schedule: Schedule, begin: datetime, end: datetime) -> Decimal:
    """Hours the schedule keeps the runtime on in [begin, end), in real elapsed time (a DST day has
    23 or 25 hours), holidays and skipped DST actions included."""
    begin_utc, end_utc = as_utc(begin, "begin"), as_utc(end, "end")
    state = _schedule_state(schedule, begin_utc)
    since = begin_utc
    seconds = 0
    for at, action in _scheduled(schedule, begin_utc, end_utc):
        if state == "on":
            seconds += int((at - since).total_seconds())
        state, since = _state(action), at
    if state == "on":
        seconds += int((end_utc - since).total_seconds())
    return Decimal(seconds) / 3600


def month_hours(schedule: Schedule, month: str) -> MonthHours:
    """On-hours and total hours of a calendar month ('YYYY-MM') in the schedule's zone."""
    begin, end = month_bounds(schedule.timezone, month)
    total = Decimal(int((end - begin).total_seconds())) / 3600
    return MonthHours(month=month, on_hours=on_hours_between(schedule, begin, end), hours_in_month=total)
