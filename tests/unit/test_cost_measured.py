"""`cost --measured`: ACCOUNT_USAGE rows (fakesnow, through the product's Sql) and Cost Explorer results
(moto's backend) summed at the request's credit price against the model; the failures (a role without
ACCOUNT_USAGE, Cost Explorer off, the tag not activated) as one line with the fix and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import snowflake.connector.errors as sf_errors
from botocore.exceptions import ClientError, NoCredentialsError
from fakesnow.instance import FakeSnow
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal.models import moto_api_backend

from openflow_autopilot.config import load_request_file
from openflow_autopilot.cost.cost_explorer import read_aws
from openflow_autopilot.cost.model import monthly_cost, scheduled_cost
from openflow_autopilot.cost.period import measured_period
from openflow_autopilot.cost.prices import load_prices, with_runtime_size
from openflow_autopilot.snowflake.session import Sql
from openflow_autopilot.snowflake.statement_catalog import load_catalog
from openflow_autopilot_cli import cost as cli_cost
from openflow_sandbox.snowflake import account_usage

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "events" / "provision" / "request.yaml"
NOW = datetime(2026, 4, 2, 9, tzinfo=UTC)  # March 2026 is complete
DEPLOYMENT, RUNTIME, WAREHOUSE = "SALES_CDC_DEPLOYMENT", "POSTGRES_CDC_RUNTIME", "OPENFLOW_COMPUTE_WH"
PRICE = Decimal("4.30")  # the default table's credit price
AWS = {
    "Amazon Elastic Compute Cloud - Compute": "180.25",
    "Amazon Elastic Container Service for Kubernetes": "74.40",
    "EC2 - Other": "63.10",
    "Amazon Simple Storage Service": "0.031",
}


class _Bridge:
    """What account_usage needs of fakesnow (the emulator's bridge, without a server)."""

    def __init__(self, fs: FakeSnow) -> None:
        self._fs, self._conn = fs, fs.connect()

    def execute(self, sql: str) -> None:
        self._conn.cursor().execute(sql)

    def table_exists(self, database: str, schema: str, name: str) -> bool:
        found = self._fs.duck_conn.execute(
            "select 1 from duckdb_tables() where upper(database_name) = ? and upper(schema_name) = ? "
            "and upper(table_name) = ?",
            [database, schema, name],
        ).fetchone()
        return found is not None


def _hour(day: int, hour: int, month: int = 3) -> dict[str, object]:
    start = datetime(2026, month, day, hour, tzinfo=UTC)
    return {"START_TIME": start, "END_TIME": start + timedelta(hours=1)}


@pytest.fixture
def account_sql() -> Iterator[Sql]:
    """ACCOUNT_USAGE in fakesnow: 10 Openflow hours in March at 0.0225 credits (a SMALL runtime's one
    vCPU), 2 warehouse hours, and rows the report must leave out."""
    from openflow_sandbox.snowflake.state import AccountState

    fs = FakeSnow(create_database_on_connect=False, create_schema_on_connect=False)
    bridge, state = _Bridge(fs), AccountState()
    openflow = {"SERVICE_TYPE": "OPENFLOW_COMPUTE_BYOC", "CREDITS_USED_COMPUTE": Decimal("0.0225")}
    openflow |= {"CREDITS_USED_CLOUD_SERVICES": 0, "CREDITS_USED": Decimal("0.0225")}
    account_usage.load(
        state,
        bridge,
        "METERING_HISTORY",
        [_hour(2, h) | openflow for h in range(10)]
        + [_hour(28, 23, month=2) | openflow]  # February: outside the month
        + [_hour(2, 1) | {"SERVICE_TYPE": "WAREHOUSE_METERING", "NAME": WAREHOUSE, "CREDITS_USED": 5}],
    )
    usage = {"DATA_PLANE_ID": "dp-1", "DATA_PLANE_TYPE": "BYOC", "DATA_PLANE_CREDITS_USED": 0}
    account_usage.load(
        state,
        bridge,
        "OPENFLOW_USAGE_HISTORY",
        [
            _hour(2, h) | usage | {"RUNTIME_NAME": RUNTIME, "RUNTIME_CREDITS_USED": Decimal("0.0225")}
            for h in range(8)
        ]
        + [
            _hour(2, h) | usage | {"RUNTIME_NAME": "OTHER_RT", "RUNTIME_CREDITS_USED": Decimal("0.0225")}
            for h in (8, 9)
        ],
    )
    wh = {
        "WAREHOUSE_ID": 7,
        "CREDITS_USED_COMPUTE": Decimal("0.2"),
        "CREDITS_USED_CLOUD_SERVICES": Decimal("0.01"),
    }
    account_usage.load(
        state,
        bridge,
        "WAREHOUSE_METERING_HISTORY",
        [_hour(2, h) | wh | {"WAREHOUSE_NAME": WAREHOUSE, "CREDITS_USED": Decimal("0.21")} for h in (3, 4)]
        + [_hour(2, 3) | wh | {"WAREHOUSE_NAME": "COMPUTE_WH", "CREDITS_USED": Decimal(9)}],
    )
    sql = Sql(fs.connect())
    try:
        yield sql
    finally:
        sql.close()
        fs.duck_conn.close()


def _result(groups: dict[str, str], *, start: str = "2026-03-01", end: str = "2026-04-01") -> dict[str, Any]:
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": start, "End": end},
                "Total": {},
                "Groups": [
                    {"Keys": [s], "Metrics": {"UnblendedCost": {"Amount": a, "Unit": "USD"}}}
                    for s, a in groups.items()
                ],
                "Estimated": False,
            }
        ],
        "DimensionValueAttributes": [],
    }


class RecordingCe:
    """A Cost Explorer client that records each request (moto's, or one raising `error`)."""

    def __init__(self, client: Any = None, error: BaseException | None = None) -> None:
        self.client, self.error, self.requests = client, error, []  # type: ignore[var-annotated]

    def get_cost_and_usage(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        if self.error is not None:
            raise self.error
        result: dict[str, Any] = self.client.get_cost_and_usage(**kwargs)
        return result


@pytest.fixture
def ce() -> Iterator[RecordingCe]:
    with mock_aws():
        yield RecordingCe(boto3.client("ce", region_name="us-east-1"))


def queue(*results: dict[str, Any]) -> None:
    """moto answers the next distinct GetCostAndUsage requests with these, in order."""
    for result in results:
        moto_api_backend.set_ce_cost_usage(result=result, account_id=DEFAULT_ACCOUNT_ID)


def run(
    *argv: str, sql: Any = None, ce: Any = None, now: datetime = NOW, config: Path | None = REQUEST
) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_cost.register(parser.add_subparsers(dest="command", required=True))
    extra = ["-c", str(config)] if config else []
    args = parser.parse_args(["cost", "--measured", *extra, *argv])
    out, err = io.StringIO(), io.StringIO()
    sessions = (lambda role: contextlib.nullcontext(sql)) if sql is not None else None
    code = args.func(args, stdout=out, stderr=err, now=now, snowflake=sessions, ce=ce)
    return code, out.getvalue(), err.getvalue()


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetCostAndUsage")


# --- the sums -----------------------------------------------------------------------------------
def test_json_sums_the_months_rows_at_the_credit_price_against_the_scheduled_model(
    account_sql: Sql, ce: RecordingCe
) -> None:
    queue(_result(AWS))
    code, out, err = run("--month", "2026-03", "--json", sql=account_sql, ce=ce)
    assert code == 0, err
    report = json.loads(out)
    openflow = Decimal("0.0225") * 10  # February's hour and the warehouse's metering row left out
    warehouse = Decimal("0.21") * 2  # COMPUTE_WH left out
    snowflake = (openflow + warehouse) * PRICE
    aws = sum(Decimal(a) for a in AWS.values())
    assert report["snowflake_usd"] == pytest.approx(float(snowflake))
    assert report["aws_usd"] == pytest.approx(float(aws))
    assert report["total_usd"] == pytest.approx(float(snowflake + aws))
    request = load_request_file(REQUEST)
    assert request.schedule is not None
    prices = with_runtime_size(load_prices(), request.runtime.size.value)
    model = scheduled_cost(prices, request.schedule, month="2026-03")
    assert report["modelled_usd"] == pytest.approx(float(model.scheduled.total_usd))
    assert report["always_on_usd"] == pytest.approx(float(model.always_on.total_usd))
    saved = model.always_on.total_usd - (snowflake + aws)
    assert report["saved_usd"] == pytest.approx(float(saved))
    assert report["saved_percent"] == pytest.approx(float(saved * 100 / model.always_on.total_usd), abs=0.05)
    rows = report["rows"]
    assert (len(rows["metering"]), len(rows["openflow_usage"]), len(rows["warehouse_metering"])) == (
        10,
        10,
        2,
    )
    assert {r["service_type"] for r in rows["metering"]} == {"OPENFLOW_COMPUTE_BYOC"}
    assert sorted(r["service"] for r in rows["aws"]) == sorted(AWS)
    lines = {line["key"]: line for line in report["lines"]}
    assert lines["runtime:POSTGRES_CDC_RUNTIME"]["credits"] == pytest.approx(0.18)
    assert lines["runtime:OTHER_RT"]["in_total"] is False
    assert lines["openflow_compute"]["modelled_usd"] == pytest.approx(
        float(model.scheduled.line("openflow_service").usd)
    )
    assert lines["aws:EC2 - Other"]["modelled_keys"] == ["nat"]
    assert {n["key"] for n in report["not_measured"]} == {"ingestion", "telemetry"}
    assert report["tag"] == {"key": "openflow:deployment", "value": DEPLOYMENT}
    assert any("OTHER_RT" in note for note in report["notes"])


def test_cost_explorer_is_asked_for_the_month_by_service_filtered_by_the_deployments_tag(
    account_sql: Sql, ce: RecordingCe
) -> None:
    queue(_result(AWS))
    code, _, err = run("--month", "2026-03", "--json", sql=account_sql, ce=ce)
    assert code == 0, err
    assert ce.requests == [
        {
            "TimePeriod": {"Start": "2026-03-01", "End": "2026-04-01"},
            "Granularity": "MONTHLY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            "Filter": {"Tags": {"Key": "openflow:deployment", "Values": [DEPLOYMENT]}},
        }
    ]


def test_the_cost_explorer_client_is_made_in_us_east_1(
    account_sql: Sql, ce: RecordingCe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openflow_autopilot.aws import clients

    made: list[tuple[str, str | None]] = []
    monkeypatch.setattr(clients, "client", lambda service, region=None: made.append((service, region)) or ce)
    queue(_result(AWS))
    code, _, err = run("--month", "2026-03", sql=account_sql)
    assert code == 0, err
    assert made == [("ce", "us-east-1")]


def test_a_credit_price_changes_the_snowflake_side_only(account_sql: Sql, ce: RecordingCe) -> None:
    queue(_result(AWS))
    code, out, _ = run("--month", "2026-03", "--json", "--credit-price", "2", sql=account_sql, ce=ce)
    report = json.loads(out)
    assert code == 0
    assert report["snowflake_usd"] == pytest.approx(float((Decimal("0.225") + Decimal("0.42")) * 2))
    assert report["aws_usd"] == pytest.approx(float(sum(Decimal(a) for a in AWS.values())))


def test_text_prints_measured_against_modelled_line_by_line_and_the_saving(
    account_sql: Sql, ce: RecordingCe
) -> None:
    queue(_result(AWS))
    code, out, err = run("--month", "2026-03", sql=account_sql, ce=ce)
    assert code == 0, err
    assert "Measured cost of SALES_CDC_DEPLOYMENT, 2026-03 (UTC, 2026-03-01 00:00 to 2026-04-01 00:00" in out
    assert "SNOWFLAKE.ACCOUNT_USAGE as ACCOUNTADMIN, $4.3/credit" in out
    assert (
        "Openflow compute (OPENFLOW_COMPUTE_BYOC)" in out and "of which runtime POSTGRES_CDC_RUNTIME" in out
    )
    assert "warehouse OPENFLOW_COMPUTE_WH" in out
    for service in AWS:
        assert service in out
    assert "Modelled, not measured here:" in out and "Ingestion" in out
    assert "Measured saving against the always-on month: $" in out


def test_the_current_month_is_measured_so_far_against_the_model_over_the_same_hours(
    account_sql: Sql, ce: RecordingCe
) -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    queue(_result(AWS, end="2026-03-11"))
    code, out, err = run("--json", sql=account_sql, ce=ce, now=now)
    assert code == 0, err
    report = json.loads(out)
    assert report["month"] == "2026-03" and report["complete"] is False
    assert report["period_end"].startswith("2026-03-10T12:00:00")
    assert ce.requests[0]["TimePeriod"] == {"Start": "2026-03-01", "End": "2026-03-11"}
    request = load_request_file(REQUEST)
    prices = with_runtime_size(load_prices(), request.runtime.size.value)
    hours = Decimal(9 * 24 + 12)
    always = monthly_cost(prices, hours_in_month=hours, volume_fraction=hours / (31 * 24))
    assert report["always_on_usd"] == pytest.approx(float(always.total_usd))
    assert report["modelled_usd"] < report["always_on_usd"]
    assert any("the month so far" in note for note in report["notes"])


def test_without_a_schedule_the_model_is_the_always_on_month(
    account_sql: Sql, ce: RecordingCe, tmp_path: Path
) -> None:
    text = REQUEST.read_text()
    unscheduled = tmp_path / "request.yaml"
    unscheduled.write_text(text[: text.index("schedule:")] + text[text.index("notifications:") :])
    queue(_result(AWS))
    code, out, err = run("--month", "2026-03", "--json", sql=account_sql, ce=ce, config=unscheduled)
    assert code == 0, err
    report = json.loads(out)
    assert report["modelled_usd"] == report["always_on_usd"]
    assert "always on: the request has no schedule" in report["modelled_basis"]


def test_the_statements_are_the_catalogued_account_usage_shapes(account_sql: Sql, ce: RecordingCe) -> None:
    queue(_result(AWS))
    assert run("--month", "2026-03", sql=account_sql, ce=ce)[0] == 0
    catalog = load_catalog()
    ids = [getattr(catalog.match(s), "id", None) for s in account_sql.executed]
    assert ids == ["select-openflow-metering", "select-openflow-usage", "select-warehouse-metering"]


# --- the month --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("month", "says"),
    [
        ("2026-13", "is not a month as YYYY-MM"),
        ("26-03", "is not a month as YYYY-MM"),
        ("1999-12", "outside the months counted"),
        ("2026-05", "has not started yet"),
    ],
)
def test_a_month_out_of_range_is_refused_before_anything_is_read(month: str, says: str) -> None:
    code, out, err = run("--month", month, sql=object(), ce=RecordingCe(error=AssertionError("called")))
    assert code == 2 and out == ""
    assert says in err


def test_measured_needs_the_request_and_is_not_combined_with_actual() -> None:
    code, _, err = run(config=None)
    assert code == 2 and "--measured needs -c FILE" in err
    code, _, err = run("--actual", "--bucket", "b")
    assert code == 2 and "two reports" in err


# --- failures: one line with the fix, exit 2 ----------------------------------------------------
class RefusingCursor:
    description = None

    def execute(self, statement: str) -> None:
        raise sf_errors.ProgrammingError(
            msg="SQL compilation error:\nObject 'SNOWFLAKE.ACCOUNT_USAGE.METERING_HISTORY' does not exist "
            "or not authorized.",
            errno=2003,
            sqlstate="42S02",
        )


class RefusingConnection:
    def cursor(self) -> RefusingCursor:
        return RefusingCursor()

    def close(self) -> None:
        pass


def test_a_role_without_account_usage_gets_the_grant_that_fixes_it_and_cost_explorer_is_not_called() -> None:
    ce = RecordingCe(error=AssertionError("Cost Explorer must not be called"))
    code, out, err = run("--month", "2026-03", "--json", sql=Sql(RefusingConnection()), ce=ce)
    assert code == 2 and ce.requests == []
    assert "role ACCOUNTADMIN cannot read SNOWFLAKE.ACCOUNT_USAGE.METERING_HISTORY" in err
    assert "GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE ACCOUNTADMIN" in err
    assert "Traceback" not in err
    failure = json.loads(out)
    assert failure["error"] == "PermissionDenied" and failure["exit_code"] == 2
    assert "USAGE_VIEWER" in failure["fix"] and "Enabling other roles to use schemas" in failure["fix"]


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException", "User not enabled for cost explorer access"),
        client_error(
            "DataUnavailableException", "Data is not available. Please try to adjust the time period."
        ),
    ],
)
def test_cost_explorer_not_enabled_says_to_enable_it_and_wait_a_day(
    account_sql: Sql, error: ClientError
) -> None:
    code, out, err = run("--month", "2026-03", "--json", sql=account_sql, ce=RecordingCe(error=error))
    assert code == 2
    assert "enable Cost Explorer in the Billing and Cost Management console" in err and "24 hours" in err
    assert json.loads(out)["error"] == "PreconditionFailed"


def test_cost_explorer_denied_to_the_caller_names_the_permission(account_sql: Sql) -> None:
    error = client_error(
        "AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized to perform ce:X"
    )
    code, _, err = run("--month", "2026-03", sql=account_sql, ce=RecordingCe(error=error))
    assert code == 2 and "allow ce:GetCostAndUsage" in err


def test_nothing_tagged_while_the_account_has_costs_says_to_activate_the_tag(
    account_sql: Sql, ce: RecordingCe
) -> None:
    account = _result({})
    account["ResultsByTime"][0]["Total"] = {"UnblendedCost": {"Amount": "412.5", "Unit": "USD"}}
    queue(_result({}), account)
    code, _, err = run("--month", "2026-03", sql=account_sql, ce=ce)
    assert code == 2
    assert "$412.50 of costs for the account in 2026-03 but none tagged openflow:deployment" in err
    assert "activate openflow:deployment in Billing and Cost Management > Cost allocation tags" in err
    assert "24 hours" in err
    assert len(ce.requests) == 2 and "Filter" not in ce.requests[1] and "GroupBy" not in ce.requests[1]


def test_an_account_without_any_cost_yet_is_a_note_not_an_error(account_sql: Sql, ce: RecordingCe) -> None:
    queue(_result({}), _result({}))
    code, out, err = run("--month", "2026-03", "--json", sql=account_sql, ce=ce)
    assert code == 0, err
    report = json.loads(out)
    assert report["aws_usd"] == 0 and any("no AWS costs" in n for n in report["notes"])


def test_nothing_measured_anywhere_exits_1(ce: RecordingCe) -> None:
    empty = type("EmptySql", (), {"query": lambda self, statement: []})()
    queue(_result({}), _result({}))
    code, _, err = run("--month", "2026-03", sql=empty, ce=ce)
    assert code == 1 and "nothing measured for SALES_CDC_DEPLOYMENT in 2026-03" in err


def test_aws_failures_are_one_line_with_the_fix_and_credentials_in_messages_are_masked(
    account_sql: Sql,
) -> None:
    code, _, err = run("--month", "2026-03", sql=account_sql, ce=RecordingCe(error=NoCredentialsError()))
    assert code == 2 and "AWS credentials were not found" in err and "aws configure" in err
    leaky = client_error("ValidationException", "bad filter password=hunter2")
    code, out, err = run("--month", "2026-03", "--json", sql=account_sql, ce=RecordingCe(error=leaky))
    assert code == 2 and "ValidationException" in err
    assert "hunter2" not in err + out and "Traceback" not in err


def test_cost_explorer_pages_are_all_read() -> None:
    pages = [
        {**_result({"EC2 - Other": "1.5"}), "NextPageToken": "p2"},
        _result({"Amazon Simple Storage Service": "0.5"}),
    ]

    class Paged:
        def __init__(self) -> None:
            self.tokens: list[str | None] = []

        def get_cost_and_usage(self, **kwargs: Any) -> dict[str, Any]:
            self.tokens.append(kwargs.get("NextPageToken"))
            return pages[len(self.tokens) - 1]

    paged = Paged()
    cost = read_aws(paged, measured_period("2026-03", NOW), DEPLOYMENT)
    assert paged.tokens == [None, "p2"]
    assert sum(r.amount_usd for r in cost.rows) == Decimal(2)
