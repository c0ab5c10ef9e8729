"""Openflow's stop/start steps over SQL are idempotent: a fake session answers SHOW/DESC from a
small state and records every statement, so a second stop is seen to issue nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from fakes import FakeSql

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import BudgetExhausted, NotReadyYet, PreconditionFailed
from openflow_autopilot.power.openflow import (
    Poll,
    connector_reached,
    locate,
    resume_runtime,
    runtime_reached,
    start_connector,
    stop_connector,
    suspend_runtime,
    suspend_warehouse,
)

RUNTIME = "OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME"
CONNECTOR = "OPENFLOW.OPENFLOW.POSTGRES_CDC"


@dataclass(eq=False)
class OpenflowSql(FakeSql):
    """Runtime, connector, deployment and warehouse that move from SUSPENDING to SUSPENDED (and so
    on) after `settle_after` status reads, as SYSTEM$WAIT and DESC see them."""

    runtime: str = "ACTIVE"
    connector: str | None = "RUNNING"
    deployment: str = "ACTIVE"
    warehouse: str | None = "STARTED"
    other_runtimes: list[dict[str, Any]] = field(default_factory=list)
    settle_after: int = 1  # status reads before a transition completes
    executed: list[str] = field(default_factory=list)
    _reads: int = 0

    def _settle(self) -> None:
        self._reads += 1
        if self._reads < self.settle_after:
            return
        self.runtime = {"SUSPENDING": "SUSPENDED", "RESUMING": "ACTIVE"}.get(self.runtime, self.runtime)
        if self.connector:
            self.connector = {"STOPPING": "STOPPED", "STARTING": "RUNNING"}.get(
                self.connector, self.connector
            )

    def query(self, statement: str) -> list[dict[str, Any]]:
        if statement.startswith("ALTER"):
            self.executed.append(statement)
            self._reads = 0
            if statement.endswith("RUNTIME " + RUNTIME + " SUSPEND"):
                self.runtime = "SUSPENDING"
            elif statement.endswith(" RESUME"):
                self.runtime = "RESUMING"
            elif statement.endswith(" STOP"):
                self.connector = "STOPPING"
            elif statement.endswith(" START"):
                self.connector = "STARTING"
            elif "WAREHOUSE" in statement:
                self.warehouse = "SUSPENDED"
            return []
        if statement.startswith("SELECT SYSTEM$WAIT"):
            want = re.search(r"'(\w+)'", statement)
            current = self.runtime if "RUNTIME" in statement else self.connector
            if want and current != want.group(1):
                raise PreconditionFailed("Snowflake error 630: timed out waiting")
            return [{"ok": "OK"}]
        if statement.startswith("DESC OPENFLOW RUNTIME"):
            self._settle()
            return [{"status": self.runtime}]
        if statement.startswith("DESC OPENFLOW CONNECTOR"):
            self._settle()
            return [{"status": self.connector}]
        if statement.startswith("SHOW OPENFLOW CONNECTORS"):
            return [{"name": "POSTGRES_CDC"}] if self.connector else []
        if statement.startswith("SHOW OPENFLOW DEPLOYMENTS"):
            return [{"name": "SALES_CDC_DEPLOYMENT", "key": "k1", "status": self.deployment}]
        if statement.startswith("SHOW OPENFLOW RUNTIMES"):
            mine = {
                "database_name": "OPENFLOW",
                "schema_name": "OPENFLOW",
                "name": "POSTGRES_CDC_RUNTIME",
                "deployment": "SALES_CDC_DEPLOYMENT",
                "node_type": "SMALL",
                "status": self.runtime,
            }
            return [mine, *self.other_runtimes]
        if statement.startswith("SHOW WAREHOUSES"):
            return [{"name": "OPENFLOW_COMPUTE_WH", "state": self.warehouse}] if self.warehouse else []
        raise AssertionError(f"unexpected statement {statement}")

    def execute(self, statement: str) -> None:
        self.query(statement)


@pytest.fixture
def request_() -> ProvisionRequest:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": "MYORG-MYACCOUNT",
                "admin_user": "JDOE",
                "credentials_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/x-Ab"
                ),
            },
            "openflow": {"deployment_name": "SALES_CDC_DEPLOYMENT"},
            "aws": {"region": "us-east-1"},
            "source": {"host": "db", "database": "sales", "tables": ["public.t"]},
        }
    )


def test_a_stop_run_twice_issues_its_statements_once_and_notes_the_rest(request_: ProvisionRequest) -> None:
    sql = OpenflowSql()
    first = [stop_connector(sql, request_), suspend_runtime(sql, request_)]  # type: ignore[arg-type]
    assert [r.status for r in first] == ["changed", "changed"]
    assert sql.executed == [
        f"ALTER OPENFLOW CONNECTOR {CONNECTOR} STOP",
        f"ALTER OPENFLOW RUNTIME {RUNTIME} SUSPEND",
    ]
    runtime_reached(sql, request_, want="SUSPENDED", state=Poll(), max_checks=5)  # type: ignore[arg-type]
    second = [stop_connector(sql, request_), suspend_runtime(sql, request_)]  # type: ignore[arg-type]
    assert [r.status for r in second] == ["unchanged", "unchanged"]
    assert "already STOPPED: nothing to do" in second[0].notes[0]
    assert "already SUSPENDED: nothing to do" in second[1].notes[0]
    assert len(sql.executed) == 2


def test_a_start_run_twice_issues_its_statements_once(request_: ProvisionRequest) -> None:
    sql = OpenflowSql(runtime="SUSPENDED", connector="STOPPED")
    assert resume_runtime(sql, request_).status == "changed"  # type: ignore[arg-type]
    assert start_connector(sql, request_).status == "changed"  # type: ignore[arg-type]
    runtime_reached(sql, request_, want="ACTIVE", state=Poll(), max_checks=5)  # type: ignore[arg-type]
    assert resume_runtime(sql, request_).status == "unchanged"  # type: ignore[arg-type]
    assert start_connector(sql, request_).status == "unchanged"  # type: ignore[arg-type]
    assert len(sql.executed) == 2


def test_a_runtime_in_transition_is_retried_and_a_failed_one_is_a_diagnosis(
    request_: ProvisionRequest,
) -> None:
    with pytest.raises(NotReadyYet):
        suspend_runtime(OpenflowSql(runtime="RESUMING", settle_after=99), request_)  # type: ignore[arg-type]
    with pytest.raises(PreconditionFailed, match="RESUME RECOVERY"):
        suspend_runtime(OpenflowSql(runtime="SUSPEND_FAILED"), request_)  # type: ignore[arg-type]
    with pytest.raises(NotReadyYet, match="deployment"):
        resume_runtime(OpenflowSql(runtime="SUSPENDED", deployment="INACTIVE"), request_)  # type: ignore[arg-type]


def test_waiting_polls_until_the_status_and_gives_up_after_the_budget(request_: ProvisionRequest) -> None:
    sql = OpenflowSql(settle_after=3)
    suspend_runtime(sql, request_)  # type: ignore[arg-type]
    state = Poll()
    polls = []
    while not state.done:
        state = runtime_reached(sql, request_, want="SUSPENDED", state=state, max_checks=5)  # type: ignore[arg-type]
        polls.append(state.status)
    assert polls == ["SUSPENDING", "SUSPENDING", "SUSPENDED"]
    stuck = OpenflowSql(settle_after=99)
    stop_connector(stuck, request_)  # type: ignore[arg-type]
    with pytest.raises(BudgetExhausted, match="still STOPPING after 2 checks"):
        state = Poll()
        for _ in range(3):
            state = connector_reached(stuck, request_, want="STOPPED", state=state, max_checks=2)  # type: ignore[arg-type]


def test_a_missing_connector_is_nothing_to_stop_but_cannot_be_started(request_: ProvisionRequest) -> None:
    sql = OpenflowSql(connector=None)
    assert "does not exist: nothing to stop" in stop_connector(sql, request_).notes[0]  # type: ignore[arg-type]
    assert connector_reached(sql, request_, want="STOPPED", state=Poll(), max_checks=2).done  # type: ignore[arg-type]
    with pytest.raises(PreconditionFailed, match="does not exist"):
        start_connector(sql, request_)  # type: ignore[arg-type]


def test_the_warehouse_is_suspended_once(request_: ProvisionRequest) -> None:
    sql = OpenflowSql()
    assert suspend_warehouse(sql, request_).status == "changed"  # type: ignore[arg-type]
    again = suspend_warehouse(sql, request_)  # type: ignore[arg-type]
    assert again.status == "unchanged" and "already SUSPENDED" in again.notes[0]


def test_locate_names_the_key_and_other_runtimes_on_the_same_nodes(request_: ProvisionRequest) -> None:
    other = {
        "database_name": "OPENFLOW",
        "schema_name": "OPENFLOW",
        "deployment": "SALES_CDC_DEPLOYMENT",
        "node_type": "SMALL",
    }
    sql = OpenflowSql(
        other_runtimes=[
            {**other, "name": "ORDERS", "status": "ACTIVE"},
            {**other, "name": "IDLE", "status": "SUSPENDED"},
            {**other, "name": "BIG", "status": "ACTIVE", "node_type": "LARGE"},
        ]
    )
    found = locate(sql, request_)  # type: ignore[arg-type]
    assert found["key"] == "k1" and found["node_type"] == "SMALL"
    assert found["shared_with"] == ["OPENFLOW.OPENFLOW.ORDERS"]


def test_a_failed_connector_does_not_block_a_stop(request_: ProvisionRequest) -> None:
    sql = OpenflowSql(connector="START_FAILED")
    result = stop_connector(sql, request_)  # type: ignore[arg-type]
    assert result.status == "unchanged" and "START_FAILED: not stopped" in result.notes[0]
    assert connector_reached(sql, request_, want="STOPPED", state=Poll(), max_checks=2).done  # type: ignore[arg-type]
    with pytest.raises(PreconditionFailed, match="FAILED"):
        connector_reached(sql, request_, want="RUNNING", state=Poll(), max_checks=2)  # type: ignore[arg-type]


class Gen1Sql:
    """SHOW lists the integration without data_plane_id; DESC has it (desc-oflow-data-plane-integration)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def query(self, statement: str) -> list[dict[str, Any]]:
        self.queries.append(statement)
        if statement == "SHOW OPENFLOW DATA PLANE INTEGRATIONS":
            return [{"name": "OPENFLOW_DATAPLANE_ABC", "enabled": "true"}]
        if statement == "DESC OPENFLOW DATA PLANE INTEGRATION OPENFLOW_DATAPLANE_ABC":
            return [{"enabled": "true", "data_plane_id": "abc-123", "event_table": None}]
        raise AssertionError(statement)


def test_gen1_locate_reads_the_key_from_desc(request_: ProvisionRequest) -> None:
    data = request_.model_dump(mode="json")
    data["openflow"]["generation"] = 1
    sql = Gen1Sql()
    found = locate(sql, parse_request(data))  # type: ignore[arg-type]
    assert (found["deployment"], found["key"], found["generation"]) == (
        "OPENFLOW_DATAPLANE_ABC",
        "abc-123",
        1,
    )
    assert sql.queries[-1].startswith("DESC OPENFLOW DATA PLANE INTEGRATION")
