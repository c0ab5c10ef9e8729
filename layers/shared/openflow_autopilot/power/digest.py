"""The weekly digest: what a deployment's week was, in one message to the request's notification
targets. Hours on and asleep come from the power workflow's on/off records (the schedule's hours
when there are none yet), the cost both measured (cost/measured.py: ACCOUNT_USAGE and Cost Explorer)
and modelled (cost/model.py: for the schedule, and at the recorded hours), the saving against the
always-on week, and every stop the WAL guard refused or shortened. Pure: every figure is an input.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.config_monitoring import DigestSettings
from openflow_autopilot.cost.measured import MeasuredCost, modelled_for
from openflow_autopilot.cost.model import Hours, Usd, monthly_cost, percent, recorded_hours, usd
from openflow_autopilot.cost.period import Percent, Period
from openflow_autopilot.cost.prices import PriceTable
from openflow_autopilot.cost.records import NoPowerRecords, PowerRecord, WalGuardRecord
from openflow_autopilot.power.schedule import DAY_NAMES, on_hours_between

# ACCOUNT_USAGE lags by up to a few hours and Cost Explorer refreshes at least daily: a digest sent
# sooner than this after its week ended may miss the week's last hours.
SETTLED_HOURS = 24


class Measured(BaseModel):
    model_config = ConfigDict(frozen=True)

    snowflake_usd: Usd
    aws_usd: Usd
    total_usd: Usd


class WeeklyDigest(BaseModel):
    model_config = ConfigDict(frozen=True)

    deployment: str
    request_name: str
    start: AwareDatetime
    end: AwareDatetime
    timezone: str
    sleep: str  # runtime | deep | none (no schedule)
    hours: Hours
    hours_on: Hours
    hours_asleep: Hours
    hours_basis: str
    stops: int
    starts: int
    measured: Measured | None
    measured_error: str | None
    modelled_usd: Usd  # the model for the schedule's on-hours (always on without one)
    recorded_usd: Usd  # the model at the recorded hours
    always_on_usd: Usd
    saved_usd: Usd
    saved_percent: Percent
    saved_basis: str
    guard: list[WalGuardRecord]
    notes: list[str]
    subject: str
    text: str
    delivered_to: list[str] = []


def next_digest_at(settings: DigestSettings, timezone: str, after: datetime) -> datetime:
    """When the digest schedule (its cron in `timezone`) fires next after `after`."""
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone)
    hours, minutes = (int(part) for part in settings.time.split(":"))
    days_ahead = (DAY_NAMES.index(settings.day) - local.weekday()) % 7
    for extra in (0, 7, 14):
        day = local.date() + timedelta(days=days_ahead + extra)
        candidate = datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)
        if candidate > after:
            return candidate
    raise AssertionError("a weekly schedule fires within three weeks")  # pragma: no cover


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _hours(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP)} h"


def _local(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%a %Y-%m-%d %H:%M}"


def compose(
    request: ProvisionRequest,
    prices: PriceTable,
    period: Period,
    *,
    records: list[PowerRecord],
    guard: list[WalGuardRecord],
    measured: MeasuredCost | None,
    measured_error: str | None,
    now: datetime,
) -> WeeklyDigest:
    """The digest of `period` (a week: cost/period.week_before)."""
    deployment = request.openflow.deployment_name
    schedule = request.schedule
    timezone = request.digest_timezone
    zone = ZoneInfo(timezone)
    notes: list[str] = []
    try:
        recorded = recorded_hours(records, deployment, period.start, period.end, span=period.label)
        on = recorded.on_hours
        inside = recorded.inside
        basis = f"the power workflow's records; at the start it was {recorded.initial_state}"
    except NoPowerRecords:
        inside = []
        if schedule is None:
            on, basis = period.hours, "always on: the request has no schedule"
        else:
            on = on_hours_between(schedule, period.start, period.end)
            basis = "the schedule: the power workflow has written no on/off records yet"
    fraction = period.volume_fraction(prices.hours_per_month)
    at_recorded = monthly_cost(
        prices,
        on_hours_per_month=on,
        hours_in_month=period.hours,
        volume_fraction=fraction,
        stop_agent=bool(schedule and schedule.stop_agent),
        deep=bool(schedule and schedule.deep),
        label="recorded",
    )
    model = modelled_for(prices, schedule, period)
    always = model.always_on.total_usd
    if measured is not None:
        spent, saved_basis = measured.total_usd, "measured"
        notes += measured.notes
    else:
        spent, saved_basis = at_recorded.total_usd, "modelled at the recorded hours (nothing measured)"
    if (now - period.end).total_seconds() < SETTLED_HOURS * 3600:
        notes.append(
            "sent within a day of the week's end: ACCOUNT_USAGE lags by hours and Cost Explorer by up "
            "to a day, so the last hours may be missing"
        )
    week = [g for g in guard if period.start <= g.at < period.end]
    digest_measured = (
        Measured(snowflake_usd=measured.snowflake_usd, aws_usd=measured.aws_usd, total_usd=measured.total_usd)
        if measured is not None
        else None
    )
    stops = sum(1 for r in inside if r.action == "stop")
    starts = sum(1 for r in inside if r.action == "start")
    sleep = "none" if schedule is None else schedule.sleep
    last_day = period.end - timedelta(seconds=1)
    subject = f"Openflow weekly digest: {deployment}, {period.start:%Y-%m-%d} to {last_day:%Y-%m-%d} (UTC)"
    digest = WeeklyDigest(
        deployment=deployment,
        request_name=request.name,
        start=period.start,
        end=period.end,
        timezone=timezone,
        sleep=sleep,
        hours=period.hours,
        hours_on=on,
        hours_asleep=period.hours - on,
        hours_basis=basis,
        stops=stops,
        starts=starts,
        measured=digest_measured,
        measured_error=measured_error,
        modelled_usd=model.modelled.total_usd,
        recorded_usd=at_recorded.total_usd,
        always_on_usd=always,
        saved_usd=always - spent,
        saved_percent=percent(always - spent, always),
        saved_basis=saved_basis,
        guard=week,
        notes=notes,
        subject=subject,
        text="",
    )
    return digest.model_copy(update={"text": _text(digest, zone)})


def _text(d: WeeklyDigest, zone: ZoneInfo) -> str:
    asleep = {"deep": "asleep (deep: the whole data plane)", "runtime": "asleep (the runtime)"}.get(
        d.sleep, "asleep"
    )
    lines = [
        f"{d.deployment}, {_local(d.start, zone)} to {_local(d.end, zone)} ({d.timezone}).",
        f"Hours: {_hours(d.hours_on)} on, {_hours(d.hours_asleep)} {asleep} of {_hours(d.hours)}; "
        f"{_count(d.stops, 'stop')} and {_count(d.starts, 'start')}. From {d.hours_basis}.",
    ]
    if d.measured is not None:
        lines.append(
            f"Measured: {usd(d.measured.total_usd)} (Snowflake {usd(d.measured.snowflake_usd)} + AWS "
            f"{usd(d.measured.aws_usd)})."
        )
    else:
        lines.append(f"Measured: not available: {d.measured_error or 'nothing measured'}")
    lines.append(
        f"Modelled: {usd(d.modelled_usd)} for the schedule, {usd(d.recorded_usd)} at the recorded hours; "
        f"always on {usd(d.always_on_usd)}."
    )
    lines.append(f"Saved: {usd(d.saved_usd)} ({d.saved_percent}%) against always on, {d.saved_basis}.")
    if not d.guard:
        lines.append("WAL guard: it refused and shortened no stop this week.")
    else:
        refused = sum(1 for g in d.guard if g.decision == "refuse")
        lines.append(f"WAL guard: {_count(refused, 'stop')} refused, {len(d.guard) - refused} shortened:")
        for g in d.guard:
            what = "refused" if g.decision == "refuse" else "shortened"
            lines.append(f"- {_local(g.at, zone)} {what}: {g.reason}")
    lines += [f"Note: {note}" for note in d.notes]
    return "\n".join(lines)
