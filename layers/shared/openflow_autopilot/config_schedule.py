"""The schedule section of the provisioning request: the on-periods (OnHours) and the Schedule
that holds them with its time zone, holidays and sleep options. Validation here rejects what
could never run as intended (a period ending before it starts, overlapping periods, a schedule
that never stops); the arithmetic on a valid schedule (desired state, transitions, on-hours,
cron expressions) is in power/schedule.py and power/schedule_cron.py.
"""

from __future__ import annotations

from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, StrictBool, field_validator, model_validator

from openflow_autopilot.config_types import HHMM, Strict

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OnHours(Strict):
    """One on-period, e.g. days [mon..fri] 08:00-20:00 in the schedule's time zone.

    `overnight: true` makes the period end on the next day: start 20:00, end 06:00 runs from each
    listed day's evening to the following morning (end may equal start: a 24-hour period). Without
    it, an end at or before the start is a mistake and is rejected.
    """

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    start: str
    end: str
    # Left out of dumps when false, so requests written before the field existed round-trip unchanged.
    overnight: StrictBool = Field(False, exclude_if=lambda v: v is False)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not HHMM.match(v):
            raise ValueError(f"{v!r} is not a time of day as HH:MM (24-hour)")
        return v

    @model_validator(mode="after")
    def _order(self) -> OnHours:
        if not self.days:
            raise ValueError("on_hours.days is empty; list days such as [mon, tue, wed, thu, fri]")
        if len(set(self.days)) != len(self.days):
            raise ValueError(f"on_hours.days lists a day twice: {self.days}")
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        if self.overnight and end > start:
            raise ValueError(
                f"overnight is set but end {self.end} is after start {self.start} on the same day; "
                "remove overnight, or give the next day's end time (at or before the start)"
            )
        if not self.overnight and end <= start:
            raise ValueError(
                f"end {self.end} is not after start {self.start}; for a period that ends the next day "
                "set overnight: true"
            )
        return self

    def weekly_spans(self) -> list[tuple[int, int]]:
        """(start, end) in minutes from Monday 00:00, one per day; an overnight end passes midnight
        (and Sunday's may pass the end of the week)."""
        start = _minutes(self.start)
        end = _minutes(self.end) + (_DAY_MINUTES if self.overnight else 0)
        return [
            (_DAYS.index(d) * _DAY_MINUTES + start, _DAYS.index(d) * _DAY_MINUTES + end) for d in self.days
        ]


_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _describe(index: int, period: OnHours) -> str:
    kind = " overnight" if period.overnight else ""
    return f"on_hours[{index}] ({','.join(period.days)} {period.start}-{period.end}{kind})"


class Schedule(Strict):
    timezone: str = "UTC"
    on_hours: list[OnHours] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    # runtime: stop the runtime and its nodes (the agent too with stop_agent); deep: the whole data
    # plane sleeps: runtime, agent (its timers and instance), every node group, management included.
    sleep: Literal["runtime", "deep"] = Field("runtime", exclude_if=lambda v: v == "runtime")
    # The agent instance keeps running while runtimes are stopped unless the request opts in.
    stop_agent: StrictBool = Field(False, exclude_if=lambda v: v is False)
    # The warehouse auto-suspends anyway; this suspends it at once when the runtime stops.
    suspend_warehouse: StrictBool = Field(False, exclude_if=lambda v: v is False)
    # When the WAL guard finds the source cannot keep WAL for the whole off period: False refuses
    # the stop; True stops anyway and schedules an early start within the safe time.
    shorten_stops: StrictBool = Field(False, exclude_if=lambda v: v is False)

    @property
    def deep(self) -> bool:
        return self.sleep == "deep"

    @property
    def agent_sleeps(self) -> bool:
        """Deep sleep stops the agent whatever stop_agent says: a running agent would re-apply the
        infrastructure and scale the node groups back."""
        return self.stop_agent or self.deep

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        if v not in available_timezones():
            raise ValueError(f"{v!r} is not an IANA time zone name such as Asia/Tokyo or Europe/Berlin")
        try:
            ZoneInfo(v)
        except ZoneInfoNotFoundError:  # pragma: no cover - available_timezones already checked
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _overlap(self) -> Schedule:
        if not self.on_hours:
            raise ValueError(
                "on_hours is empty: list at least one period such as "
                "{days: [mon, tue, wed, thu, fri], start: '08:00', end: '20:00'}, "
                "or remove schedule to keep the runtime always on"
            )
        # Compare every pair of periods on the weekly circle, so an overnight period spilling into
        # the next day (or Sunday's into Monday) is checked against that day's periods too.
        spans = sorted(
            (start, end, i) for i, p in enumerate(self.on_hours) for start, end in p.weekly_spans()
        )
        for a, (start1, end1, i) in enumerate(spans):
            for start2, end2, j in spans[a + 1 :]:
                for shift in (-_WEEK_MINUTES, 0, _WEEK_MINUTES):
                    lo, hi = max(start1, start2 + shift), min(end1, end2 + shift)
                    if lo < hi:
                        first, second = sorted((i, j))
                        day = _DAYS[(lo // _DAY_MINUTES) % 7]
                        raise ValueError(
                            f"on_hours periods overlap on {day} at "
                            f"{lo % _DAY_MINUTES // 60:02d}:{lo % 60:02d}: "
                            f"{_describe(first, self.on_hours[first])} and "
                            f"{_describe(second, self.on_hours[second])}; shorten one or merge them"
                        )
        if sum(end - start for start, end, _ in spans) >= _WEEK_MINUTES:
            raise ValueError(
                "on_hours cover the whole week, so nothing would ever stop; "
                "leave some hours off, or remove schedule to keep the runtime always on"
            )
        return self
