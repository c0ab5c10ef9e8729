"""`cost --measured` end to end in the sandbox: a month of usage seeded in the Snowflake emulation's
ACCOUNT_USAGE views and moto's Cost Explorer, read back by the command over the connector's wire
protocol and boto3; a role without IMPORTED PRIVILEGES is refused by the emulation as Snowflake
refuses it, and reads the same figures once granted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest
from statement_catalog_check import missing_message, uncatalogued

from openflow_autopilot.config import parse_request
from openflow_autopilot.cost.model import scheduled_cost
from openflow_autopilot.power.months import month_bounds
from openflow_autopilot.power.schedule import on_hours_between
from openflow_autopilot.snowflake.session import SnowflakeEndpoint, load_credentials, session
from openflow_sandbox.environment import ACCOUNT, LOGIN_USER, REGION, Sandbox
from openflow_sandbox.measured_cost import rehearse_measured_cost, request_prices

pytestmark = pytest.mark.sandbox

MONTH, NOW = "2026-03", datetime(2026, 4, 2, 9, tzinfo=UTC)
PRICE = Decimal("4.30")  # the default price table's credit price
OPENFLOW_PER_VCPU_HOUR = Decimal("0.0225")
WAREHOUSE_PER_ON_HOUR = Decimal(4) / 60 * Decimal("1.05")  # MEDIUM, one busy minute, 5% cloud services


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(with_postgres=False) as sb:  # no source is read here
        yield sb


def _as_accountadmin(sandbox: Sandbox, *statements: str) -> None:
    creds = load_credentials(boto3.client("secretsmanager", region_name=REGION), sandbox.login_secret_arn)
    endpoint = SnowflakeEndpoint(host=sandbox.snowflake.host, port=sandbox.snowflake.port, protocol="http")
    with session(ACCOUNT, creds, role="ACCOUNTADMIN", endpoint=endpoint) as sql:
        for statement in statements:
            sql.execute(statement)


def test_the_measured_month_is_the_seeded_usage_at_the_credit_price(sandbox: Sandbox) -> None:
    request = sandbox.request()
    schedule = parse_request(request).schedule
    assert schedule is not None
    start, end = month_bounds("UTC", MONTH)
    on_hours = on_hours_between(schedule, start, end)  # the example schedule's weekday hours in March
    assert on_hours > 0
    openflow = on_hours * OPENFLOW_PER_VCPU_HOUR  # a SMALL runtime: one vCPU
    warehouse = on_hours * WAREHOUSE_PER_ON_HOUR

    since = len(sandbox.snowflake.statements)
    measured = rehearse_measured_cost(sandbox, request, month=MONTH, now=NOW)
    assert measured["exit_code"] == 0, measured
    seeded = measured["seeded"]
    assert seeded["on_hours"] == pytest.approx(float(on_hours))
    assert seeded["openflow_credits"] == pytest.approx(float(openflow))
    assert measured["snowflake_usd"] == pytest.approx(float((openflow + warehouse) * PRICE))
    aws = sum(Decimal(str(v)) for v in seeded["aws_usd"].values())
    assert measured["aws_usd"] == pytest.approx(float(aws))
    assert measured["total_usd"] == pytest.approx(float((openflow + warehouse) * PRICE + aws))
    assert measured["saved_usd"] == pytest.approx(measured["always_on_usd"] - measured["total_usd"])
    rows = measured["rows"]
    hours = int(on_hours)
    assert (len(rows["metering"]), len(rows["openflow_usage"]), len(rows["warehouse_metering"])) == (
        hours,
    ) * 3
    assert all(r["start_time"] >= "2026-03-01" for r in rows["metering"])  # not the hour before the month
    assert {r["warehouse_name"] for r in rows["warehouse_metering"]} == {"OPENFLOW_COMPUTE_WH"}
    assert {r["service"] for r in rows["aws"]} == set(seeded["aws_usd"])
    lines = {line["key"]: line for line in measured["lines"]}
    assert lines["runtime:POSTGRES_CDC_RUNTIME"]["credits"] == pytest.approx(float(openflow))
    # the model's month is March in Tokyo (scheduled_cost), the measured one March in UTC
    model = scheduled_cost(request_prices(parse_request(request)), schedule, month=MONTH)
    assert lines["openflow_compute"]["usd"] == pytest.approx(float(openflow * PRICE))
    assert lines["openflow_compute"]["modelled_usd"] == pytest.approx(
        float(model.scheduled.line("openflow_service").usd)
    )
    assert "measured in UTC" in measured["modelled_basis"]
    missing = uncatalogued(sandbox, since)
    assert not missing, missing_message(missing)

    # a role without the grant: the emulation answers as Snowflake does, the command names the grant
    _as_accountadmin(
        sandbox, "CREATE ROLE IF NOT EXISTS COST_READER", f"GRANT ROLE COST_READER TO USER {LOGIN_USER}"
    )
    reader = sandbox.request(snowflake__login_role="COST_READER")
    refused = rehearse_measured_cost(sandbox, reader, month=MONTH, now=NOW, seed_usage=False)
    assert refused["exit_code"] == 2 and refused["error"] == "PermissionDenied"
    assert "GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE COST_READER" in refused["fix"]
    denied = [s for s in sandbox.snowflake.statements if s.role == "COST_READER" and "ACCOUNT_USAGE" in s.sql]
    assert denied and not any(s.ok for s in denied)

    _as_accountadmin(sandbox, "GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE COST_READER")
    granted = rehearse_measured_cost(sandbox, reader, month=MONTH, now=NOW, seed_usage=False)
    assert granted["exit_code"] == 0, granted
    assert granted["total_usd"] == pytest.approx(measured["total_usd"])
    assert granted["role"] == "COST_READER"
