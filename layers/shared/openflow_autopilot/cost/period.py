"""The period a measured report covers: a month, or the weekly digest's week; UTC, as Cost Explorer
counts its days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.months import month_bounds


def _number(places: int) -> Any:
    step = Decimal(1).scaleb(-places)
    return PlainSerializer(
        lambda v: float(v.quantize(step, ROUND_HALF_UP)), return_type=float, when_used="json"
    )


Credits = Annotated[Decimal, _number(9)]  # ACCOUNT_USAGE's NUMBER(38,9)
Percent = Annotated[Decimal, _number(1)]


class Frozen(BaseModel):
    """The measured report's models are values."""

    model_config = ConfigDict(frozen=True)


class Period(Frozen):
    """[start, end) in UTC: the whole month, or up to now for the current month; or a week
    (`span` week: `month` is the month it starts in, `month_end` its end)."""

    month: str
    start: AwareDatetime
    end: AwareDatetime
    month_end: AwareDatetime
    span: Literal["month", "week"] = "month"

    @property
    def complete(self) -> bool:
        return self.end == self.month_end

    @property
    def hours(self) -> Decimal:
        return Decimal(int((self.end - self.start).total_seconds())) / 3600

    @property
    def hours_in_month(self) -> Decimal:
        return Decimal(int((self.month_end - self.start).total_seconds())) / 3600

    def volume_fraction(self, hours_per_month: Decimal) -> Decimal:
        """The share of a month's volumes (GB) that falls in the period: a month so far is its elapsed
        share; a week is its hours against the price table's month."""
        if self.span == "week":
            return self.hours / hours_per_month
        return self.hours / self.hours_in_month

    @property
    def label(self) -> str:
        if self.span == "week":
            return f"the week {self.start:%Y-%m-%d} to {self.end - timedelta(seconds=1):%Y-%m-%d}"
        return self.month

    def ce_time_period(self) -> dict[str, str]:
        """GetCostAndUsage's dates, End exclusive: the month, or up to and including today."""
        end: date = self.month_end.date()
        if not self.complete:
            end = min(end, self.end.date() + timedelta(days=1))
        return {"Start": self.start.date().isoformat(), "End": end.isoformat()}


def measured_period(month: str | None, now: datetime) -> Period:
    """The UTC month `month` ('YYYY-MM', validated like every cost --month; default: this month),
    cut at `now`; a month that has not started is refused."""
    now = now.astimezone(UTC)
    month = month or f"{now:%Y-%m}"
    start, month_end = month_bounds("UTC", month)
    end = min(month_end, now)
    if end <= start:
        raise InvalidRequest(
            f"month: {month} has not started yet (UTC)", fix="give this month or an earlier one"
        )
    return Period(month=month, start=start, end=end, month_end=month_end)


WEEK = timedelta(days=7)


def week_before(now: datetime) -> Period:
    """The seven whole UTC days before the UTC day of `now`: what the weekly digest covers, in the
    days Cost Explorer counts."""
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - WEEK
    return Period(month=f"{start:%Y-%m}", start=start, end=end, month_end=end, span="week")
