"""Should this power event stop, start, or do nothing? Pure: time, schedule, override and hold are
inputs.

- A scheduled event (`reason` "schedule", or "override-end" from an override's one-time stop)
  carries out its action only when `desired_state` agrees at the scheduled time: a start on a
  holiday, a stop during an override, or an action against a manual hold is skipped, with why.
- Any other reason is a manual action: it is carried out, and it holds (see `manual_hold`) until
  the next scheduled action, so a manual start during off-hours is not undone by, say, an
  override's end. A manual stop also cancels an override.
- `extend` sets an override ("keep running until 22:00") and makes sure the runtime is on.
A stop also gets the length of the off period (until the next scheduled start) for the WAL guard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.schedule import (
    ManualHold,
    Override,
    State,
    desired_state,
    is_holiday,
    make_override,
    manual_hold,
    next_scheduled_action,
)

Run = Literal["stop", "start", "skip"]
PowerAction = Literal["stop", "start", "extend"]
SCHEDULED_REASONS = frozenset({"schedule", "override-end"})
_MAX_LOOKAHEAD = 64  # scheduled actions searched for the next start (a week has at most a few dozen)


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: Run
    action: PowerAction
    reason: str
    scheduled: bool
    why: str
    off_hours: float | None = None  # a stop: hours until the next scheduled start (None: no schedule)
    next_start: AwareDatetime | None = None
    hold: ManualHold | None = None  # the hold to remember after this run (None clears it)
    override: Override | None = None  # a new override to put in place (extend)
    cancel_override: bool = False


def _when(schedule: Schedule | None, at: datetime) -> str:
    zone = ZoneInfo(schedule.timezone) if schedule else UTC
    return f"{at.astimezone(zone):%a %Y-%m-%d %H:%M} {schedule.timezone if schedule else 'UTC'}"


def next_start(schedule: Schedule, after: datetime) -> datetime | None:
    """The first scheduled start after `after` (holidays skipped, DST-skipped times left out)."""
    cursor = after
    for _ in range(_MAX_LOOKAHEAD):
        action = next_scheduled_action(schedule, cursor)
        if action is None:
            return None
        if action.action == "start":
            return action.at
        cursor = action.at
    return None


def off_period(schedule: Schedule | None, now: datetime) -> tuple[float | None, datetime | None]:
    """(hours until the next scheduled start, that start) for a stop at `now`."""
    if schedule is None:
        return None, None
    start = next_start(schedule, now)
    if start is None:
        return None, None
    # In UTC: the difference of two datetimes in the same zone ignores a DST change between them.
    return (start.astimezone(UTC) - now.astimezone(UTC)).total_seconds() / 3600, start


def _hold_active(hold: ManualHold | None, now: datetime) -> bool:
    if hold is None or hold.since > now:
        return False
    return hold.until_next_scheduled_action is None or now < hold.until_next_scheduled_action


def _skip_reason(
    schedule: Schedule,
    action: Literal["stop", "start"],
    now: datetime,
    desired: State,
    override: Override | None,
    hold: ManualHold | None,
) -> str:
    hold_on = _hold_active(hold, now)
    override_on = override is not None and now < override.keep_on_until
    if hold_on and hold is not None and (not override_on or override is None or _later(hold, override)):
        until = hold.until_next_scheduled_action
        which = "start" if hold.state == "on" else "stop"
        return (
            f"a manual {which} at {_when(schedule, hold.since)} is respected until the next scheduled "
            f"action{f' at {_when(schedule, until)}' if until else ''}"
        )
    if override_on and override is not None:
        return f"an override keeps it running until {_when(schedule, override.keep_on_until)}"
    if action == "start" and is_holiday(schedule, now):
        return f"{now.astimezone(ZoneInfo(schedule.timezone)).date()} is a holiday in the schedule"
    return f"the schedule says {desired} at {_when(schedule, now)}"


def _later(hold: ManualHold, override: Override) -> bool:
    since = override.since or datetime.min.replace(tzinfo=UTC)
    return hold.since >= since


def decide(
    schedule: Schedule | None,
    *,
    action: str,
    reason: str,
    now: datetime,
    override: Override | None = None,
    hold: ManualHold | None = None,
    until: str | None = None,
) -> Decision:
    if now.tzinfo is None:
        raise InvalidRequest(f"now: {now.isoformat()} has no time zone", fix="pass e.g. 2026-03-10T20:00:00Z")
    if action not in ("stop", "start", "extend"):
        raise InvalidRequest(f"action: {action!r} is not one of stop, start, extend")
    current_hold = hold if _hold_active(hold, now) else None

    if action == "extend":
        if schedule is None:
            raise InvalidRequest(
                "action extend: the request has no schedule, so there is nothing to extend",
                fix="use action start (it runs until someone stops it)",
            )
        if not until:
            raise InvalidRequest("action extend needs until, e.g. 22:00 (today) or 2026-03-10T22:00")
        new = make_override(schedule, until, now=now)
        return Decision(
            run="start",
            action="extend",
            reason=reason,
            scheduled=False,
            why=f"override: keep it running until {_when(schedule, new.keep_on_until)}",
            hold=current_hold,
            override=new,
        )

    verb: Literal["stop", "start"] = "stop" if action == "stop" else "start"
    off_hours, starts_at = off_period(schedule, now) if verb == "stop" else (None, None)
    if reason in SCHEDULED_REASONS:
        if schedule is None:
            return Decision(
                run="skip",
                action=verb,
                reason=reason,
                scheduled=True,
                why="the request has no schedule any more: scheduled events are ignored",
            )
        desired = desired_state(schedule, now, override=override, hold=current_hold)
        wanted: State = "off" if verb == "stop" else "on"
        if desired != wanted:
            return Decision(
                run="skip",
                action=verb,
                reason=reason,
                scheduled=True,
                why=_skip_reason(schedule, verb, now, desired, override, current_hold),
                hold=current_hold,
            )
        return Decision(
            run=verb,
            action=verb,
            reason=reason,
            scheduled=True,
            why=f"scheduled {verb} at {_when(schedule, now)}",
            off_hours=off_hours,
            next_start=starts_at,
            hold=current_hold,
        )

    new_hold = manual_hold(schedule, "off" if verb == "stop" else "on", now) if schedule else None
    why = f"manual {verb} ({reason})"
    if new_hold is not None and new_hold.until_next_scheduled_action is not None:
        until = _when(schedule, new_hold.until_next_scheduled_action)
        why += f", respected until the next scheduled action at {until}"
    cancel = verb == "stop" and override is not None and now < override.keep_on_until
    if cancel:
        why += "; the override is cancelled"
    return Decision(
        run=verb,
        action=verb,
        reason=reason,
        scheduled=False,
        why=why,
        off_hours=off_hours,
        next_start=starts_at,
        hold=new_hold,
        cancel_override=cancel,
    )
