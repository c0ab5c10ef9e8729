"""The Snowflake side of a measured month: SNOWFLAKE.ACCOUNT_USAGE's Openflow BYOC compute
(METERING_HISTORY, SERVICE_TYPE 'OPENFLOW_COMPUTE_BYOC'), the same credits per runtime
(OPENFLOW_USAGE_HISTORY) and the connector's warehouse (WAREHOUSE_METERING_HISTORY), read as the
request's login role. Each statement keeps its page beside it; snowflake/statements.yaml lists them."""

# ruff: noqa: S608  (the statements splice in only literal()s of checked names and formatted instants)

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from pydantic import AwareDatetime

from openflow_autopilot.cost.period import Credits, Frozen, Period
from openflow_autopilot.errors import PermissionDenied, PreconditionFailed
from openflow_autopilot.snowflake.identifiers import check_identifier, literal

# The Openflow BYOC runtimes' credits (openflow-gen2-contract.md, "Cost").
OPENFLOW_SERVICE_TYPE: Final = "OPENFLOW_COMPUTE_BYOC"
ACCOUNT_USAGE_DAYS: Final = 365  # every view read here keeps a year (each page's first line)
# Named by page and section: error text is masked, and a URL's #fragment with it (cli_errors).
ROLES_DOC: Final = (
    "https://docs.snowflake.com/en/sql-reference/account-usage, "
    '"Enabling other roles to use schemas in the SNOWFLAKE database"'
)


class MeteringRow(Frozen):
    service_type: str
    start_time: AwareDatetime
    end_time: AwareDatetime
    entity_id: int | None = None
    name: str | None = None
    credits_used_compute: Credits
    credits_used_cloud_services: Credits
    credits_used: Credits


class OpenflowUsageRow(Frozen):
    start_time: AwareDatetime
    end_time: AwareDatetime
    data_plane_id: str | None = None
    data_plane_type: str | None = None
    runtime_name: str
    runtime_credits_used: Credits
    data_plane_credits_used: Credits


class WarehouseMeteringRow(Frozen):
    start_time: AwareDatetime
    end_time: AwareDatetime
    warehouse_id: int | None = None
    warehouse_name: str
    credits_used: Credits
    credits_used_compute: Credits
    credits_used_cloud_services: Credits


class Queryable(Protocol):
    """snowflake.session.Sql: rows as dicts with lower-case keys."""

    def query(self, statement: str) -> list[dict[str, Any]]: ...


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PreconditionFailed(f"ACCOUNT_USAGE returned {value!r} where a number belongs") from None


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise PreconditionFailed(f"ACCOUNT_USAGE returned {value!r} where a timestamp belongs")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(value: datetime) -> str:
    # a TIMESTAMP_LTZ from an explicit UTC offset: the same instant whatever the session's TIMEZONE
    # (https://docs.snowflake.com/en/sql-reference/date-time-input-output)
    return f"'{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} +00:00'::TIMESTAMP_LTZ"


def _in_period(period: Period) -> str:
    return f"START_TIME >= {_ts(period.start)} AND START_TIME < {_ts(period.end)}"


# https://docs.snowflake.com/en/sql-reference/account-usage/metering_history
def metering_statement(period: Period) -> str:
    return (
        "SELECT SERVICE_TYPE, START_TIME, END_TIME, ENTITY_ID, NAME, CREDITS_USED_COMPUTE, "
        "CREDITS_USED_CLOUD_SERVICES, CREDITS_USED FROM SNOWFLAKE.ACCOUNT_USAGE.METERING_HISTORY "
        f"WHERE SERVICE_TYPE = {literal(OPENFLOW_SERVICE_TYPE)} AND {_in_period(period)} ORDER BY START_TIME"
    )


# https://docs.snowflake.com/en/sql-reference/account-usage/openflow_usage_history
# The page's versions disagree on the runtime's id column (RUNTIME_ID in one, RUNTIME_KEY in another)
# and on DATA_PLANE_NAME and RUNTIME_TYPE; only the columns every version lists are read.
def openflow_usage_statement(period: Period) -> str:
    return (
        "SELECT START_TIME, END_TIME, DATA_PLANE_ID, DATA_PLANE_TYPE, RUNTIME_NAME, RUNTIME_CREDITS_USED, "
        "DATA_PLANE_CREDITS_USED FROM SNOWFLAKE.ACCOUNT_USAGE.OPENFLOW_USAGE_HISTORY "
        f"WHERE DATA_PLANE_TYPE = 'BYOC' AND {_in_period(period)} ORDER BY START_TIME, RUNTIME_NAME"
    )


# https://docs.snowflake.com/en/sql-reference/account-usage/warehouse_metering_history
# CREDITS_USED is before the daily cloud-services adjustment (METERING_DAILY_HISTORY), so it can be a
# little above what is billed.
def warehouse_statement(period: Period, warehouse: str) -> str:
    name = literal(check_identifier(warehouse, "destination.warehouse"))
    return (
        "SELECT START_TIME, END_TIME, WAREHOUSE_ID, WAREHOUSE_NAME, CREDITS_USED, CREDITS_USED_COMPUTE, "
        "CREDITS_USED_CLOUD_SERVICES FROM SNOWFLAKE.ACCOUNT_USAGE.WAREHOUSE_METERING_HISTORY "
        f"WHERE WAREHOUSE_NAME = {name} AND {_in_period(period)} ORDER BY START_TIME"
    )


def _account_usage(sql: Queryable, statement: str, view: str, role: str) -> list[dict[str, Any]]:
    """Rows of one view; a refusal becomes the grant that fixes it. Snowflake answers a view the role
    may not read with "does not exist or not authorized" (errno 2003, PreconditionFailed here)."""
    try:
        return sql.query(statement)
    except (PreconditionFailed, PermissionDenied) as exc:
        if isinstance(exc, PreconditionFailed) and "does not exist or not authorized" not in exc.message:
            raise
        raise PermissionDenied(
            f"role {role} cannot read SNOWFLAKE.ACCOUNT_USAGE.{view} ({' '.join(exc.message.split())})",
            call=f"snowflake: SELECT ... FROM SNOWFLAKE.ACCOUNT_USAGE.{view}",
            fix=f"as ACCOUNTADMIN run GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE {role} "
            "(or grant it the SNOWFLAKE database role that covers the view, USAGE_VIEWER for the usage "
            f"views), or set snowflake.login_role to a role that has it; see {ROLES_DOC}",
        ) from None


class SnowflakeUsage(Frozen):
    metering: list[MeteringRow]
    openflow_usage: list[OpenflowUsageRow]
    warehouse_metering: list[WarehouseMeteringRow]


def read_snowflake(sql: Queryable, period: Period, *, warehouse: str, role: str) -> SnowflakeUsage:
    metering = [
        MeteringRow(
            service_type=str(r["service_type"]),
            start_time=_aware(r["start_time"]),
            end_time=_aware(r["end_time"]),
            entity_id=None if r.get("entity_id") is None else int(r["entity_id"]),
            name=None if r.get("name") is None else str(r["name"]),
            credits_used_compute=_decimal(r.get("credits_used_compute")),
            credits_used_cloud_services=_decimal(r.get("credits_used_cloud_services")),
            credits_used=_decimal(r.get("credits_used")),
        )
        for r in _account_usage(sql, metering_statement(period), "METERING_HISTORY", role)
    ]
    usage = [
        OpenflowUsageRow(
            start_time=_aware(r["start_time"]),
            end_time=_aware(r["end_time"]),
            data_plane_id=None if r.get("data_plane_id") is None else str(r["data_plane_id"]),
            data_plane_type=None if r.get("data_plane_type") is None else str(r["data_plane_type"]),
            runtime_name=str(r.get("runtime_name") or "?"),
            runtime_credits_used=_decimal(r.get("runtime_credits_used")),
            data_plane_credits_used=_decimal(r.get("data_plane_credits_used")),
        )
        for r in _account_usage(sql, openflow_usage_statement(period), "OPENFLOW_USAGE_HISTORY", role)
    ]
    warehouse_rows = [
        WarehouseMeteringRow(
            start_time=_aware(r["start_time"]),
            end_time=_aware(r["end_time"]),
            warehouse_id=None if r.get("warehouse_id") is None else int(r["warehouse_id"]),
            warehouse_name=str(r["warehouse_name"]),
            credits_used=_decimal(r.get("credits_used")),
            credits_used_compute=_decimal(r.get("credits_used_compute")),
            credits_used_cloud_services=_decimal(r.get("credits_used_cloud_services")),
        )
        for r in _account_usage(
            sql, warehouse_statement(period, warehouse), "WAREHOUSE_METERING_HISTORY", role
        )
    ]
    return SnowflakeUsage(metering=metering, openflow_usage=usage, warehouse_metering=warehouse_rows)
