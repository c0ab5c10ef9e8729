"""The verify phase's decisions without a network: finding the canary, the latency, and what the
failure diagnosis says in each situation of the replication slot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import FakeSql

from openflow_autopilot.errors import PermissionDenied, PreconditionFailed
from openflow_autopilot.openflow.canary import Canary, canary_report, find_canary, lsn_value
from openflow_autopilot.phases.verify import diagnose_verification, verification_failure

CANARY = Canary(
    id="0b6f4c9e-1f7e-4a55-9a57-3c1f0e1d2a77",
    schema_name="public",
    table_name="openflow_autopilot_canary",
    inserted_at="2026-11-02T09:00:00+00:00",
    lsn="0/1505718",
    slot_lsn_at_insert="0/1500000",
)


class CanarySql(FakeSql):
    """The canary table's rows; `error` is raised for every statement but DESC (a missing table, a
    refused privilege); the connector is RUNNING."""

    def __init__(self, rows: list[dict[str, Any]] | None = None, error: Exception | None = None) -> None:
        super().__init__(prefixes={"DESC OPENFLOW CONNECTOR": [{"status": "RUNNING"}]})
        self.rows, self.error = rows or [], error

    def query(self, statement: str) -> list[dict[str, Any]]:
        if self.error is not None and not statement.startswith("DESC"):
            self.executed.append(statement)
            raise self.error
        return super().query(statement)

    def respond(self, statement: str) -> list[dict[str, Any]]:
        return super().respond(statement) if statement.startswith("DESC") else self.rows


class FakeCursor:
    def __init__(self, row: Any) -> None:
        self.row = row

    def fetchone(self) -> Any:
        return self.row


class FakePg:
    """pg_replication_slots as (active, confirmed_flush_lsn, retained bytes), or no slot."""

    def __init__(self, slot: tuple[bool, str, int] | None) -> None:
        self.slot = slot

    def execute(self, query: str, params: Any = None) -> FakeCursor:
        assert "pg_replication_slots" in query
        return FakeCursor(self.slot)


def test_lsns_compare_as_wal_positions_not_as_text() -> None:
    assert lsn_value("0/A0000000") > lsn_value("0/9FFFFFFF")
    assert lsn_value("1/0") > lsn_value("0/FFFFFFFF")


def test_the_canary_is_looked_up_by_its_id_in_the_table_named_like_the_source() -> None:
    sql = CanarySql(rows=[{"canary_id": CANARY.id}])
    now = datetime(2026, 11, 2, 9, 0, 4, 250000, tzinfo=UTC)

    found = find_canary(sql, destination_database="openflow_replicated_data", canary=CANARY, now=now)  # type: ignore[arg-type]

    table = 'OPENFLOW_REPLICATED_DATA."public"."openflow_autopilot_canary"'
    assert sql.executed == [f'SELECT "id" AS canary_id FROM {table} WHERE "id" = \'{CANARY.id}\'']  # noqa: S608
    assert found is not None and found.latency_seconds == 4.25
    assert canary_report(CANARY, found, polls=3) == {
        "canary_id": CANARY.id,
        "source_table": "public.openflow_autopilot_canary",
        "destination_table": 'OPENFLOW_REPLICATED_DATA."public"."openflow_autopilot_canary"',
        "inserted_at": CANARY.inserted_at,
        "seen_at": "2026-11-02T09:00:04.250000+00:00",
        "latency_seconds": 4.25,
        "polls": 3,
    }


def test_a_missing_destination_table_means_not_yet_but_other_errors_are_raised() -> None:
    missing = CanarySql(error=PreconditionFailed("Snowflake: Table with name x does not exist!"))
    denied = CanarySql(error=PermissionDenied("Snowflake refused: insufficient privileges"))

    assert find_canary(missing, destination_database="D", canary=CANARY) is None  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        find_canary(denied, destination_database="D", canary=CANARY)  # type: ignore[arg-type]


def test_a_canary_id_that_is_not_a_uuid_never_reaches_the_sql() -> None:
    sql = CanarySql()
    with pytest.raises(ValueError):
        find_canary(sql, destination_database="D", canary=CANARY.model_copy(update={"id": "x' OR 1=1 --"}))  # type: ignore[arg-type]
    assert sql.executed == []


@pytest.mark.parametrize(
    ("slot", "says", "advanced", "passed"),
    [
        (None, "does not exist: the connector never connected", None, None),
        ((False, "0/1500000", 4096), "did not advance", False, False),
        ((True, "0/1502000", 4096), "advanced but not yet past the canary", True, False),
        ((True, "0/1505718", 0), "advanced past the canary", True, True),
    ],
)
def test_the_failure_diagnosis_says_how_far_the_slot_got(
    slot: tuple[bool, str, int] | None, says: str, advanced: bool | None, passed: bool | None
) -> None:
    diagnosis = diagnose_verification(
        FakePg(slot),  # type: ignore[arg-type]
        CanarySql(),  # type: ignore[arg-type]
        canary=CANARY,
        slot_name="openflow_sales_cdc",
        destination_database="D",
        connector="OPENFLOW.OPENFLOW.POSTGRES_CDC",
    )

    assert says in diagnosis.message
    assert (diagnosis.slot_advanced, diagnosis.slot_passed_canary) == (advanced, passed)
    assert "Connector OPENFLOW.OPENFLOW.POSTGRES_CDC is RUNNING." in diagnosis.message


def test_the_verification_failure_is_a_budget_error_carrying_the_diagnosis() -> None:
    error = verification_failure(
        FakePg((False, "0/1500000", 4096)),  # type: ignore[arg-type]
        CanarySql(),  # type: ignore[arg-type]
        canary=CANARY,
        slot_name="openflow_sales_cdc",
        destination_database="D",
        polls=12,
    )

    assert type(error).__name__ == "BudgetExhausted"
    assert error.message.startswith("verification failed after 12 polls: canary")
    assert "did not advance" in error.message and "start the workflow again" in str(error)
