"""The prerequisites phase's decisions, against an in-memory account (no network).

The end-to-end behaviour against the emulated Snowflake is in tests/sandbox; these pin the
decisions: what is read, what is issued, what is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes import FakeSql

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.phases.prerequisites import ensure_prerequisites

ROOT = Path(__file__).resolve().parents[2]


def request(generation: int = 2) -> ProvisionRequest:
    data = yaml.safe_load((ROOT / "events/provision/request.yaml").read_text())
    data["openflow"]["generation"] = generation
    return parse_request(data)


def admin(
    default_role: str = "ACCOUNTADMIN", secondary: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    return {
        "SHOW USERS LIKE 'JDOE'": [{"name": "JDOE"}],
        "DESC USER JDOE": [
            {"property": "DEFAULT_ROLE", "value": default_role},
            {"property": "DEFAULT_SECONDARY_ROLES", "value": secondary},
        ],
    }


def complete_account(generation: int = 2) -> dict[str, list[dict[str, Any]]]:
    event_table = {"privilege": "CREATE EVENT TABLE", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"}
    grants = [event_table] + (
        [
            {"privilege": "CREATE OPENFLOW DEPLOYMENT", "granted_on": "ACCOUNT", "name": "MYACCOUNT"},
            {"privilege": "CREATE OPENFLOW RUNTIME", "granted_on": "SCHEMA", "name": '"OPENFLOW"."OPENFLOW"'},
            {"privilege": "CREATE OPENFLOW CONNECTOR", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
            {"privilege": "CREATE SECRET", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
        ]
        if generation == 2
        else [
            {
                "privilege": "CREATE OPENFLOW DATA PLANE INTEGRATION",
                "granted_on": "ACCOUNT",
                "name": "MYACCOUNT",
            },
            {
                "privilege": "CREATE OPENFLOW RUNTIME INTEGRATION",
                "granted_on": "ACCOUNT",
                "name": "MYACCOUNT",
            },
        ]
    )
    return {
        "SHOW DATABASES LIKE 'OPENFLOW'": [{"name": "OPENFLOW"}],
        "SHOW SCHEMAS LIKE 'OPENFLOW' IN DATABASE OPENFLOW": [{"name": "OPENFLOW"}],
        "SHOW IMAGE REPOSITORIES LIKE 'OPENFLOW' IN SCHEMA OPENFLOW.OPENFLOW": [{"name": "OPENFLOW"}],
        "SHOW GRANTS TO ROLE PUBLIC": [
            {"privilege": "USAGE", "granted_on": "DATABASE", "name": "OPENFLOW"},
            {"privilege": "USAGE", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
            {"privilege": "READ", "granted_on": "IMAGE REPOSITORY", "name": "OPENFLOW.OPENFLOW.OPENFLOW"},
        ],
        "SHOW ROLES LIKE 'OPENFLOW_ADMIN_ROLE'": [{"name": "OPENFLOW_ADMIN_ROLE"}],
        "SHOW GRANTS TO ROLE OPENFLOW_ADMIN_ROLE": grants,
        "SHOW ROLES LIKE 'OPENFLOW_RUNTIME_ROLE'": [{"name": "OPENFLOW_RUNTIME_ROLE"}],
        "SHOW GRANTS TO ROLE OPENFLOW_RUNTIME_ROLE": [
            {"privilege": "USAGE", "granted_on": "DATABASE", "name": "OPENFLOW"},
            {"privilege": "USAGE", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
        ],
        "SHOW GRANTS TO USER JDOE": [{"role": "OPENFLOW_ADMIN_ROLE"}],
        "SHOW GRANTS TO USER AUTOMATION": [{"role": "OPENFLOW_ADMIN_ROLE"}],
        **admin(default_role="PUBLIC", secondary='["ALL"]'),
    }


def test_an_empty_account_gets_every_gen2_prerequisite_in_dependency_order() -> None:
    sql = FakeSql(admin())
    result = ensure_prerequisites(sql, request(), login_user="AUTOMATION")  # type: ignore[arg-type]
    assert result.status == "changed"
    assert sql.writes == [
        "CREATE DATABASE IF NOT EXISTS OPENFLOW",
        "CREATE SCHEMA IF NOT EXISTS OPENFLOW.OPENFLOW",
        "CREATE IMAGE REPOSITORY IF NOT EXISTS OPENFLOW.OPENFLOW.OPENFLOW",
        "GRANT USAGE ON DATABASE OPENFLOW TO ROLE PUBLIC",
        "GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE PUBLIC",
        "GRANT READ ON IMAGE REPOSITORY OPENFLOW.OPENFLOW.OPENFLOW TO ROLE PUBLIC",
        "CREATE ROLE IF NOT EXISTS OPENFLOW_ADMIN_ROLE",
        "GRANT CREATE OPENFLOW DEPLOYMENT ON ACCOUNT TO ROLE OPENFLOW_ADMIN_ROLE",
        "GRANT CREATE OPENFLOW RUNTIME ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
        "GRANT CREATE OPENFLOW CONNECTOR ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
        "GRANT CREATE SECRET ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
        "GRANT CREATE EVENT TABLE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
        # the runtime's execute-as role (create-openflow-runtime) may use the secrets' database/schema
        "CREATE ROLE IF NOT EXISTS OPENFLOW_RUNTIME_ROLE",
        "GRANT USAGE ON DATABASE OPENFLOW TO ROLE OPENFLOW_RUNTIME_ROLE",
        "GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_RUNTIME_ROLE",
        "GRANT ROLE OPENFLOW_ADMIN_ROLE TO USER JDOE",
        "GRANT ROLE OPENFLOW_ADMIN_ROLE TO USER AUTOMATION",
        "ALTER USER JDOE SET DEFAULT_SECONDARY_ROLES = ('ALL')",
        "ALTER USER JDOE SET DEFAULT_ROLE = 'PUBLIC'",
    ]
    assert [a.statement for a in result.actions] == sql.writes
    assert any("Invalid consent request" in n for n in result.notes)


def test_gen1_grants_the_data_plane_and_runtime_integration_privileges_instead() -> None:
    sql = FakeSql(admin())
    ensure_prerequisites(sql, request(generation=1), login_user="AUTOMATION")  # type: ignore[arg-type]
    grants = [s for s in sql.writes if s.startswith("GRANT CREATE OPENFLOW")]
    assert grants == [
        "GRANT CREATE OPENFLOW DATA PLANE INTEGRATION ON ACCOUNT TO ROLE OPENFLOW_ADMIN_ROLE",
        "GRANT CREATE OPENFLOW RUNTIME INTEGRATION ON ACCOUNT TO ROLE OPENFLOW_ADMIN_ROLE",
    ]


@pytest.mark.parametrize("generation", [1, 2])
def test_a_complete_account_takes_no_action(generation: int) -> None:
    sql = FakeSql(complete_account(generation))
    result = ensure_prerequisites(sql, request(generation), login_user="AUTOMATION")  # type: ignore[arg-type]
    assert sql.writes == []
    assert result.status == "unchanged" and result.actions == []


@pytest.mark.parametrize("role", ["SYSADMIN", "OPENFLOW_ADMIN_ROLE", "PUBLIC"])
def test_a_default_role_that_is_not_an_admin_role_is_left_alone_and_the_report_says_so(role: str) -> None:
    answers = complete_account() | admin(default_role=role, secondary='["ALL"]')
    sql = FakeSql(answers)
    result = ensure_prerequisites(sql, request(), login_user="AUTOMATION")  # type: ignore[arg-type]
    assert not any("DEFAULT_ROLE" in s for s in sql.writes)
    assert any(f"default role of JDOE is {role}" in n for n in result.notes)


@pytest.mark.parametrize("role", ["ACCOUNTADMIN", "ORGADMIN", "SECURITYADMIN", "GLOBALORGADMIN"])
def test_an_admin_default_role_is_changed_to_public(role: str) -> None:
    sql = FakeSql(complete_account() | admin(default_role=role, secondary='["ALL"]'))
    ensure_prerequisites(sql, request(), login_user="AUTOMATION")  # type: ignore[arg-type]
    assert sql.writes == ["ALTER USER JDOE SET DEFAULT_ROLE = 'PUBLIC'"]


def test_a_grant_on_another_schema_does_not_count_as_the_openflow_schema_grant() -> None:
    answers = complete_account()
    answers["SHOW GRANTS TO ROLE OPENFLOW_ADMIN_ROLE"] = [
        {"privilege": "CREATE EVENT TABLE", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
        {"privilege": "CREATE OPENFLOW DEPLOYMENT", "granted_on": "ACCOUNT", "name": "MYACCOUNT"},
        {"privilege": "CREATE OPENFLOW RUNTIME", "granted_on": "SCHEMA", "name": "OTHER.OPENFLOW"},
        {"privilege": "CREATE OPENFLOW CONNECTOR", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
        {"privilege": "CREATE SECRET", "granted_on": "SCHEMA", "name": "OPENFLOW.OPENFLOW"},
    ]
    sql = FakeSql(answers)
    ensure_prerequisites(sql, request(), login_user="AUTOMATION")  # type: ignore[arg-type]
    assert sql.writes == [
        "GRANT CREATE OPENFLOW RUNTIME ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE"
    ]


def test_planning_reads_but_issues_nothing_and_lists_the_actions() -> None:
    sql = FakeSql(admin())
    result = ensure_prerequisites(sql, request(), apply=False, login_user="AUTOMATION")  # type: ignore[arg-type]
    assert sql.writes == []
    assert result.status == "planned" and len(result.actions) == 19


def test_a_missing_admin_user_stops_the_phase_with_what_to_do() -> None:
    answers = complete_account()
    del answers["SHOW USERS LIKE 'JDOE'"]
    with pytest.raises(PreconditionFailed, match=r"request.snowflake.admin_user"):
        ensure_prerequisites(FakeSql(answers), request(), login_user="AUTOMATION")  # type: ignore[arg-type]
