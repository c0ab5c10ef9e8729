"""Monthly cost, line by line, always on or with a schedule; and the actual cost from power records.

All money is Decimal, so the seed's example comes out exactly ($774.249). A line stops with the
runtime only when its component is tagged `runtime`, `agent` (with stop_agent or deep sleep) or
`deep_sleep` (with deep sleep); everything tagged `always` costs the full month and is never
counted as saved.
"""

# ruff: noqa: RUF001  (the multiplication sign is the seed's notation for the arithmetic)

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer

from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.cost.prices import (
    CreditsPerGb,
    CreditsPerHour,
    Hourly,
    Instance,
    PriceTable,
    StopsWith,
    Volume,
)
from openflow_autopilot.cost.records import NoPowerRecords, PowerRecord
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.months import month_bounds
from openflow_autopilot.power.schedule import (
    month_hours,
    representative_on_hours,
)


def _number(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.000001"), ROUND_HALF_UP))


Usd = Annotated[Decimal, PlainSerializer(_number, return_type=float, when_used="json")]
Hours = Annotated[Decimal, PlainSerializer(_number, return_type=float, when_used="json")]


def plain(value: Decimal, places: int = 3) -> str:
    """Decimal as text, rounded to `places`, without trailing zeros: 72.000 -> 72, 69.660 -> 69.66."""
    q = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP).normalize()
    return f"{q:f}"


def usd(value: Decimal) -> str:
    return f"${plain(value)}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CostLine(_Model):
    key: str
    name: str
    stops_with: StopsWith
    stopped_by_schedule: bool  # does this line shrink when the runtime is stopped?
    arithmetic: str
    usd: Usd


class CostBreakdown(_Model):
    label: str
    region: str
    hours_in_month: Hours
    on_hours: Hours
    stop_agent: bool
    sleep: str = "runtime"
    lines: list[CostLine]
    total_usd: Usd

    def line(self, key: str) -> CostLine:
        return next(line for line in self.lines if line.key == key)

    def still_running(self) -> list[CostLine]:
        """Lines that keep costing while the runtime is stopped."""
        return [line for line in self.lines if not line.stopped_by_schedule]


class ScheduledCost(_Model):
    basis: str
    timezone: str
    month: str | None
    on_hours: Hours
    hours_in_month: Hours
    always_on: CostBreakdown
    scheduled: CostBreakdown
    saved_usd: Usd
    saved_percent: Annotated[Decimal, PlainSerializer(_number, return_type=float, when_used="json")]
    still_running: list[CostLine]
    notes: list[str]


class ActualCost(_Model):
    month: str
    timezone: str
    deployment: str
    period_start: AwareDatetime
    period_end: AwareDatetime
    elapsed_hours: Hours
    on_hours: Hours
    records_used: int
    initial_state: str
    cost: CostBreakdown
    always_on: CostBreakdown
    saved_usd: Usd
    saved_percent: Annotated[Decimal, PlainSerializer(_number, return_type=float, when_used="json")]


# --- one month --------------------------------------------------------------------------------
def _hours_text(hours: Decimal, prices: PriceTable, seed_form: bool) -> str:
    if seed_form and hours == prices.hours_per_month:
        return f"{prices.hours_per_day} × {prices.days_per_month}"
    return f"{plain(hours, 2)} h"


def _fraction_text(fraction: Decimal) -> str:
    return "" if fraction == 1 else f" × {plain(fraction, 4)} of the month"


def monthly_cost(
    prices: PriceTable,
    *,
    on_hours_per_month: Decimal | None = None,
    hours_in_month: Decimal | None = None,
    volume_fraction: Decimal = Decimal(1),
    stop_agent: bool = False,
    deep: bool = False,
    label: str | None = None,
) -> CostBreakdown:
    """The month's cost per component. Without `on_hours_per_month` everything runs all
    `hours_in_month` (default: the table's 24 x 30). With it, `runtime` components (`agent` ones
    with `stop_agent` or `deep`, `deep_sleep` ones with `deep`) run only those hours. Volumes
    scale by `volume_fraction` (a month so far)."""
    total_hours = prices.hours_per_month if hours_in_month is None else hours_in_month
    on_hours = total_hours if on_hours_per_month is None else on_hours_per_month
    if not Decimal(0) <= on_hours <= total_hours:
        raise InvalidRequest(f"on-hours {on_hours} are not between 0 and the month's {total_hours} hours")
    seed_form = hours_in_month is None
    credit = prices.credit_price_usd
    frac, frac_text = volume_fraction, _fraction_text(volume_fraction)
    lines = []
    for c in prices.components:
        stopped = on_hours_per_month is not None and (
            c.stops_with == "runtime"
            or (c.stops_with == "agent" and (stop_agent or deep))
            or (c.stops_with == "deep_sleep" and deep)
        )
        hours = on_hours if stopped else total_hours
        ht = _hours_text(hours, prices, seed_form)
        name = c.name
        if isinstance(c, CreditsPerHour):
            qty = "" if c.quantity == 1 else f" × {c.quantity} {c.unit}"
            amount = c.credits_per_hour * c.quantity * hours * credit
            text = f"{c.credits_per_hour} credits/h{qty} × {ht} × ${credit}"
        elif isinstance(c, Instance):
            price = prices.instance_price(c.instance_type)
            count = "" if c.count == 1 else f" × {c.count}"
            amount = price * c.count * hours
            text = f"${price}/h{count} × {ht}"
            name = c.name.replace("{instance_type}", c.instance_type)
        elif isinstance(c, Hourly):
            amount = c.usd_per_hour * hours
            text = f"${c.usd_per_hour}/h × {ht}"
            if c.usd_per_gb is not None and c.gb_per_month:
                amount += c.gb_per_month * frac * c.usd_per_gb
                text += f" + {c.gb_per_month} GB{frac_text} × ${c.usd_per_gb}/GB"
        elif isinstance(c, Volume):
            amount = c.gb_per_month * frac * c.usd_per_gb
            text = f"{c.gb_per_month} GB{frac_text} × ${c.usd_per_gb}/GB"
        elif isinstance(c, CreditsPerGb):
            amount = c.credits_per_gb * c.gb_per_month * frac * credit
            text = f"{c.credits_per_gb} credits/GB × {c.gb_per_month} GB{frac_text} × ${credit}"
        else:  # pragma: no cover - the discriminated union has no other member
            raise TypeError(type(c).__name__)
        lines.append(
            CostLine(
                key=c.key,
                name=name,
                stops_with=c.stops_with,
                stopped_by_schedule=stopped,
                arithmetic=text,
                usd=amount,
            )
        )
    return CostBreakdown(
        label=label or ("always on" if on_hours_per_month is None else "scheduled"),
        region=prices.region,
        hours_in_month=total_hours,
        on_hours=on_hours,
        stop_agent=stop_agent or deep,
        sleep="deep" if deep else "runtime",
        lines=lines,
        total_usd=sum((line.usd for line in lines), Decimal(0)),
    )


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part as a percentage of whole, to one place (0 when whole is 0): every saving the product shows."""
    if whole == 0:
        return Decimal(0)
    return (part * 100 / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def scheduled_cost(prices: PriceTable, schedule: Schedule, *, month: str | None = None) -> ScheduledCost:
    """Always-on vs scheduled for a representative month (the table's 24 x 30 hours; weekly on-hours
    x 30/7) or, with `month` ('YYYY-MM'), for that calendar month: DST-correct, holidays excluded."""
    notes = []
    if month is None:
        total = prices.hours_per_month
        on = representative_on_hours(schedule, prices.days_per_month)
        basis = (
            f"representative {prices.days_per_month}-day month: weekly on-hours × {prices.days_per_month}/7"
        )
        always = monthly_cost(prices)
        if schedule.holidays:
            notes.append("holidays are not counted in a representative month; give a month to count them")
    else:
        counted = month_hours(schedule, month)
        total, on = counted.hours_in_month, counted.on_hours
        basis = f"calendar month {month} in {schedule.timezone}, DST and holidays counted"
        always = monthly_cost(prices, hours_in_month=total)
    scheduled = monthly_cost(
        prices,
        on_hours_per_month=on,
        hours_in_month=None if month is None else total,
        stop_agent=schedule.stop_agent,
        deep=schedule.deep,
    )
    if schedule.deep:
        notes.append(
            "deep sleep: the agent and every node group, the management one included, stop outside the "
            "on-hours; what keeps running is the floor (NAT gateway, EKS control plane, storage, volumes)"
        )
    else:
        if not schedule.stop_agent and any(c.stops_with == "agent" for c in prices.components):
            notes.append("the agent instance keeps running; set schedule.stop_agent: true to stop it too")
        if any(c.stops_with == "deep_sleep" for c in prices.components):
            notes.append(
                "the management node group keeps running; set schedule.sleep: deep to stop the whole "
                "data plane outside the on-hours"
            )
    saved = always.total_usd - scheduled.total_usd
    return ScheduledCost(
        basis=basis,
        timezone=schedule.timezone,
        month=month,
        on_hours=on,
        hours_in_month=total,
        always_on=always,
        scheduled=scheduled,
        saved_usd=saved,
        saved_percent=percent(saved, always.total_usd),
        still_running=scheduled.still_running(),
        notes=notes,
    )


# --- actual, from the power workflow's records ----------------------------------------------
class RecordedHours(_Model):
    on_hours: Hours
    initial_state: str
    inside: list[PowerRecord]


def recorded_hours(
    records: list[PowerRecord], deployment: str, begin: datetime, end: datetime, *, span: str
) -> RecordedHours:
    """The runtime's on-hours in [begin, end) from one deployment's on/off records: the time between
    a start and the next stop. The state at `begin` is the last earlier record's, else inferred from
    the first record inside (a stop means it was on). `span` names the period in the error."""
    mine = sorted((r for r in records if r.deployment == deployment), key=lambda r: r.at)
    before = [r for r in mine if r.at < begin]
    inside = [r for r in mine if begin <= r.at < end]
    if before:
        state = "on" if before[-1].action == "start" else "off"
        initial = f"{state} (last record before {span}: {before[-1].action} at {before[-1].at.isoformat()})"
    elif inside:
        state = "off" if inside[0].action == "start" else "on"
        initial = f"{state} (inferred: the first record of {span} is a {inside[0].action})"
    else:
        raise NoPowerRecords(
            f"no power records for {deployment} in {span} or before it",
            fix="records appear after the power workflow's first stop or start",
        )
    seconds, since = 0, begin
    for record in inside:
        if state == "on":
            seconds += int((record.at - since).total_seconds())
        state, since = ("on" if record.action == "start" else "off"), record.at
    if state == "on":
        seconds += int((end - since).total_seconds())
    return RecordedHours(on_hours=Decimal(seconds) / 3600, initial_state=initial, inside=inside)


def actual_cost(
    records: list[PowerRecord],
    month: str,
    *,
    prices: PriceTable,
    timezone: str = "UTC",
    now: datetime | None = None,
    deployment: str | None = None,
    stop_agent: bool = False,
    deep: bool = False,
) -> ActualCost:
    """The month so far (up to `now`, or the whole month) from on/off records: runtime on-hours
    are the time between a start and the next stop; everything else costs the elapsed time."""
    begin, month_end = month_bounds(timezone, month)
    end = month_end if now is None else min(month_end, now.astimezone(UTC))
    if end <= begin:
        raise InvalidRequest(f"month: {month} has not started yet in {timezone}", fix="give an earlier month")
    names = sorted({r.deployment for r in records})
    if deployment is None:
        if len(names) > 1:
            raise InvalidRequest(
                f"deployment: the records cover several deployments ({', '.join(names)})",
                fix="name the deployment",
            )
        deployment = names[0] if names else "?"
    recorded = recorded_hours(records, deployment, begin, end, span=month)
    inside, initial = recorded.inside, recorded.initial_state
    elapsed = Decimal(int((end - begin).total_seconds())) / 3600
    month_total = Decimal(int((month_end - begin).total_seconds())) / 3600
    on = recorded.on_hours
    fraction = elapsed / month_total
    cost = monthly_cost(
        prices,
        on_hours_per_month=on,
        hours_in_month=elapsed,
        volume_fraction=fraction,
        stop_agent=stop_agent,
        deep=deep,
        label="actual",
    )
    always = monthly_cost(prices, hours_in_month=elapsed, volume_fraction=fraction, label="always on")
    saved = always.total_usd - cost.total_usd
    return ActualCost(
        month=month,
        timezone=timezone,
        deployment=deployment,
        period_start=begin,
        period_end=end,
        elapsed_hours=elapsed,
        on_hours=on,
        records_used=len(inside),
        initial_state=initial,
        cost=cost,
        always_on=always,
        saved_usd=saved,
        saved_percent=percent(saved, always.total_usd),
    )
