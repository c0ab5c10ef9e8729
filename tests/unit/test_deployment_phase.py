"""The deployment phase on hand-made SHOW/DESC rows: a gen 2 deployment's event table is recorded in
its COMMENT (SHOW/DESC OPENFLOW DEPLOYMENTS have no event_table column), and a gen 1 integration's
data_plane_id and event_table come from DESC (SHOW does not document them)."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeSql

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.openflow.event_table import comment_with_event_table, recorded_event_table
from openflow_autopilot.phases.deployment import ensure_deployment

EVENTS = "OPENFLOW.OPENFLOW.OPENFLOW_EVENTS"
UNDOCUMENTED = ("event_table", "data_plane_id")


class Row(dict[str, Any]):
    """A SHOW row that fails the test if the product reads a column SHOW does not document."""

    def __init__(self, *args: Any, refuse: tuple[str, ...] = UNDOCUMENTED, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.refuse = refuse

    def _check(self, key: str) -> None:
        assert key not in self.refuse, f"read the undocumented column {key!r}"

    def get(self, key: str, default: Any = None) -> Any:
        self._check(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return super().__getitem__(key)


class AccountSql(FakeSql):
    """An account with the event table, and a deployment (gen 2) or an integration (gen 1);
    `executed` holds what was executed, and CREATE/ALTER change the deployment."""

    def __init__(
        self, *, comment: str | None = None, exists: bool = True, gen1_table: str | None = None
    ) -> None:
        super().__init__(record_queries=False)
        found = {"name": "DEP", "type": "BYOC", "status": "ACTIVE", "vpc_type": "MANAGED", "key": "k1"}
        self.deployment: dict[str, Any] | None = found | {"comment": comment} if exists else None
        self.gen1_table = gen1_table

    def respond(self, statement: str) -> list[dict[str, Any]]:
        if statement.startswith("SHOW EVENT TABLES"):
            return [{"name": "OPENFLOW_EVENTS"}]
        if statement.startswith("SHOW OPENFLOW DEPLOYMENTS"):
            return [Row(self.deployment)] if self.deployment else []
        if statement == "SHOW OPENFLOW DATA PLANE INTEGRATIONS":
            return [Row(name="OPENFLOW_DATAPLANE_ABC", type="OPENFLOW_DATAPLANE", enabled="false")]
        if statement == "DESC OPENFLOW DATA PLANE INTEGRATION OPENFLOW_DATAPLANE_ABC":
            return [{"enabled": "false", "data_plane_id": "abc-123", "event_table": self.gen1_table}]
        raise AssertionError(statement)

    def execute(self, statement: str) -> None:
        self.executed.append(statement)
        if statement.startswith("CREATE OPENFLOW DEPLOYMENT"):
            comment = statement.split("COMMENT = ", 1)[1].strip("'")
            self.deployment = {"name": "DEP", "status": "INACTIVE", "vpc_type": "MANAGED", "comment": comment}
        elif statement.startswith("ALTER OPENFLOW DEPLOYMENT") and self.deployment is not None:
            self.deployment["comment"] = statement.split("COMMENT = ", 1)[1].strip("'")


def request(generation: int = 2) -> ProvisionRequest:
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
            "openflow": {"generation": generation, "deployment_name": "DEP"},
            "aws": {"region": "us-east-1"},
            "source": {"host": "db.example.com", "database": "app", "tables": ["public.orders"]},
        }
    )


def test_created_with_the_event_table_recorded_in_its_comment_and_a_second_run_is_unchanged() -> None:
    sql = AccountSql(exists=False)
    first = ensure_deployment(sql, request())  # type: ignore[arg-type]
    second = ensure_deployment(sql, request())  # type: ignore[arg-type]
    assert sql.executed == [
        "CREATE OPENFLOW DEPLOYMENT IF NOT EXISTS DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED' "
        f"EVENT_TABLE = '{EVENTS}' COMMENT = 'managed by openflow-autopilot; event_table={EVENTS}'"
    ]
    assert first.status == "changed" and second.status == "unchanged" and second.actions == []


def test_a_deployment_without_the_record_gets_the_event_table_once_and_a_note() -> None:
    sql = AccountSql(comment="made in the UI")
    first = ensure_deployment(sql, request())  # type: ignore[arg-type]
    assert sql.executed == [
        f"ALTER OPENFLOW DEPLOYMENT DEP SET EVENT_TABLE = '{EVENTS}' "
        f"COMMENT = 'made in the UI; event_table={EVENTS}'"
    ]
    assert any("was not created by openflow-autopilot" in n for n in first.notes), first.notes
    assert ensure_deployment(sql, request()).status == "unchanged"  # type: ignore[arg-type]
    assert len(sql.executed) == 1


def test_a_deployment_of_an_earlier_version_is_told_apart_from_a_foreign_one() -> None:
    sql = AccountSql(comment="managed by openflow-autopilot")
    notes = ensure_deployment(sql, request()).notes  # type: ignore[arg-type]
    assert any("predates the event_table record" in n for n in notes), notes
    assert sql.executed[0].endswith(f"COMMENT = 'managed by openflow-autopilot; event_table={EVENTS}'")


def test_a_different_recorded_table_is_replaced_and_the_rest_of_the_comment_kept() -> None:
    sql = AccountSql(comment="team data; event_table=OTHER.DB.EVENTS")
    result = ensure_deployment(sql, request())  # type: ignore[arg-type]
    assert sql.executed[0].endswith(f"COMMENT = 'team data; event_table={EVENTS}'")
    assert any("had event table OTHER.DB.EVENTS recorded" in n for n in result.notes)


@pytest.mark.parametrize(
    ("comment", "recorded"),
    [
        (None, None),
        ("managed by openflow-autopilot", None),
        (f"managed by openflow-autopilot; event_table={EVENTS}", EVENTS),
        ("event_table=a.b.c", "A.B.C"),
        ("a note about event_table=X.Y.Z in the middle; and more", None),
    ],
)
def test_the_record_is_read_only_from_the_end_of_the_comment(
    comment: str | None, recorded: str | None
) -> None:
    assert recorded_event_table(comment) == recorded


def test_the_record_replaces_an_old_one_and_keeps_the_rest() -> None:
    assert comment_with_event_table(None, EVENTS) == f"event_table={EVENTS}"
    assert comment_with_event_table("x; event_table=A.B.C", EVENTS) == f"x; event_table={EVENTS}"


def test_gen1_finds_the_integration_with_show_and_reads_key_and_event_table_from_desc() -> None:
    sql = AccountSql(gen1_table=EVENTS)
    result = ensure_deployment(sql, request(generation=1))  # type: ignore[arg-type]
    assert result.status == "unchanged" and sql.executed == []
    assert result.outputs["deployment"] == {
        "name": "OPENFLOW_DATAPLANE_ABC",
        "key": "abc-123",
        "status": "DISABLED",  # SHOW's enabled is text: 'false' is not enabled
        "generation": 1,
    }
    unset = AccountSql(gen1_table=None)
    ensure_deployment(unset, request(generation=1))  # type: ignore[arg-type]
    assert unset.executed == [
        f"ALTER OPENFLOW DATA PLANE INTEGRATION OPENFLOW_DATAPLANE_ABC SET EVENT_TABLE = '{EVENTS}'"
    ]
