"""`openflow-autopilot cost --measured -c FILE [--month YYYY-MM] [--json]`: the month's bill as
Snowflake's ACCOUNT_USAGE and AWS Cost Explorer recorded it, against the model's month
(cost/measured.py). Snowflake is read as the request's snowflake.login_role, Cost Explorer with the
caller's AWS credentials (ce:GetCostAndUsage; each call costs $0.01)."""

from __future__ import annotations

import argparse
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.cost.cost_explorer import CE_REGION
from openflow_autopilot.cost.measured import MeasuredCost, SessionFactory, measure_request
from openflow_autopilot.cost.model import plain, usd
from openflow_autopilot.cost.period import measured_period
from openflow_autopilot.cost.prices import PriceTable
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import FunctionEnv


def _sessions(request: ProvisionRequest, env: FunctionEnv | None) -> SessionFactory:
    """A session as a role, the way every command opens one (snowflake/login.py); the endpoint comes
    from SNOWFLAKE_HOST/PORT/PROTOCOL like the functions' (the sandbox sets them)."""
    from openflow_autopilot.snowflake.login import request_session

    function_env = env or FunctionEnv.from_environ()
    return lambda role: request_session(request, role, env=function_env)


def measure(
    args: argparse.Namespace,
    request: ProvisionRequest,
    prices: PriceTable,
    *,
    now: datetime,
    snowflake: SessionFactory | None = None,
    ce: Any = None,
    env: FunctionEnv | None = None,
) -> MeasuredCost:
    """The month of --month (default: this one), measured (cost/measured.measure_request)."""
    if args.chart:
        raise InvalidRequest("--chart is not drawn for --measured", fix="leave out --chart")
    if ce is None:
        from openflow_autopilot.aws.clients import client

        ce = client("ce", CE_REGION)
    return measure_request(
        request,
        prices,
        measured_period(args.month, now),
        sessions=snowflake or _sessions(request, env),
        ce=ce,
        now=now,
    )


def _cell(value: Any) -> str:
    return "-" if value is None else usd(value)


def _signed(value: Decimal) -> str:
    return f"-{usd(-value)}" if value < 0 else usd(value)


def print_measured(report: MeasuredCost, out: TextIO) -> None:
    span = "complete month" if report.complete else "the month so far"
    print(
        f"Measured cost of {report.deployment}, {report.month} (UTC, {report.period_start:%Y-%m-%d %H:%M} "
        f"to {report.period_end:%Y-%m-%d %H:%M}, {span})",
        file=out,
    )
    print(f"Modelled: {report.modelled_basis}", file=out)
    width = max([len(line.name) + 2 for line in report.lines] + [len(n.name) for n in report.not_measured])
    credits_title = {"snowflake": "credits", "aws": ""}
    sides = (
        (
            "snowflake",
            f"Snowflake: SNOWFLAKE.ACCOUNT_USAGE as {report.role}, ${plain(report.credit_price_usd)}/credit",
        ),
        ("aws", f"AWS: Cost Explorer, UnblendedCost tagged {report.tag['key']} = {report.tag['value']}"),
    )
    for side, title in sides:
        print(f"\n{title}", file=out)
        print(
            f"  {'component':<{width}}  {credits_title[side]:>10}  {'measured':>11}  {'modelled':>11}",
            file=out,
        )
        for line in (line for line in report.lines if line.side == side):
            name = line.name if line.in_total else f"  of which {line.name}"
            credits = "" if line.credits is None else plain(line.credits, 4)
            print(
                f"  {name:<{width}}  {credits:>10}  {usd(line.usd):>11}  {_cell(line.modelled_usd):>11}",
                file=out,
            )
    if report.not_measured:
        print("\nModelled, not measured here:", file=out)
        for item in report.not_measured:
            print(f"  {item.name:<{width}}  {'':>10}  {'':>11}  {usd(item.usd):>11}", file=out)
    print(
        f"\nMeasured: Snowflake {usd(report.snowflake_usd)} + AWS {usd(report.aws_usd)} = "
        f"{usd(report.total_usd)}; modelled {usd(report.modelled_usd)}; "
        f"always on {usd(report.always_on_usd)}",
        file=out,
    )
    print(
        f"Measured saving against the always-on month: {usd(report.always_on_usd)} - {usd(report.total_usd)} "
        f"= {_signed(report.saved_usd)} ({plain(report.saved_percent, 1)}%)",
        file=out,
    )
    for note in report.notes:
        print(f"Note: {note}", file=out)
