"""The bill measured, not modelled: one month of SNOWFLAKE.ACCOUNT_USAGE (account_usage.py) and AWS
Cost Explorer (cost_explorer.py), each figure next to the model's lines it corresponds to. Both sides
read the month in UTC (period.py): Cost Explorer's days are UTC. All money is Decimal, as in model.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Literal

from pydantic import AwareDatetime

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.cost.account_usage import (
    ACCOUNT_USAGE_DAYS,
    OPENFLOW_SERVICE_TYPE,
    MeteringRow,
    OpenflowUsageRow,
    Queryable,
    SnowflakeUsage,
    WarehouseMeteringRow,
    read_snowflake,
)
from openflow_autopilot.cost.cost_explorer import (
    CE_HISTORY_MONTHS,
    COST_TAG,
    AwsCost,
    AwsCostRow,
    read_aws,
)
from openflow_autopilot.cost.model import CostBreakdown, CostLine, Usd, monthly_cost, percent, scheduled_cost
from openflow_autopilot.cost.period import Credits, Frozen, Percent, Period
from openflow_autopilot.cost.prices import PriceTable
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.power.months import month_bounds
from openflow_autopilot.power.schedule import on_hours_between

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient

# Cost Explorer's SERVICE values for what the deployment's stack runs, and the price table's
# components (cost/prices/default.json) each one bills. NAT gateway hours and data processed are
# billed as "EC2 - Other", like EBS volumes.
AWS_SERVICE_COMPONENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "Amazon Elastic Compute Cloud - Compute": ("agent", "runtime_nodes", "management_nodes"),
    "Amazon Elastic Container Service for Kubernetes": ("eks",),
    "EC2 - Other": ("nat",),
    "Amazon Simple Storage Service": ("s3",),
}
OPENFLOW_COMPONENTS: Final = ("openflow_service",)


class MeasuredRows(Frozen):
    metering: list[MeteringRow]
    openflow_usage: list[OpenflowUsageRow]
    warehouse_metering: list[WarehouseMeteringRow]
    aws: list[AwsCostRow]


# --- the model it is compared with -------------------------------------------------------------
class Modelled(Frozen):
    basis: str
    modelled: CostBreakdown  # scheduled when the request has a schedule, else always on
    always_on: CostBreakdown


def modelled_for(prices: PriceTable, schedule: Schedule | None, period: Period) -> Modelled:
    """The model's month (scheduled_cost for the calendar month, or monthly_cost always on); for the
    month so far, the same components over the hours elapsed and the on-hours the schedule gave."""
    if period.complete and period.span == "month":
        if schedule is not None:
            report = scheduled_cost(prices, schedule, month=period.month)
            basis = report.basis
            if month_bounds(schedule.timezone, period.month)[0] != period.start:
                basis += "; measured in UTC (Cost Explorer's days), so the two months are hours apart"
            return Modelled(basis=basis, modelled=report.scheduled, always_on=report.always_on)
        always = monthly_cost(prices, hours_in_month=period.hours)
        basis = f"calendar month {period.month} (UTC), always on: the request has no schedule"
        return Modelled(basis=basis, modelled=always, always_on=always)
    fraction = period.volume_fraction(prices.hours_per_month)
    so_far = period.label if period.span == "week" else f"{period.month} so far"
    always = monthly_cost(prices, hours_in_month=period.hours, volume_fraction=fraction, label="always on")
    if schedule is None:
        basis = f"{so_far} (UTC), always on: the request has no schedule"
        return Modelled(basis=basis, modelled=always, always_on=always)
    scheduled = monthly_cost(
        prices,
        on_hours_per_month=on_hours_between(schedule, period.start, period.end),
        hours_in_month=period.hours,
        volume_fraction=fraction,
        stop_agent=schedule.stop_agent,
        deep=schedule.deep,
        label="scheduled",
    )
    basis = f"{so_far} (UTC), the schedule's on-hours in {schedule.timezone}"
    return Modelled(basis=basis, modelled=scheduled, always_on=always)


# --- measured against modelled -----------------------------------------------------------------
class MeasuredLine(Frozen):
    key: str
    side: Literal["snowflake", "aws"]
    name: str
    credits: Credits | None = None
    usd: Usd
    modelled_usd: Usd | None = None  # the model's lines this one bills; None: the model has none
    modelled_keys: list[str]
    in_total: bool = True  # a runtime's line breaks Openflow compute down: not counted twice


class MeasuredCost(Frozen):
    month: str
    period_start: AwareDatetime
    period_end: AwareDatetime
    complete: bool
    deployment: str
    runtime: str
    warehouse: str
    role: str
    tag: dict[str, str]
    credit_price_usd: Usd
    modelled_basis: str
    lines: list[MeasuredLine]
    not_measured: list[CostLine]  # modelled lines nothing here measures
    snowflake_usd: Usd
    aws_usd: Usd
    total_usd: Usd
    modelled_usd: Usd
    always_on_usd: Usd
    saved_usd: Usd
    saved_percent: Percent
    rows: MeasuredRows
    notes: list[str]


class NothingMeasured(PreconditionFailed):
    """Neither Snowflake nor Cost Explorer has a figure for the deployment in the month yet."""


def _modelled(breakdown: CostBreakdown, keys: tuple[str, ...]) -> tuple[Decimal | None, list[str]]:
    found = [line for line in breakdown.lines if line.key in keys]
    if not found:
        return None, []
    return sum((line.usd for line in found), Decimal(0)), [line.key for line in found]


def measured_cost(
    *,
    period: Period,
    prices: PriceTable,
    usage: SnowflakeUsage,
    aws: AwsCost,
    modelled: Modelled,
    deployment: str,
    runtime: str,
    warehouse: str,
    role: str,
    now: datetime,
) -> MeasuredCost:
    """Every measured figure at the credit price, next to the model's lines it corresponds to."""
    price = prices.credit_price_usd
    model = modelled.modelled
    lines: list[MeasuredLine] = []
    compute = sum((r.credits_used for r in usage.metering), Decimal(0))
    openflow_model, openflow_keys = _modelled(model, OPENFLOW_COMPONENTS)
    lines.append(
        MeasuredLine(
            key="openflow_compute",
            side="snowflake",
            name=f"Openflow compute ({OPENFLOW_SERVICE_TYPE})",
            credits=compute,
            usd=compute * price,
            modelled_usd=openflow_model,
            modelled_keys=openflow_keys,
        )
    )
    per_runtime: dict[str, Decimal] = {}
    for r in usage.openflow_usage:
        credits = r.runtime_credits_used + r.data_plane_credits_used
        per_runtime[r.runtime_name] = per_runtime.get(r.runtime_name, Decimal(0)) + credits
    for name, credits in sorted(per_runtime.items()):
        lines.append(
            MeasuredLine(
                key=f"runtime:{name}",
                side="snowflake",
                name=f"runtime {name}",
                credits=credits,
                usd=credits * price,
                modelled_keys=[],
                in_total=False,
            )
        )
    wh_credits = sum((r.credits_used for r in usage.warehouse_metering), Decimal(0))
    lines.append(
        MeasuredLine(
            key="warehouse",
            side="snowflake",
            name=f"warehouse {warehouse}",
            credits=wh_credits,
            usd=wh_credits * price,
            modelled_keys=[],
        )
    )
    per_service: dict[str, Decimal] = {}
    for row in aws.rows:
        per_service[row.service] = per_service.get(row.service, Decimal(0)) + row.amount_usd
    for service, amount in sorted(per_service.items(), key=lambda item: -item[1]):
        service_model, service_keys = _modelled(model, AWS_SERVICE_COMPONENTS.get(service, ()))
        lines.append(
            MeasuredLine(
                key=f"aws:{service}",
                side="aws",
                name=service,
                usd=amount,
                modelled_usd=service_model,
                modelled_keys=service_keys,
            )
        )
    covered = {key for line in lines for key in line.modelled_keys}
    counted = [line for line in lines if line.in_total]
    snowflake = sum((line.usd for line in counted if line.side == "snowflake"), Decimal(0))
    aws_usd = sum((line.usd for line in counted if line.side == "aws"), Decimal(0))
    total = snowflake + aws_usd
    always = modelled.always_on.total_usd
    return MeasuredCost(
        month=period.month,
        period_start=period.start,
        period_end=period.end,
        complete=period.complete,
        deployment=deployment,
        runtime=runtime,
        warehouse=warehouse,
        role=role,
        tag={"key": COST_TAG, "value": deployment},
        credit_price_usd=price,
        modelled_basis=modelled.basis,
        lines=lines,
        not_measured=[line for line in model.lines if line.key not in covered],
        snowflake_usd=snowflake,
        aws_usd=aws_usd,
        total_usd=total,
        modelled_usd=model.total_usd,
        always_on_usd=always,
        saved_usd=always - total,
        saved_percent=percent(always - total, always),
        rows=MeasuredRows(
            metering=usage.metering,
            openflow_usage=usage.openflow_usage,
            warehouse_metering=usage.warehouse_metering,
            aws=aws.rows,
        ),
        notes=_notes(period, usage, aws, runtime, per_runtime, now),
    )


def _months_before(later: datetime, earlier: datetime) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _notes(
    period: Period,
    usage: SnowflakeUsage,
    aws: AwsCost,
    runtime: str,
    per_runtime: Mapping[str, Decimal],
    now: datetime,
) -> list[str]:
    notes: list[str] = []
    if not period.complete:
        notes.append(
            "the month so far: ACCOUNT_USAGE views lag by up to a few hours and Cost Explorer refreshes "
            "at least once a day, so the latest hours may be missing"
        )
    if period.start < now - timedelta(days=ACCOUNT_USAGE_DAYS):
        notes.append(f"ACCOUNT_USAGE keeps {ACCOUNT_USAGE_DAYS} days: some of the month may be gone")
    if _months_before(now.astimezone(UTC), period.start) > CE_HISTORY_MONTHS:
        notes.append(
            f"Cost Explorer keeps the {CE_HISTORY_MONTHS} months before this one (more with multi-year data)"
        )
    others = sorted(name for name in per_runtime if name != runtime)
    if others:
        notes.append(
            f"OPENFLOW_COMPUTE_BYOC is the account's: it also covers the runtimes {', '.join(others)}"
        )
    if usage.metering and runtime not in per_runtime:
        notes.append(f"OPENFLOW_USAGE_HISTORY has no row for the runtime {runtime} in the period")
    if any(row.estimated for row in aws.rows):
        notes.append("Cost Explorer marks the month's AWS figures as estimated")
    if not aws.rows:
        notes.append("Cost Explorer has no AWS costs for the account in the period yet")
    return notes


def check_measured(report: MeasuredCost) -> MeasuredCost:
    """A report with nothing at all in it is refused (exit 1 in the CLI), like --actual without records."""
    if not any(
        (report.rows.metering, report.rows.openflow_usage, report.rows.warehouse_metering, report.rows.aws)
    ):
        raise NothingMeasured(
            f"nothing measured for {report.deployment} in {report.month}: no ACCOUNT_USAGE rows and no "
            "Cost Explorer costs",
            fix="run it again later: ACCOUNT_USAGE lags by hours and Cost Explorer by up to a day",
        )
    return report


SessionFactory = Callable[[str], AbstractContextManager[Queryable]]


def measure_request(
    request: ProvisionRequest,
    prices: PriceTable,
    period: Period,
    *,
    sessions: SessionFactory,
    ce: CostExplorerClient,
    now: datetime,
) -> MeasuredCost:
    """The request's deployment measured over `period`: Snowflake first (as the login role), so a
    refused role costs no Cost Explorer call ($0.01 each); nothing measured at all is refused."""
    role = request.snowflake.login_role
    with sessions(role) as sql:
        usage = read_snowflake(sql, period, warehouse=request.destination.warehouse, role=role)
    deployment = request.openflow.deployment_name
    report = measured_cost(
        period=period,
        prices=prices,
        usage=usage,
        aws=read_aws(ce, period, deployment),
        modelled=modelled_for(prices, request.schedule, period),
        deployment=deployment,
        runtime=request.runtime.name,
        warehouse=request.destination.warehouse,
        role=role,
        now=now,
    )
    return check_measured(report)
