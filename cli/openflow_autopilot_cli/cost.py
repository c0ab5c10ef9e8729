"""`openflow-autopilot cost [-c FILE] [--prices FILE] [--credit-price USD] [--month YYYY-MM] [--json]
[--chart FILE] [--actual --bucket B [--prefix P] [--deployment D]] [--measured]`.

No arguments: the seed's worked example, line by line (always on, $774.249). With -c: the request's
schedule, always on vs scheduled, what keeps running while stopped, and the saving. With --actual:
the month so far from the power workflow's on/off records in S3. With --measured: the month as
Snowflake's ACCOUNT_USAGE and AWS Cost Explorer billed it, against the model (cli_cost_measured.py).

Exit codes: 0 report printed; 1 --actual found no records, or --measured nothing measured; 2 invalid
input, or a source refused or unreachable (nothing was changed).
"""

# ruff: noqa: RUF001  (the multiplication sign is the seed's notation for the arithmetic)

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from openflow_autopilot.config import ProvisionRequest, load_request_file
from openflow_autopilot.config_schedule import Schedule
from openflow_autopilot.core.masking import mask_credentials
from openflow_autopilot.cost.measured import NothingMeasured
from openflow_autopilot.cost.model import (
    ActualCost,
    CostBreakdown,
    ScheduledCost,
    actual_cost,
    monthly_cost,
    plain,
    scheduled_cost,
    usd,
)
from openflow_autopilot.cost.prices import PriceTable, load_prices, with_credit_price, with_runtime_size
from openflow_autopilot.cost.records import NoPowerRecords, load_history
from openflow_autopilot.errors import AutopilotError, InvalidRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power.months import parse_month
from openflow_autopilot_cli import errors as cli_errors

EXIT_OK = 0
EXIT_NO_RECORDS = 1
EXIT_INVALID = 2
DEFAULT_PREFIX = "power-records"
_PROG = "openflow-autopilot cost"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `cost` command to the main CLI."""
    p = subparsers.add_parser(
        "cost",
        help="Monthly cost, always on vs scheduled, and the actual cost from on/off records.",
        description="Without arguments: the seed's worked example (always on). With -c: the request's "
        "schedule, the saving, and what keeps running while stopped. With --actual: the month so far "
        "from the power workflow's records. With --measured: the month's bill from Snowflake ACCOUNT_USAGE "
        "and AWS Cost Explorer against the model. Exit 0: printed; 1: --actual found no records or "
        "--measured nothing measured; 2: invalid input, or a source refused or unreachable.",
    )
    p.add_argument(
        "-c", "--config", metavar="FILE", help="A provisioning request (YAML); its schedule is used."
    )
    p.add_argument("--prices", metavar="FILE", help="A price file (YAML/JSON) merged over the default table.")
    p.add_argument("--credit-price", metavar="USD", help="Price of one Snowflake credit in USD.")
    p.add_argument(
        "--month", metavar="YYYY-MM", help="Count this calendar month (DST, holidays) instead of 24 x 30 h."
    )
    p.add_argument("--json", action="store_true", help="Print the report as JSON.")
    p.add_argument("--chart", metavar="FILE", help="Write a PNG bar chart per component (needs matplotlib).")
    p.add_argument("--actual", action="store_true", help="Report the month so far from on/off records in S3.")
    p.add_argument("--bucket", metavar="B", help="With --actual: the bucket holding the records.")
    p.add_argument("--prefix", metavar="P", default=DEFAULT_PREFIX, help="With --actual: the key prefix.")
    p.add_argument(
        "--deployment", metavar="D", help="With --actual: the deployment (default: the request's)."
    )
    p.add_argument(
        "--measured",
        action="store_true",
        help="Report the month (default: this one, UTC) from Snowflake ACCOUNT_USAGE and AWS Cost Explorer, "
        "against the model; needs -c.",
    )
    p.set_defaults(func=run_cost)


def run_cost(
    args: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    now: datetime | None = None,
    s3: Any = None,
    snowflake: Any = None,
    ce: Any = None,
    env: FunctionEnv | None = None,
) -> int:
    """`snowflake` (role -> session), `ce` (a Cost Explorer client) and `env` (where Snowflake is) are
    for --measured; each defaults to the real one."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    sources = {"s3": s3, "snowflake": snowflake, "ce": ce, "env": env}
    try:
        return _run(args, out, err, now or datetime.now(UTC), sources)
    except (NoPowerRecords, NothingMeasured) as exc:
        print(f"{_PROG}: {mask_credentials(str(exc))}", file=err)
        return EXIT_NO_RECORDS
    except AutopilotError as exc:
        return _failed(args, cli_errors.describe(exc), mask_credentials(str(exc)), out, err)
    except (BotoCoreError, ClientError) as exc:  # credentials, endpoint, denied: one line with the fix
        failure = cli_errors.describe(exc)
        return _failed(args, failure, failure.line() if failure else type(exc).__name__, out, err)


def _failed(
    args: argparse.Namespace, failure: cli_errors.CliFailure | None, line: str, out: TextIO, err: TextIO
) -> int:
    print(f"{_PROG}: {line}", file=err)
    if failure is not None and getattr(args, "json", False):
        _dump(failure.as_json(), out)  # a script reading --json still reads JSON
    return EXIT_INVALID


def _prices(args: argparse.Namespace, request: ProvisionRequest | None) -> PriceTable:
    prices = load_prices(args.prices)
    if request is not None:
        prices = with_runtime_size(prices, request.runtime.size.value)
    if args.credit_price is not None:
        try:
            prices = with_credit_price(prices, Decimal(args.credit_price))
        except InvalidOperation:
            raise InvalidRequest(f"--credit-price: {args.credit_price!r} is not a number") from None
    return prices


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, now: datetime, sources: dict[str, Any]) -> int:
    if args.month is not None:
        parse_month(args.month)
    if not args.actual and (args.bucket or args.deployment):
        raise InvalidRequest("--bucket and --deployment are only used with --actual")
    if args.measured and args.actual:
        raise InvalidRequest("--measured and --actual are two reports", fix="give one of them")
    if args.measured and not args.config:
        raise InvalidRequest(
            "--measured needs -c FILE: the request names the deployment, its warehouse and the login",
            fix="openflow-autopilot cost --measured -c request.yaml",
        )
    request = load_request_file(args.config) if args.config else None
    prices = _prices(args, request)
    schedule = request.schedule if request else None
    if args.measured and request is not None:
        return _measured(args, out, now, sources, prices, request)
    if args.actual:
        if not args.bucket:
            raise InvalidRequest("--actual needs --bucket B (where the power workflow stores its records)")
        return _actual(args, out, err, now, sources["s3"], prices, request)
    if schedule is None:
        always = monthly_cost(prices)
        if args.json:
            _dump({**always.model_dump(mode="json"), "converted": _converted(prices, always.total_usd)}, out)
        else:
            if request is not None:
                print(f"{args.config}: the request has no schedule, so the runtime runs always.\n", file=out)
            _print_breakdown(always, prices, out)
        _chart(args, always, None, err)
        return EXIT_OK
    report = scheduled_cost(prices, schedule, month=args.month)
    if args.json:
        _dump(report.model_dump(mode="json"), out)
    else:
        _print_scheduled(report, schedule, prices, out)
    _chart(args, report.always_on, report.scheduled, err)
    return EXIT_OK


def _measured(
    args: argparse.Namespace,
    out: TextIO,
    now: datetime,
    sources: dict[str, Any],
    prices: PriceTable,
    request: ProvisionRequest,
) -> int:
    from openflow_autopilot_cli.cost_measured import measure, print_measured

    report = measure(
        args, request, prices, now=now, snowflake=sources["snowflake"], ce=sources["ce"], env=sources["env"]
    )
    if args.json:
        _dump(report.model_dump(mode="json"), out)
    else:
        print_measured(report, out)
    return EXIT_OK


def _actual(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    now: datetime,
    s3: Any,
    prices: PriceTable,
    request: ProvisionRequest | None,
) -> int:
    schedule = request.schedule if request else None
    timezone = schedule.timezone if schedule else "UTC"
    month = args.month or f"{now.astimezone(ZoneInfo(timezone)):%Y-%m}"
    deployment = args.deployment or (request.openflow.deployment_name if request else None)
    if s3 is None:
        from openflow_autopilot.aws.clients import client

        s3 = client("s3", request.aws.region if request else None)
    records = load_history(s3, args.bucket, args.prefix, month, deployment=deployment, timezone=timezone)
    report = actual_cost(
        records,
        month,
        prices=prices,
        timezone=timezone,
        now=now,
        deployment=deployment,
        stop_agent=bool(schedule and schedule.stop_agent),
        deep=bool(schedule and schedule.deep),
    )
    if args.json:
        _dump(report.model_dump(mode="json"), out)
    else:
        _print_actual(report, out)
    _chart(args, report.always_on, report.cost, err)
    return EXIT_OK


# --- output -----------------------------------------------------------------------------------
def _dump(data: Any, out: TextIO) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False), file=out)


def _converted(prices: PriceTable, total: Decimal) -> dict[str, float]:
    return {
        code: float((total * rate.per_usd).quantize(Decimal(1), ROUND_HALF_UP))
        for code, rate in prices.exchange_rates.items()
    }


def _conversions(prices: PriceTable, total: Decimal) -> str:
    parts = []
    for rate in prices.exchange_rates.values():
        amount = (total * rate.per_usd).quantize(Decimal(1), ROUND_HALF_UP)
        parts.append(f"≈ {rate.symbol}{amount:,} at {rate.symbol}{plain(rate.per_usd)}/$")
    return "  (" + "; ".join(parts) + ")" if parts else ""


def _print_breakdown(breakdown: CostBreakdown, prices: PriceTable, out: TextIO) -> None:
    hours = f"{prices.hours_per_day} × {prices.days_per_month} h"
    print(f"Monthly cost, always on ({hours}); prices: {prices.region}", file=out)
    if prices.description:
        print(f"  {prices.description}", file=out)
    width = max(len(line.name) for line in breakdown.lines)
    text_width = max(len(line.arithmetic) for line in breakdown.lines)
    for line in breakdown.lines:
        print(f"  {line.name:<{width}}  {line.arithmetic:<{text_width}}  {usd(line.usd):>10}", file=out)
    total = usd(breakdown.total_usd)
    print(
        f"  {'total':<{width}}  {'':<{text_width}}  {total:>10}{_conversions(prices, breakdown.total_usd)}",
        file=out,
    )


def _period_text(schedule: Schedule) -> str:
    periods = []
    for p in schedule.on_hours:
        overnight = " (next day)" if p.overnight else ""
        periods.append(f"{','.join(p.days)} {p.start}-{p.end}{overnight}")
    text = f"{schedule.timezone}, " + "; ".join(periods)
    if schedule.holidays:
        text += "; holidays " + ", ".join(str(d) for d in schedule.holidays)
    if schedule.deep:
        text += "; deep sleep (the whole data plane stops)"
    return text


def _comparison(left: CostBreakdown, right: CostBreakdown, out: TextIO, *, right_title: str) -> None:
    width = max(len(line.name) for line in left.lines)
    print(
        f"  {'component':<{width}}  {'always on':>11}  {right_title:>11}  arithmetic ({right_title})",
        file=out,
    )
    for line in left.lines:
        other = right.line(line.key)
        mark = "" if other.stopped_by_schedule else "  [keeps running]"
        print(
            f"  {line.name:<{width}}  {usd(line.usd):>11}  {usd(other.usd):>11}  {other.arithmetic}{mark}",
            file=out,
        )
    print(f"  {'total':<{width}}  {usd(left.total_usd):>11}  {usd(right.total_usd):>11}", file=out)


def _print_scheduled(report: ScheduledCost, schedule: Schedule, prices: PriceTable, out: TextIO) -> None:
    print(f"Schedule: {_period_text(schedule)}", file=out)
    print(
        f"Runtime on {plain(report.on_hours, 2)} h of {plain(report.hours_in_month, 2)} h ({report.basis}); "
        f"prices: {prices.region}",
        file=out,
    )
    print(file=out)
    _comparison(report.always_on, report.scheduled, out, right_title="scheduled")
    print(file=out)
    print(
        f"Saving: {usd(report.saved_usd)} a month ({plain(report.saved_percent, 1)}%)"
        f"{_conversions(prices, report.saved_usd)}",
        file=out,
    )
    running = sum((line.usd for line in report.still_running), Decimal(0))
    print(f"Still running while stopped, never counted as saved ({usd(running)} a month):", file=out)
    for line in report.still_running:
        print(f"  - {line.name}: {usd(line.usd)}", file=out)
    for note in report.notes:
        print(f"Note: {note}", file=out)


def _print_actual(report: ActualCost, out: TextIO) -> None:
    zone = ZoneInfo(report.timezone)
    start = report.period_start.astimezone(zone)
    end = report.period_end.astimezone(zone)
    print(
        f"Actual cost of {report.deployment}, {report.month} ({report.timezone}): "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({plain(report.elapsed_hours, 2)} h)",
        file=out,
    )
    print(
        f"Runtime on {plain(report.on_hours, 2)} h of {plain(report.elapsed_hours, 2)} h, from "
        f"{report.records_used} record(s); at the start of the month: {report.initial_state}",
        file=out,
    )
    print(file=out)
    _comparison(report.always_on, report.cost, out, right_title="actual")
    print(file=out)
    print(f"Saved so far: {usd(report.saved_usd)} ({plain(report.saved_percent, 1)}%)", file=out)


def _chart(args: argparse.Namespace, left: CostBreakdown, right: CostBreakdown | None, err: TextIO) -> None:
    if not args.chart:
        return
    try:
        from openflow_autopilot.cost.chart import render_chart

        path = render_chart(left, right, Path(args.chart))
    except ImportError:
        raise InvalidRequest("--chart needs matplotlib", fix="pip install matplotlib") from None
    except OSError as exc:
        raise InvalidRequest(f"--chart: cannot write {args.chart}: {exc.strerror or exc}") from None
    print(f"chart written to {path}", file=err)
