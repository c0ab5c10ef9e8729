"""The Snowflake emulation, exercised through the real snowflake-connector-python over HTTP."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from snowflake.connector import DatabaseError, ProgrammingError
from snowflake.connector.connection import SnowflakeConnection
from snowflake.connector.cursor import SnowflakeCursor

from openflow_sandbox.snowflake import SnowflakeEmulator

ACCOUNT = "MYORG-MYACCOUNT"

# fakesnow warns about an Arrow copy on every SELECT it answers
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _fingerprint(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


@pytest.fixture
def emu(keys: list[rsa.RSAPrivateKey]) -> Iterator[SnowflakeEmulator]:
    with SnowflakeEmulator(account=ACCOUNT) as emulator:
        emulator.add_user(
            "ADMIN",
            roles=["ACCOUNTADMIN"],
            default_role="ACCOUNTADMIN",
            rsa_public_key_pem=_public_pem(keys[0]),
        )
        yield emulator


def _connect(emu: SnowflakeEmulator, user: str = "ADMIN", **kwargs: Any) -> SnowflakeConnection:
    return snowflake.connector.connect(**emu.connect_kwargs(user, **kwargs))


@pytest.fixture
def admin(emu: SnowflakeEmulator, keys: list[rsa.RSAPrivateKey]) -> Iterator[SnowflakeCursor]:
    conn = _connect(emu, private_key=keys[0])
    yield conn.cursor()
    conn.close()


def rows(cur: SnowflakeCursor, sql: str) -> list[dict[str, Any]]:
    cur.execute(sql)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def scalar(cur: SnowflakeCursor, sql: str) -> Any:
    cur.execute(sql)
    row = cur.fetchone()
    assert row is not None
    return row[0]


def _openflow_schema(cur: SnowflakeCursor) -> None:
    cur.execute("CREATE DATABASE IF NOT EXISTS OPENFLOW")
    cur.execute("CREATE SCHEMA IF NOT EXISTS OPENFLOW.OPENFLOW")
    cur.execute("CREATE EVENT TABLE IF NOT EXISTS OPENFLOW.OPENFLOW.EVENTS")


def _active_runtime(emu: SnowflakeEmulator, cur: SnowflakeCursor) -> None:
    _openflow_schema(cur)
    cur.execute("CREATE OPENFLOW DEPLOYMENT DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'")
    emu.set_deployment_status("DEP", "ACTIVE")
    cur.execute(
        "CREATE OPENFLOW RUNTIME OPENFLOW.OPENFLOW.RT IN DEPLOYMENT DEP "
        "NODE_TYPE = SMALL MIN_NODES = 1 MAX_NODES = 2 EXECUTE_AS_ROLE = SYSADMIN"
    )
    emu.set_runtime_status("OPENFLOW.OPENFLOW.RT", "ACTIVE")


# -- roles and grants -------------------------------------------------------------------------


def test_a_role_created_and_granted_shows_in_show_roles_and_show_grants_to_role(
    admin: SnowflakeCursor,
) -> None:
    admin.execute("CREATE ROLE IF NOT EXISTS OPENFLOW_ADMIN_ROLE COMMENT = 'runs openflow'")
    admin.execute(
        "GRANT CREATE OPENFLOW DEPLOYMENT, CREATE OPENFLOW DATA PLANE INTEGRATION ON ACCOUNT "
        "TO ROLE OPENFLOW_ADMIN_ROLE"
    )
    admin.execute("GRANT ROLE OPENFLOW_ADMIN_ROLE TO USER ADMIN")

    [role] = rows(admin, "SHOW ROLES LIKE 'openflow%'")
    assert (role["name"], role["owner"], role["comment"], role["assigned_to_users"]) == (
        "OPENFLOW_ADMIN_ROLE",
        "ACCOUNTADMIN",
        "runs openflow",
        1,
    )
    grants = rows(admin, "SHOW GRANTS TO ROLE OPENFLOW_ADMIN_ROLE")
    assert {(g["privilege"], g["granted_on"], g["name"], g["grantee_name"]) for g in grants} == {
        ("CREATE OPENFLOW DEPLOYMENT", "ACCOUNT", "SB00001", "OPENFLOW_ADMIN_ROLE"),
        ("CREATE OPENFLOW DATA PLANE INTEGRATION", "ACCOUNT", "SB00001", "OPENFLOW_ADMIN_ROLE"),
    }
    assert {g["role"] for g in rows(admin, "SHOW GRANTS TO USER ADMIN")} == {
        "ACCOUNTADMIN",
        "OPENFLOW_ADMIN_ROLE",
    }
    assert [g["grantee_name"] for g in rows(admin, "SHOW GRANTS OF ROLE OPENFLOW_ADMIN_ROLE")] == ["ADMIN"]


def test_granting_the_same_privilege_twice_leaves_one_grant(admin: SnowflakeCursor) -> None:
    _openflow_schema(admin)
    admin.execute("CREATE ROLE R")
    for _ in range(2):
        admin.execute("GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE R")
        admin.execute("GRANT ROLE R TO USER ADMIN")

    grants = rows(admin, "SHOW GRANTS TO ROLE R")
    assert [(g["privilege"], g["granted_on"], g["name"]) for g in grants] == [
        ("USAGE", "SCHEMA", "OPENFLOW.OPENFLOW")
    ]
    assert len(rows(admin, "SHOW GRANTS OF ROLE R")) == 1
    on_schema = rows(admin, "SHOW GRANTS ON SCHEMA OPENFLOW.OPENFLOW")
    assert {(g["privilege"], g["grantee_name"]) for g in on_schema} == {
        ("OWNERSHIP", "ACCOUNTADMIN"),
        ("USAGE", "R"),
    }


def test_granting_on_a_missing_object_fails_with_2003(admin: SnowflakeCursor) -> None:
    admin.execute("CREATE ROLE R")
    with pytest.raises(ProgrammingError) as missing_schema:
        admin.execute("GRANT USAGE ON SCHEMA NOPE.NOPE TO ROLE R")
    with pytest.raises(ProgrammingError) as missing_role:
        admin.execute("GRANT CREATE ROLE ON ACCOUNT TO ROLE GHOST")

    assert (missing_schema.value.errno, missing_schema.value.sqlstate) == (2003, "02000")
    assert "does not exist or not authorized" in str(missing_schema.value.msg)
    assert missing_role.value.errno == 2003


def test_a_non_admin_role_gets_3001_and_a_granted_privilege_opens_the_door(
    emu: SnowflakeEmulator, admin: SnowflakeCursor, keys: list[rsa.RSAPrivateKey]
) -> None:
    admin.execute("CREATE ROLE DEPLOYER")
    admin.execute(
        "CREATE USER BOT TYPE = SERVICE DEFAULT_ROLE = DEPLOYER RSA_PUBLIC_KEY = '"
        + _public_pem(keys[1])
        + "'"
    )
    admin.execute("GRANT ROLE DEPLOYER TO USER BOT")
    bot = _connect(emu, "BOT", private_key=keys[1]).cursor()

    with pytest.raises(ProgrammingError) as denied:
        bot.execute("CREATE ROLE SNEAKY")
    with pytest.raises(ProgrammingError) as deployment_denied:
        bot.execute("CREATE OPENFLOW DEPLOYMENT D DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'")
    admin.execute("GRANT CREATE OPENFLOW DEPLOYMENT ON ACCOUNT TO ROLE DEPLOYER")
    bot.execute("CREATE OPENFLOW DEPLOYMENT D DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'")

    assert (denied.value.errno, denied.value.sqlstate) == (3001, "42501")
    assert "Insufficient privileges to operate on account 'SB00001'" in str(denied.value.msg)
    assert deployment_denied.value.errno == 3001
    assert scalar(bot, "SELECT CURRENT_ROLE()") == "DEPLOYER"
    assert emu.state.deployments["D"].owner == "DEPLOYER"


def test_use_role_switches_only_to_roles_granted_to_the_user(admin: SnowflakeCursor) -> None:
    admin.execute("CREATE ROLE NOT_MINE")
    admin.execute("USE ROLE SYSADMIN")  # inherited through ACCOUNTADMIN
    assert rows(admin, "SELECT CURRENT_ROLE() AS r, CURRENT_USER()") == [
        {"R": "SYSADMIN", "CURRENT_USER()": "ADMIN"}
    ]

    with pytest.raises(ProgrammingError) as denied:
        admin.execute("USE ROLE NOT_MINE")
    with pytest.raises(ProgrammingError) as sysadmin_denied:
        admin.execute("CREATE USER NOBODY")
    assert denied.value.errno == 2003
    assert sysadmin_denied.value.errno == 3001


# -- users and authentication ---------------------------------------------------------------------


def test_desc_user_shows_default_secondary_roles_and_key_fingerprints_but_never_key_material(
    admin: SnowflakeCursor, keys: list[rsa.RSAPrivateKey]
) -> None:
    body = "".join(_public_pem(keys[1]).splitlines()[1:-1])
    admin.execute(
        f"CREATE USER IF NOT EXISTS svc TYPE = SERVICE COMMENT = 'openflow' RSA_PUBLIC_KEY = '{body}'"
    )
    before = {r["property"]: r["value"] for r in rows(admin, "DESC USER SVC")}
    admin.execute("ALTER USER SVC SET DEFAULT_SECONDARY_ROLES = ('ALL') DEFAULT_ROLE = 'PUBLIC'")
    after = {r["property"]: r["value"] for r in rows(admin, "DESCRIBE USER svc")}
    [shown] = rows(admin, "SHOW USERS LIKE 'SVC'")

    assert before["DEFAULT_SECONDARY_ROLES"] == "null"
    assert after["DEFAULT_SECONDARY_ROLES"] == '["ALL"]'
    assert (after["TYPE"], after["DEFAULT_ROLE"], after["COMMENT"]) == ("SERVICE", "PUBLIC", "openflow")
    assert after["RSA_PUBLIC_KEY_FP"] == _fingerprint(keys[1])
    assert after["RSA_PUBLIC_KEY_2_FP"] == "null"
    assert body not in str(after) and body not in str(shown)
    assert (shown["type"], shown["has_rsa_public_key"], shown["default_secondary_roles"]) == (
        "SERVICE",
        "true",
        '["ALL"]',
    )


def test_a_jwt_signed_with_the_wrong_key_is_refused_and_one_signed_with_rsa_public_key_2_is_accepted(
    emu: SnowflakeEmulator, admin: SnowflakeCursor, keys: list[rsa.RSAPrivateKey]
) -> None:
    admin.execute(f"ALTER USER ADMIN SET RSA_PUBLIC_KEY_2 = '{_public_pem(keys[1])}'")

    with pytest.raises(DatabaseError) as refused:
        _connect(emu, private_key=keys[2])
    rotated = _connect(emu, private_key=keys[1])

    assert refused.value.errno == 390144
    assert "JWT token is invalid" in str(refused.value.msg)
    assert scalar(rotated.cursor(), "SELECT CURRENT_USER()") == "ADMIN"


def test_password_logins_are_checked(emu: SnowflakeEmulator) -> None:
    emu.add_user("HUMAN", roles=["SYSADMIN"], default_role="SYSADMIN", password="s3cret")

    with pytest.raises(DatabaseError) as wrong:
        _connect(emu, "HUMAN", password="guess")
    with pytest.raises(DatabaseError) as ungranted_role:
        _connect(emu, "HUMAN", password="s3cret", role="ACCOUNTADMIN")
    conn = _connect(emu, "human", password="s3cret")

    assert wrong.value.errno == 390100
    assert ungranted_role.value.errno == 390189
    assert scalar(conn.cursor(), "SELECT CURRENT_ROLE()") == "SYSADMIN"


# -- warehouses, databases, data SQL ----------------------------------------------------------------


def test_show_warehouses_answers_from_the_emulation_and_follows_suspend_and_resume(
    admin: SnowflakeCursor,
) -> None:
    admin.execute(
        "CREATE WAREHOUSE IF NOT EXISTS OPENFLOW_WH WITH WAREHOUSE_SIZE = 'MEDIUM' AUTO_SUSPEND = 300 "
        "AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE"
    )
    [created] = rows(admin, "SHOW WAREHOUSES")
    admin.execute("ALTER WAREHOUSE OPENFLOW_WH RESUME IF SUSPENDED")
    [resumed] = rows(admin, "SHOW WAREHOUSES LIKE 'openflow_wh'")
    with pytest.raises(ProgrammingError) as resumed_twice:
        admin.execute("ALTER WAREHOUSE OPENFLOW_WH RESUME")
    admin.execute("ALTER WAREHOUSE OPENFLOW_WH SET WAREHOUSE_SIZE = XSMALL")

    assert (created["name"], created["state"], created["size"], created["auto_suspend"]) == (
        "OPENFLOW_WH",
        "SUSPENDED",
        "Medium",
        300,
    )
    assert resumed["state"] == "STARTED"
    assert resumed_twice.value.errno == 90063
    assert rows(admin, "SHOW WAREHOUSES")[0]["size"] == "X-Small"


def test_databases_and_schemas_are_shown_realistically_and_data_sql_passes_through_to_fakesnow(
    admin: SnowflakeCursor,
) -> None:
    _openflow_schema(admin)
    admin.execute("CREATE TABLE OPENFLOW.OPENFLOW.ORDERS (ID INT, NAME VARCHAR)")
    admin.execute("INSERT INTO OPENFLOW.OPENFLOW.ORDERS VALUES (1, 'one'), (2, 'two')")

    assert rows(admin, "SELECT NAME FROM OPENFLOW.OPENFLOW.ORDERS WHERE ID = 2") == [{"NAME": "two"}]
    assert [d["name"] for d in rows(admin, "SHOW DATABASES LIKE 'OPENFLOW'")] == ["OPENFLOW"]
    schemas = rows(admin, "SHOW SCHEMAS LIKE 'OPENFLOW' IN DATABASE OPENFLOW")
    assert [(s["name"], s["database_name"], s["owner"]) for s in schemas] == [
        ("OPENFLOW", "OPENFLOW", "ACCOUNTADMIN")
    ]
    assert {s["name"] for s in rows(admin, "SHOW SCHEMAS IN DATABASE OPENFLOW")} == {
        "INFORMATION_SCHEMA",
        "OPENFLOW",
        "PUBLIC",
    }
    assert scalar(admin, "SELECT COUNT(*) FROM OPENFLOW.OPENFLOW.EVENTS") == 0


def test_quoted_and_lower_case_identifiers_resolve_like_snowflake(admin: SnowflakeCursor) -> None:
    admin.execute('CREATE ROLE "Mixed"')
    admin.execute("create role lower_role")
    admin.execute('GRANT ROLE "Mixed" TO ROLE LOWER_ROLE')

    assert {r["name"] for r in rows(admin, "SHOW ROLES LIKE '%ixed'")} == {"Mixed"}
    assert [r["name"] for r in rows(admin, "SHOW ROLES LIKE 'LOWER_ROLE'")] == ["LOWER_ROLE"]
    assert [g["name"] for g in rows(admin, "SHOW GRANTS TO ROLE lower_role")] == ['"Mixed"']
    with pytest.raises(ProgrammingError) as wrong_case:
        admin.execute('GRANT ROLE "MIXED" TO ROLE LOWER_ROLE')
    assert wrong_case.value.errno == 2003


def test_account_level_statements_the_emulation_lacks_fail_with_a_syntax_error(
    admin: SnowflakeCursor,
) -> None:
    for sql in (
        "CREATE NETWORK RULE R MODE = EGRESS",
        "ALTER ACCOUNT SET X = 1",
        "SHOW INTEGRATIONS",
        "GRANT ALL ON DATABASE D TO ROLE R",
        "REMOVE 'snow://openflow_connector/OPENFLOW.OPENFLOW.PG/versions/live/config.json'",
    ):
        with pytest.raises(ProgrammingError) as unsupported:
            admin.execute(sql)
        assert unsupported.value.errno == 1003, sql


# -- Openflow -----------------------------------------------------------------------------------------


def test_a_deployment_is_created_inactive_and_is_active_after_set_deployment_status(
    emu: SnowflakeEmulator, admin: SnowflakeCursor
) -> None:
    _openflow_schema(admin)
    admin.execute(
        "CREATE OPENFLOW DEPLOYMENT IF NOT EXISTS OPENFLOW_DEPLOYMENT DEPLOYMENT_TYPE = BYOC "
        "VPC_TYPE = 'MANAGED' EVENT_TABLE = 'openflow.openflow.events' COMMENT = 'sandbox'"
    )
    [created] = rows(admin, "SHOW OPENFLOW DEPLOYMENTS LIKE 'OPENFLOW_%'")
    with pytest.raises(ProgrammingError) as still_inactive:
        admin.execute(
            "SELECT SYSTEM$WAIT_FOR_OPENFLOW_DEPLOYMENT_STATUS(600, 'ACTIVE', 'OPENFLOW_DEPLOYMENT')"
        )
    emu.set_deployment_status("OPENFLOW_DEPLOYMENT", "ACTIVE")

    assert (created["type"], created["status"], created["vpc_type"], created["owner"]) == (
        "BYOC",
        "INACTIVE",
        "MANAGED",
        "ACCOUNTADMIN",
    )
    # SHOW/DESC OPENFLOW DEPLOYMENTS have no event_table column (show-openflow-deployments): state only
    assert "event_table" not in created
    assert emu.state.deployments["OPENFLOW_DEPLOYMENT"].event_table == "OPENFLOW.OPENFLOW.EVENTS"
    assert created["key"].isalnum() and created["key"] == created["key"].lower()
    assert still_inactive.value.errno == 630
    assert (
        scalar(
            admin, "SELECT SYSTEM$WAIT_FOR_OPENFLOW_DEPLOYMENT_STATUS(600, 'ACTIVE', 'OPENFLOW_DEPLOYMENT')"
        )
        == "OK"
    )
    [described] = rows(admin, "DESC OPENFLOW DEPLOYMENT OPENFLOW_DEPLOYMENT")
    assert described["status"] == "ACTIVE" and "event_table" not in described
    assert (described["error_code"], described["status_message"]) == (None, None)


def test_set_takes_event_table_and_comment_at_once_and_terminate_goes_deleting_then_deleted(
    emu: SnowflakeEmulator, admin: SnowflakeCursor
) -> None:
    _openflow_schema(admin)
    admin.execute("CREATE OPENFLOW DEPLOYMENT DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'")
    admin.execute(
        "ALTER OPENFLOW DEPLOYMENT DEP SET EVENT_TABLE = 'OPENFLOW.OPENFLOW.EVENTS' "
        "COMMENT = 'event_table=OPENFLOW.OPENFLOW.EVENTS'"
    )
    assert emu.state.deployments["DEP"].event_table == "OPENFLOW.OPENFLOW.EVENTS"
    assert rows(admin, "SHOW OPENFLOW DEPLOYMENTS")[0]["comment"] == "event_table=OPENFLOW.OPENFLOW.EVENTS"
    with pytest.raises(ProgrammingError) as not_terminated:
        admin.execute("DROP OPENFLOW DEPLOYMENT DEP")

    admin.execute("ALTER OPENFLOW DEPLOYMENT DEP TERMINATE")
    admin.execute("ALTER OPENFLOW DEPLOYMENT DEP TERMINATE")  # not restarted while DELETING
    statuses = [rows(admin, "SHOW OPENFLOW DEPLOYMENTS")[0]["status"] for _ in range(3)]
    admin.execute("DROP OPENFLOW DEPLOYMENT DEP")

    assert "terminate it first" in str(not_terminated.value.msg)
    assert statuses == ["DELETING", "DELETING", "DELETED"]  # never TERMINATING or TERMINATED
    assert rows(admin, "SHOW OPENFLOW DEPLOYMENTS") == []


def test_a_runtime_goes_from_creating_to_active_after_status_reads_and_through_suspend_and_resume(
    emu: SnowflakeEmulator, admin: SnowflakeCursor
) -> None:
    _openflow_schema(admin)
    admin.execute("CREATE OPENFLOW DEPLOYMENT DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'")
    with pytest.raises(ProgrammingError) as no_execute_as:
        admin.execute(
            "CREATE OPENFLOW RUNTIME OPENFLOW.OPENFLOW.RT IN DEPLOYMENT DEP "
            "NODE_TYPE = SMALL MIN_NODES = 1 MAX_NODES = 1"
        )
    with pytest.raises(ProgrammingError) as deployment_inactive:
        admin.execute(
            "CREATE OPENFLOW RUNTIME OPENFLOW.OPENFLOW.RT IN DEPLOYMENT DEP "
            "NODE_TYPE = SMALL MIN_NODES = 1 MAX_NODES = 1 EXECUTE_AS_ROLE = SYSADMIN"
        )
    emu.set_deployment_status("DEP", "ACTIVE")
    admin.execute("USE SCHEMA OPENFLOW.OPENFLOW")
    admin.execute(
        "CREATE OPENFLOW RUNTIME IF NOT EXISTS RT IN DEPLOYMENT DEP "
        "NODE_TYPE = MEDIUM MIN_NODES = 1 MAX_NODES = 3 EXECUTE_AS_ROLE = SYSADMIN"
    )

    def status() -> str:
        return str(rows(admin, "DESC OPENFLOW RUNTIME OPENFLOW.OPENFLOW.RT")[0]["status"])

    assert [status(), status(), status()] == ["CREATING", "CREATING", "ACTIVE"]
    [shown] = rows(admin, "SHOW OPENFLOW RUNTIMES IN DEPLOYMENT DEP")
    assert (shown["database_name"], shown["node_type"], shown["node_type_tier"], shown["max_nodes"]) == (
        "OPENFLOW",
        "MEDIUM",
        "M4",
        3,
    )
    assert deployment_inactive.value.errno == 90000
    # create-openflow-runtime: EXECUTE_AS_ROLE is required
    assert no_execute_as.value.errno == 1003 and "EXECUTE_AS_ROLE" in no_execute_as.value.msg

    admin.execute("ALTER OPENFLOW RUNTIME RT SUSPEND")
    assert [status(), status(), status()] == ["SUSPENDING", "SUSPENDING", "SUSPENDED"]
    admin.execute("ALTER OPENFLOW RUNTIME RT RESUME")
    with pytest.raises(ProgrammingError) as not_yet:
        admin.execute("SELECT SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES(600, 'OPENFLOW.OPENFLOW.RT')")
    assert (
        scalar(admin, "SELECT SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES(600, 'OPENFLOW.OPENFLOW.RT')") == "OK"
    )
    assert not_yet.value.errno == 630
    assert status() == "ACTIVE"


def test_a_connector_starts_only_after_a_valid_commit_has_settled(
    emu: SnowflakeEmulator, admin: SnowflakeCursor
) -> None:
    _active_runtime(emu, admin)
    assert "OPENFLOW_POSTGRES_CDC" in {d["name"] for d in rows(admin, "SHOW OPENFLOW CONNECTOR DEFINITIONS")}
    admin.execute(
        "CREATE OPENFLOW CONNECTOR IF NOT EXISTS PG IN RUNTIME OPENFLOW.OPENFLOW.RT "
        "FROM DEFINITION OPENFLOW_POSTGRES_CDC"
    )
    with pytest.raises(ProgrammingError) as uncommitted:
        admin.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG START")

    # the definition's documented defaults, required properties unset: COMMIT ends in UPDATE_FAILED
    admin.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG COMMIT")
    statuses = [rows(admin, "SHOW OPENFLOW CONNECTORS IN ACCOUNT")[0]["status"] for _ in range(3)]
    [described] = rows(admin, "DESC OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG")
    with pytest.raises(ProgrammingError) as refused:
        admin.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG START")
    admin.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG STOP")

    assert uncommitted.value.errno == 90000
    assert statuses == ["UPDATING", "UPDATING", "UPDATE_FAILED"]
    assert described["status_message"] == "Property 'Source Database Connection URL' is required"
    assert "UPDATE_FAILED" in refused.value.msg
    assert emu.get_connector_config("PG")["connectorDefinitionId"] == "OPENFLOW_POSTGRES_CDC"


def test_config_json_moves_over_the_wire_with_get_and_put_and_only_the_live_version_is_writable(
    emu: SnowflakeEmulator, admin: SnowflakeCursor, tmp_path: Any
) -> None:
    _active_runtime(emu, admin)
    admin.execute(
        "CREATE OPENFLOW CONNECTOR PG IN RUNTIME OPENFLOW.OPENFLOW.RT FROM DEFINITION OPENFLOW_POSTGRES_CDC"
    )
    stage = "snow://openflow_connector/OPENFLOW.OPENFLOW.PG/versions"
    (tmp_path / "down").mkdir()
    (tmp_path / "v1").mkdir()
    admin.execute(f"GET '{stage}/live/config.json' 'file://{tmp_path}/down/'")
    downloaded = json.loads((tmp_path / "down" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(downloaded | {"extra": [1, 2]}))
    admin.execute(f"PUT 'file://{tmp_path}/config.json' '{stage}/live/'")  # auto-compressed to .gz
    admin.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG COMMIT")
    with pytest.raises(ProgrammingError) as read_only:
        admin.execute(f"PUT 'file://{tmp_path}/config.json' '{stage}/VERSION$1/' AUTO_COMPRESS = FALSE")
    admin.execute(f"GET '{stage}/VERSION$1/config.json' 'file://{tmp_path}/v1/'")
    for _ in range(3):
        rows(admin, "DESC OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG")
    [described] = rows(admin, "DESC OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.PG")

    # configure-connector-sql: sections of typed properties, with the definition's defaults
    assert (downloaded["configFormatVersion"], downloaded["connectorDefinitionId"]) == (
        1,
        "OPENFLOW_POSTGRES_CDC",
    )
    sections = {s["name"]: s["properties"] for s in downloaded["configuration"]}
    assert sections["Source"]["Source Database Driver"] == {"valueType": "ASSET_REFERENCE", "assetIds": []}
    assert sections["Replication table schema"]["Column Filter JSON"] == {
        "valueType": "STRING_LITERAL",
        "value": "[]",
    }
    assert json.loads((tmp_path / "v1" / "config.json").read_text())["extra"] == [1, 2]
    assert (described["status"], described["status_message"]) == (
        "UPDATE_FAILED",
        "Unknown key 'extra' in config.json",
    )
    assert read_only.value.errno == 90000
    assert [s.kind for s in emu.statements if s.sql.startswith(("GET", "PUT"))][:2] == ["read", "write"]


def test_a_gen1_data_plane_integration_takes_an_event_table(
    emu: SnowflakeEmulator, admin: SnowflakeCursor
) -> None:
    _openflow_schema(admin)
    name = emu.add_data_plane_integration("edf6f909-d3ff-49d6-925f-0123456789ab")
    admin.execute(
        f"ALTER OPENFLOW DATA PLANE INTEGRATION {name} SET EVENT_TABLE = 'OPENFLOW.OPENFLOW.EVENTS'"
    )

    [shown] = rows(admin, "SHOW OPENFLOW DATA PLANE INTEGRATIONS LIKE 'OPENFLOW_DATAPLANE_%'")
    [described] = rows(admin, f"DESC OPENFLOW DATA PLANE INTEGRATION {name}")
    assert name == "OPENFLOW_DATAPLANE_EDF6F909_D3FF_49D6_925F_0123456789AB"
    # data_plane_id and event_table are documented on DESC only (desc-oflow-data-plane-integration)
    assert set(shown) == {"name", "type", "category", "enabled", "comment", "created_on"}
    assert (shown["name"], shown["enabled"]) == (name, "true")
    assert list(described) == ["enabled", "oauth_redirect_uri", "data_plane_id", "event_table", "comment"]
    assert described["data_plane_id"] == "edf6f909-d3ff-49d6-925f-0123456789ab"
    assert described["event_table"] == "OPENFLOW.OPENFLOW.EVENTS"


def test_image_repositories_event_tables_and_secrets_show_in_their_schema_without_passwords(
    admin: SnowflakeCursor,
) -> None:
    _openflow_schema(admin)
    admin.execute("CREATE IMAGE REPOSITORY IF NOT EXISTS OPENFLOW.OPENFLOW.OPENFLOW")
    admin.execute(
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.PG_SECRET TYPE = PASSWORD "
        "USERNAME = 'cdc' PASSWORD = 'hunter2'"
    )

    [repo] = rows(admin, "SHOW IMAGE REPOSITORIES IN SCHEMA OPENFLOW.OPENFLOW")
    [table] = rows(admin, "SHOW EVENT TABLES LIKE 'EVENTS' IN SCHEMA OPENFLOW.OPENFLOW")
    [secret] = rows(admin, "SHOW SECRETS IN SCHEMA OPENFLOW.OPENFLOW")
    assert (
        repo["repository_url"] == "myorg-myaccount.registry.snowflakecomputing.com/openflow/openflow/openflow"
    )
    assert (table["name"], table["database_name"], table["schema_name"]) == ("EVENTS", "OPENFLOW", "OPENFLOW")
    assert secret["secret_type"] == "PASSWORD" and "hunter2" not in str(secret)


# -- faults, statement log, lifecycle -----------------------------------------------------------------


def test_an_injected_permission_fault_fires_once(emu: SnowflakeEmulator, admin: SnowflakeCursor) -> None:
    emu.inject_fault(r"CREATE\s+ROLE", "permission_denied")

    with pytest.raises(ProgrammingError) as denied:
        admin.execute("CREATE ROLE R1")
    admin.execute("CREATE ROLE R1")

    assert denied.value.errno == 3001
    assert [(s.sql, s.ok) for s in emu.statements if "R1" in s.sql] == [
        ("CREATE ROLE R1", False),
        ("CREATE ROLE R1", True),
    ]


def test_injected_503_and_connection_resets_are_retried_by_the_connector(
    emu: SnowflakeEmulator, keys: list[rsa.RSAPrivateKey]
) -> None:
    # a short constant backoff keeps this fast; with the default policy each retry waits about a second
    cur = _connect(emu, private_key=keys[0], backoff_policy=lambda: itertools.repeat(0.05)).cursor()
    emu.inject_fault("CURRENT_USER", "http_503")
    emu.inject_fault("CURRENT_ROLE", "network_reset")

    assert scalar(cur, "SELECT CURRENT_USER()") == "ADMIN"
    assert scalar(cur, "SELECT CURRENT_ROLE()") == "ACCOUNTADMIN"
    assert [s.ok for s in emu.statements if "CURRENT_" in s.sql] == [False, True, False, True]


def test_the_statement_log_tells_reads_from_writes(emu: SnowflakeEmulator, admin: SnowflakeCursor) -> None:
    emu.clear_statements()
    admin.execute("SHOW ROLES")
    admin.execute("CREATE ROLE IF NOT EXISTS R")
    admin.execute("USE ROLE SECURITYADMIN")
    admin.execute("SELECT 1")

    assert [(s.user, s.role, s.kind, s.ok) for s in emu.statements] == [
        ("ADMIN", "ACCOUNTADMIN", "read", True),
        ("ADMIN", "ACCOUNTADMIN", "write", True),
        ("ADMIN", "ACCOUNTADMIN", "read", True),
        ("ADMIN", "SECURITYADMIN", "read", True),
    ]


def test_two_emulators_in_sequence_are_isolated(keys: list[rsa.RSAPrivateKey]) -> None:
    for run in range(2):
        with SnowflakeEmulator() as emulator:
            emulator.add_user(
                "ADMIN",
                roles=["ACCOUNTADMIN"],
                default_role="ACCOUNTADMIN",
                rsa_public_key_pem=_public_pem(keys[0]),
            )
            cur = _connect(emulator, private_key=keys[0]).cursor()
            assert rows(cur, "SHOW DATABASES") == [] and rows(cur, "SHOW ROLES LIKE 'R'") == [], run
            cur.execute("CREATE DATABASE D")
            cur.execute("CREATE TABLE D.PUBLIC.T (X INT)")
            cur.execute("CREATE ROLE R")


def test_stop_frees_the_port_and_is_idempotent() -> None:
    emulator = SnowflakeEmulator()
    started = time.monotonic()
    emulator.start()
    port = emulator.port
    assert port is not None and time.monotonic() - started < 1

    emulator.stop()
    emulator.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
