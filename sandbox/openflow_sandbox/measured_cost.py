"""`cost --measured` in the sandbox: a month of usage put where Snowflake and AWS keep it (the
emulation's SNOWFLAKE.ACCOUNT_USAGE views, moto's Cost Explorer results), then read back by the
command's own code (`openflow-autopilot cost --measured --json`).

Snowflake: one row per hour the request's schedule keeps the runtime on, in METERING_HISTORY
(OPENFLOW_COMPUTE_BYOC) and OPENFLOW_USAGE_HISTORY, at the price table's Openflow rate (0.0225
credits per vCPU-hour) for the runtime's vCPUs; a few busy minutes of the connector's warehouse in
each of those hours; and rows the report must leave out (another service type, another warehouse,
the hour before the month). AWS: what the stack's resources cost in the month at the price table's
prices, per Cost Explorer service, plus the smaller charges a real bill carries.

`rehearse_measured_cost(sandbox, request)` is what the demo runs; it returns build/demo-report.json's
`measured_cost`.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.cost.account_usage import OPENFLOW_SERVICE_TYPE
from openflow_autopilot.cost.measured import AWS_SERVICE_COMPONENTS, modelled_for
from openflow_autopilot.cost.period import Period, measured_period
from openflow_autopilot.cost.prices import CreditsPerHour, PriceTable, load_prices, with_runtime_size
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.schedule import on_hours_between
from openflow_autopilot_cli import cost as cli_cost

# Credits per hour of a running warehouse by size:
# https://docs.snowflake.com/en/user-guide/warehouses-overview#warehouse-size
WAREHOUSE_CREDITS_PER_HOUR = {"XSMALL": 1, "SMALL": 2, "MEDIUM": 4, "LARGE": 8, "XLARGE": 16, "XXLARGE": 32}
WAREHOUSE_BUSY_MINUTES = Decimal(1)  # the connector's merge in an hour the runtime runs: 60 s billed
WAREHOUSE_ID = 101
# Charges a bill has that the price table does not model: EBS volumes (EC2 - Other), the public IPv4
# addresses of the NAT gateways (Amazon VPC, $0.005/h each) and the images in ECR ($0.10/GB-month).
EBS_GB, EBS_USD_PER_GB_MONTH = Decimal(60), Decimal("0.096")
PUBLIC_IPV4_USD_PER_HOUR = Decimal("0.005")
ECR_GB, ECR_USD_PER_GB_MONTH = Decimal(5), Decimal("0.10")
CE_RESULTS_PATH = "/moto-api/static/ce/cost-and-usage-results"


@dataclass
class Seeded:
    """What the sandbox put in, for the report and the tests to compare with what was measured."""

    month: str
    on_hours: Decimal
    openflow_credits: Decimal
    warehouse_credits: Decimal
    aws_usd: dict[str, Decimal] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "on_hours": float(self.on_hours),
            "openflow_credits": float(self.openflow_credits),
            "warehouse_credits": float(self.warehouse_credits),
            "aws_usd": {service: float(amount) for service, amount in self.aws_usd.items()},
        }


def previous_month(now: datetime) -> str:
    """The last whole month (UTC): its measured figures are complete."""
    first = now.astimezone(UTC).replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def request_prices(request: ProvisionRequest) -> PriceTable:
    return with_runtime_size(load_prices(), request.runtime.size.value)


def _hours(period: Period) -> list[datetime]:
    count = int(period.hours)
    return [period.start + timedelta(hours=h) for h in range(count)]


def _on_fraction(request: ProvisionRequest, hour: datetime) -> Decimal:
    if request.schedule is None:
        return Decimal(1)
    return on_hours_between(request.schedule, hour, hour + timedelta(hours=1))


def _ids(sandbox: Any, request: ProvisionRequest) -> tuple[str, str]:
    """The data plane and runtime keys the emulation gave them, when provisioned; else stand-ins."""
    state = sandbox.snowflake.state
    deployment = state.deployments.get(request.openflow.deployment_name)
    runtime = next((r for key, r in state.runtimes.items() if key[-1] == request.runtime.name), None)
    plane = deployment.key if deployment is not None else "sandbox-data-plane"
    return plane, runtime.key if runtime is not None else request.runtime.name.lower().replace("_", "-")


def seed_account_usage(
    sandbox: Any,
    request: ProvisionRequest,
    period: Period,
    prices: PriceTable,
    *,
    loaded_until: datetime | None = None,
) -> tuple[Decimal, Decimal, Decimal]:
    """Hourly ACCOUNT_USAGE rows for the period's on-hours; returns (on-hours, Openflow credits,
    warehouse credits) of the rows the report must count. Hours before `loaded_until` are already in
    the views (an earlier seed: the rows are the same for the same hour) and are only counted."""
    service = next(c for c in prices.components if c.key == "openflow_service")
    assert isinstance(service, CreditsPerHour)
    per_hour = service.credits_per_hour * service.quantity
    warehouse = request.destination.warehouse
    wh_rate = (
        Decimal(WAREHOUSE_CREDITS_PER_HOUR[request.destination.warehouse_size]) * WAREHOUSE_BUSY_MINUTES / 60
    )
    plane, runtime_key = _ids(sandbox, request)
    metering: list[dict[str, object]] = []
    usage: list[dict[str, object]] = []
    warehouse_rows: list[dict[str, object]] = []
    on_total = openflow = wh_total = Decimal(0)
    for hour in [period.start - timedelta(hours=1), *_hours(period)]:
        # the hour before the month is on, so the report has a row to leave out
        on = _on_fraction(request, hour) if hour >= period.start else Decimal(1)
        if on == 0:
            continue
        credits, wh_compute = per_hour * on, wh_rate * on
        wh_cloud = (wh_compute / 20).quantize(Decimal("0.000000001"))
        if hour >= period.start:
            on_total += on
            openflow += credits
            wh_total += wh_compute + wh_cloud
        if loaded_until is not None and hour < loaded_until:
            continue
        span = {"START_TIME": hour, "END_TIME": hour + timedelta(hours=1)}
        metering.append(
            span
            | {
                "SERVICE_TYPE": OPENFLOW_SERVICE_TYPE,
                "CREDITS_USED_COMPUTE": credits,
                "CREDITS_USED_CLOUD_SERVICES": 0,  # always 0 for Openflow (metering_daily_history)
                "CREDITS_USED": credits,
            }
        )
        metering.append(
            span
            | {
                "SERVICE_TYPE": "WAREHOUSE_METERING",
                "ENTITY_ID": WAREHOUSE_ID,
                "ENTITY_TYPE": "WAREHOUSE",
                "NAME": warehouse,
                "CREDITS_USED_COMPUTE": wh_compute,
                "CREDITS_USED_CLOUD_SERVICES": wh_cloud,
                "CREDITS_USED": wh_compute + wh_cloud,
            }
        )
        usage.append(
            span
            | {
                "DATA_PLANE_ID": plane,
                "DATA_PLANE_NAME": request.openflow.deployment_name,
                "DATA_PLANE_TYPE": "BYOC",
                "DATA_PLANE_CREDITS_USED": 0,  # BYOC data planes use no Snowflake compute
                "RUNTIME_ID": runtime_key,
                "RUNTIME_NAME": request.runtime.name,
                "RUNTIME_TYPE": "RUNTIME",
                "RUNTIME_CREDITS_USED": credits,
            }
        )
        for name, wh_id, compute in ((warehouse, WAREHOUSE_ID, wh_compute), ("COMPUTE_WH", 1, Decimal(1))):
            cloud = wh_cloud if name == warehouse else Decimal("0.05")
            warehouse_rows.append(
                span
                | {
                    "WAREHOUSE_ID": wh_id,
                    "WAREHOUSE_NAME": name,
                    "CREDITS_USED": compute + cloud,
                    "CREDITS_USED_COMPUTE": compute,
                    "CREDITS_USED_CLOUD_SERVICES": cloud,
                    "CREDITS_ATTRIBUTED_COMPUTE_QUERIES": compute * Decimal("0.8"),
                }
            )
    emulator = sandbox.snowflake
    emulator.load_account_usage("METERING_HISTORY", metering)
    emulator.load_account_usage("OPENFLOW_USAGE_HISTORY", usage)
    emulator.load_account_usage("WAREHOUSE_METERING_HISTORY", warehouse_rows)
    return on_total, openflow, wh_total


def aws_costs(request: ProvisionRequest, period: Period, prices: PriceTable) -> dict[str, Decimal]:
    """The month's AWS bill per Cost Explorer service: the price table's components over the hours
    the schedule ran them, and what the table leaves out."""
    model = modelled_for(prices, request.schedule, period).modelled
    costs = {
        service: sum((line.usd for line in model.lines if line.key in keys), Decimal(0))
        for service, keys in AWS_SERVICE_COMPONENTS.items()
    }
    month_share = period.volume_fraction(prices.hours_per_month)
    costs["EC2 - Other"] += EBS_GB * EBS_USD_PER_GB_MONTH * month_share
    costs["Amazon Virtual Private Cloud"] = PUBLIC_IPV4_USD_PER_HOUR * period.hours
    costs["Amazon EC2 Container Registry (ECR)"] = ECR_GB * ECR_USD_PER_GB_MONTH * month_share
    return {service: amount.quantize(Decimal("0.0000000001")) for service, amount in costs.items()}


def seed_cost_explorer(sandbox: Any, period: Period, costs: dict[str, Decimal]) -> None:
    """moto answers the next GetCostAndUsage with this result (moto-api/static/ce/cost-and-usage-results,
    moto's documented way to set Cost Explorer's answers)."""
    result = {
        "ResultsByTime": [
            {
                "TimePeriod": period.ce_time_period(),
                "Total": {},
                "Groups": [
                    {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": f"{amount}", "Unit": "USD"}}}
                    for service, amount in costs.items()
                ],
                "Estimated": not period.complete,
            }
        ],
        "DimensionValueAttributes": [],
    }
    body = json.dumps({"results": [result]}).encode()
    req = urllib.request.Request(  # noqa: S310 - the sandbox's loopback moto endpoint
        sandbox.moto.endpoint + CE_RESULTS_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        resp.read()


def seed(sandbox: Any, request: ProvisionRequest, month: str, now: datetime) -> Seeded:
    return seed_period(sandbox, request, measured_period(month, now))


def seed_period(
    sandbox: Any, request: ProvisionRequest, period: Period, *, loaded_until: datetime | None = None
) -> Seeded:
    """The period's usage in ACCOUNT_USAGE and the next Cost Explorer answer."""
    prices = request_prices(request)
    on_hours, openflow, warehouse = seed_account_usage(
        sandbox, request, period, prices, loaded_until=loaded_until
    )
    costs = aws_costs(request, period, prices)
    seed_cost_explorer(sandbox, period, costs)
    return Seeded(
        month=period.label,
        on_hours=on_hours,
        openflow_credits=openflow,
        warehouse_credits=warehouse,
        aws_usd=costs,
    )


def run_measured(
    sandbox: Any, request: dict[str, Any], month: str, now: datetime
) -> tuple[int, dict[str, Any], str]:
    """`openflow-autopilot cost --measured -c <request> --month M --json` against the sandbox, as a
    user pointed at it would run it: (exit code, the JSON printed, what went to stderr)."""
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_cost.register(parser.add_subparsers(dest="command", required=True))
    env = FunctionEnv(
        snowflake_host=sandbox.snowflake.host,
        snowflake_port=sandbox.snowflake.port,
        snowflake_protocol="http",
    )
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request))
        args = parser.parse_args(["cost", "--measured", "-c", str(path), "--month", month, "--json"])
        code = cli_cost.run_cost(args, stdout=out, stderr=err, now=now, env=env)
    printed = out.getvalue().strip()
    return code, json.loads(printed) if printed else {}, err.getvalue()


def rehearse_measured_cost(
    sandbox: Any,
    request: dict[str, Any],
    *,
    month: str | None = None,
    now: datetime | None = None,
    seed_usage: bool = True,
) -> dict[str, Any]:
    """Seed a month (default: the last whole one) and measure it; build/demo-report.json's
    `measured_cost`: the command's JSON (snowflake_usd, aws_usd, total_usd, rows, ...), its exit
    code and what the sandbox seeded."""
    now = now or datetime.now(UTC)
    month = month or previous_month(now)
    seeded = seed(sandbox, parse_request(request), month, now) if seed_usage else None
    code, report, stderr = run_measured(sandbox, request, month, now)
    found: dict[str, Any] = {**report, "exit_code": code}
    if code != 0 and "message" not in found:
        found["message"] = stderr.strip()
    if seeded is not None:
        found["seeded"] = seeded.summary()
    return found
