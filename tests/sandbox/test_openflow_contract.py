"""The documented gen 2 contract, both ways: each mistake the product once made is refused by the
emulation the way Snowflake refuses it, and the product's own calls pass and, where Snowflake
reports a failure, name the fix. Real connector over the wire; no AWS, no PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector
from snowflake.connector import ProgrammingError
from snowflake.connector.cursor import SnowflakeCursor

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import NotReadyYet, PermissionDenied, PreconditionFailed
from openflow_autopilot.openflow.connector_config import StageConfigStore
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.jdbc_driver import Driver
from openflow_autopilot.phases.connector import connector_status, ensure_connector
from openflow_autopilot.phases.runtime import runtime_status
from openflow_autopilot.phases.service_key import generate_service_key
from openflow_autopilot.snowflake.session import Sql
from openflow_sandbox.jdbc_jar import JAR_NAME, build_jar
from openflow_sandbox.keys import generate_key_pair
from openflow_sandbox.snowflake import SnowflakeEmulator

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")

ACCOUNT = "MYORG-MYACCOUNT"
CONNECTOR = "OPENFLOW.OPENFLOW.POSTGRES_CDC"
RUNTIME = "OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME"
KEY = generate_service_key("OPENFLOW_SERVICE_USER")


def request() -> ProvisionRequest:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": ACCOUNT,
                "admin_user": "JDOE",
                "credentials_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-AbCdEf"
                ),
            },
            "openflow": {"deployment_name": "DEP"},
            "aws": {"region": "us-east-1"},
            "source": {"host": "db.example.com", "database": "app", "tables": ["public.sample_data"]},
        }
    )


SOURCE = SourceEndpoint(
    host="db.example.com",
    port=5432,
    database="app",
    user="openflow_user",
    password="never-shown-pw",
    publication="openflow_pub",
    slot_name="openflow_sales_cdc",
    tables=("public.sample_data",),
    password_version="v1",
)
DEST = DestinationInfo(
    database="OPENFLOW_REPLICATED_DATA",
    role="OPENFLOW_SERVICE_ROLE",
    warehouse="OPENFLOW_COMPUTE_WH",
    user="OPENFLOW_SERVICE_USER",
    account_identifier=ACCOUNT,
    private_key_pem=KEY.private_key_pem,
    private_key_passphrase=KEY.passphrase,
    key_fingerprint=KEY.fingerprint,
)


def jar() -> Driver:
    content = build_jar()
    return Driver(file_name=JAR_NAME, sha256="-", source="test", content=content)


class Account:
    """An emulated account set up as the prerequisites, runtime and destination phases leave it."""

    def __init__(self, emu: SnowflakeEmulator, login: Any) -> None:
        self.emu = emu
        self._login = login
        self.admin = self.cursor("ACCOUNTADMIN")

    def connect(self, role: str) -> Any:
        return snowflake.connector.connect(
            **self.emu.connect_kwargs("AUTOMATION", private_key=self._login, role=role)
        )

    def cursor(self, role: str) -> SnowflakeCursor:
        return self.connect(role).cursor()

    def sql(self, role: str = "OPENFLOW_ADMIN_ROLE") -> Sql:
        return Sql(self.connect(role))

    def ensure(self, **overrides: Any) -> Any:
        sql = self.sql()
        kwargs: dict[str, Any] = {
            "runtime": RUNTIME,
            "source": SOURCE,
            "destination": DEST,
            "driver_file": JAR_NAME,
            "fetch_driver": jar,
            "wait_seconds": 1,
        } | overrides
        # NotReadyYet is retried by the state machine (the Connector state's Retry): so here
        for _ in range(5):
            try:
                return ensure_connector(sql, request(), store=StageConfigStore(sql), **kwargs)
            except NotReadyYet:
                continue
        raise AssertionError("the connector phase never found the connector stable")

    def status(self) -> dict[str, Any]:
        [row] = rows(self.admin, f"DESC OPENFLOW CONNECTOR {CONNECTOR}")
        return row

    def settle(self) -> dict[str, Any]:
        for _ in range(5):
            row = self.status()
        return row


def rows(cur: SnowflakeCursor, sql: str) -> list[dict[str, Any]]:
    cur.execute(sql)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture
def account() -> Iterator[Account]:
    login = generate_key_pair()
    with SnowflakeEmulator(account=ACCOUNT) as emu:
        emu.add_user(
            "AUTOMATION",
            roles=["ACCOUNTADMIN"],
            default_role="ACCOUNTADMIN",
            rsa_public_key_pem=login.public_pem,
        )
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(login.private_pem.encode(), password=None)
        acct = Account(emu, key)
        cur = acct.admin
        for statement in (
            "CREATE DATABASE OPENFLOW",
            "CREATE SCHEMA OPENFLOW.OPENFLOW",
            "CREATE ROLE OPENFLOW_ADMIN_ROLE",
            "CREATE ROLE OPENFLOW_RUNTIME_ROLE",
            "CREATE ROLE OPENFLOW_SERVICE_ROLE",
            "GRANT ROLE OPENFLOW_ADMIN_ROLE TO USER AUTOMATION",
            "GRANT CREATE OPENFLOW DEPLOYMENT ON ACCOUNT TO ROLE OPENFLOW_ADMIN_ROLE",
            "GRANT USAGE ON DATABASE OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
            "GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
            "GRANT CREATE OPENFLOW RUNTIME ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
            "GRANT CREATE OPENFLOW CONNECTOR ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
            "GRANT CREATE SECRET ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_ADMIN_ROLE",
            "GRANT USAGE ON DATABASE OPENFLOW TO ROLE OPENFLOW_RUNTIME_ROLE",
            "GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_RUNTIME_ROLE",
            "CREATE WAREHOUSE OPENFLOW_COMPUTE_WH",
            "GRANT USAGE ON WAREHOUSE OPENFLOW_COMPUTE_WH TO ROLE OPENFLOW_SERVICE_ROLE",
        ):
            cur.execute(statement)
        owner = acct.cursor("OPENFLOW_ADMIN_ROLE")
        owner.execute("CREATE OPENFLOW DEPLOYMENT DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'")
        emu.set_deployment_status("DEP", "ACTIVE")
        owner.execute(
            f"CREATE OPENFLOW RUNTIME {RUNTIME} IN DEPLOYMENT DEP NODE_TYPE = MEDIUM MIN_NODES = 1 "
            "MAX_NODES = 1 EXECUTE_AS_ROLE = OPENFLOW_RUNTIME_ROLE"
        )
        emu.set_runtime_status(RUNTIME, "ACTIVE")
        yield acct


def run_to_running(acct: Account) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for _ in range(12):
        state = connector_status(acct.sql(), CONNECTOR, wait_seconds=1, state=state)
        if state["done"]:
            return state
    raise AssertionError(f"connector never RUNNING: {state}")


# -- the product's own calls pass --------------------------------------------------------------------
def test_the_products_configuration_commits_validly_and_the_connector_runs(account: Account) -> None:
    result = account.ensure()
    final = run_to_running(account)
    again = account.ensure()

    assert [a.kind for a in result.actions][-3:] == ["put_asset", "put_config", "commit"]
    assert final["status"] == "RUNNING" and final["starts"] == 1
    connector = next(iter(account.emu.state.connectors.values()))
    assert connector.versions[-1].problem is None and JAR_NAME in connector.versions[-1].assets
    assert again.status == "unchanged", again.actions
    assert [c[0] for c in account.emu.running_connectors()] == [CONNECTOR]


# -- 1, 2: config.json's layout and property names ------------------------------------------------
def _commit_edited(account: Account, edit: Any) -> dict[str, Any]:
    """The product's configuration with one deliberate mistake, committed as-is."""
    account.ensure()
    account.settle()
    cur = account.cursor("OPENFLOW_ADMIN_ROLE")
    cur.execute(f"ALTER OPENFLOW CONNECTOR {CONNECTOR} ADD LIVE VERSION FROM LAST")
    config = copy.deepcopy(account.emu.get_connector_config(CONNECTOR))
    edit(config)
    account.emu.put_connector_config(CONNECTOR, config)
    cur.execute(f"ALTER OPENFLOW CONNECTOR {CONNECTOR} COMMIT")
    return account.settle()


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s["properties"] for s in config["configuration"] if s["name"] == name)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (
            lambda c: c.update({"parameters": {"Publication Name": "p"}}),
            "Unknown key 'parameters' in config.json",
        ),
        (
            lambda c: _section(c, "Source").update(
                {"Source Database Username": {"valueType": "STRING_LITERAL", "value": "u"}}
            ),
            "Unknown property 'Source Database Username' in section 'Source'",
        ),
        (
            lambda c: _section(c, "Source").update(
                {"Source Database Password": {"valueType": "STRING_LITERAL", "value": "pw"}}
            ),
            "Property 'Source Database Password': valueType 'STRING_LITERAL' is invalid, "
            "expected SECRET_REFERENCE",
        ),
        (
            lambda c: _section(c, "Replication table schema").update(
                {"Ingestion Type": {"valueType": "STRING_LITERAL", "value": "FULL"}}
            ),
            "Property 'Ingestion Type': 'FULL' is invalid; allowed values: full, incremental",
        ),
        (
            lambda c: _section(c, "Source").update(
                {"Source Database Publication Name": {"valueType": "STRING_LITERAL", "value": None}}
            ),
            "Property 'Source Database Publication Name' is required",
        ),
    ],
    ids=["flat-parameters", "guessed-name", "wrong-value-type", "enum", "missing-required"],
)
def test_a_wrong_config_json_ends_in_update_failed_naming_the_property_and_the_product_says_how_out(
    account: Account, mistake: Any, message: str
) -> None:
    described = _commit_edited(account, mistake)
    assert (described["status"], described["status_message"]) == ("UPDATE_FAILED", message)

    with pytest.raises(PreconditionFailed) as diagnosis:
        connector_status(account.sql(), CONNECTOR, wait_seconds=1)
    assert message in str(diagnosis.value) and "STOPs the connector" in str(diagnosis.value)


def test_a_rerun_stops_an_update_failed_connector_and_commits_the_products_values_again(
    account: Account,
) -> None:
    def no_publication(config: dict[str, Any]) -> None:
        _section(config, "Source")["Source Database Publication Name"]["value"] = None

    assert _commit_edited(account, no_publication)["status"] == "UPDATE_FAILED"
    mark = len(account.emu.statements)
    rerun = account.ensure()
    sent = [s.sql for s in account.emu.statements[mark:]]

    assert f"ALTER OPENFLOW CONNECTOR {CONNECTOR} STOP" in sent  # the only way out of UPDATE_FAILED
    assert rerun.actions[-1].kind == "commit"
    assert run_to_running(account)["status"] == "RUNNING"


# -- 3: the JDBC driver must be on the stage ------------------------------------------------------
def test_a_driver_reference_without_the_jar_on_the_stage_is_refused(account: Account) -> None:
    class NoJarStore(StageConfigStore):
        def put_asset(self, connector: str, file_name: str, content: bytes) -> None:
            return  # the mistake: config.json references a jar nobody uploaded

    sql = account.sql()
    ensure_connector(
        sql, request(), runtime=RUNTIME, source=SOURCE, destination=DEST, driver_file=JAR_NAME,
        fetch_driver=jar, store=NoJarStore(sql), wait_seconds=1,
    )  # fmt: skip
    described = account.settle()
    assert described["status"] == "UPDATE_FAILED"
    assert (
        described["status_message"]
        == f"Property 'Source Database Driver': asset '{JAR_NAME}' is not on the connector's stage"
    )


# -- 4, 5: the execute-as role, secret types and grants --------------------------------------------
def test_a_runtime_without_execute_as_role_is_a_compilation_error(account: Account) -> None:
    with pytest.raises(ProgrammingError) as refused:
        account.cursor("OPENFLOW_ADMIN_ROLE").execute(
            "CREATE OPENFLOW RUNTIME OPENFLOW.OPENFLOW.RT2 IN DEPLOYMENT DEP NODE_TYPE = MEDIUM "
            "MIN_NODES = 1 MAX_NODES = 1"
        )
    assert refused.value.errno == 1003 and "missing required property EXECUTE_AS_ROLE" in refused.value.msg


def test_a_password_type_secret_is_not_what_the_connector_reads(account: Account) -> None:
    def password_secret(config: dict[str, Any]) -> None:
        account.admin.execute(
            "CREATE SECRET OPENFLOW.OPENFLOW.PW TYPE = PASSWORD USERNAME = 'u' PASSWORD = 'p'"
        )
        account.admin.execute(
            "GRANT READ, USAGE ON SECRET OPENFLOW.OPENFLOW.PW TO ROLE OPENFLOW_RUNTIME_ROLE"
        )
        _section(config, "Source")["Source Database Password"] = {
            "valueType": "SECRET_REFERENCE",
            "fullyQualifiedSecretName": "OPENFLOW.OPENFLOW.PW",
        }

    described = _commit_edited(account, password_secret)
    assert described["status_message"] == (
        "Property 'Source Database Password': secret 'OPENFLOW.OPENFLOW.PW' is of type PASSWORD, "
        "expected GENERIC_STRING"
    )


def test_usage_alone_on_a_secret_does_not_let_the_execute_as_role_read_it(account: Account) -> None:
    def usage_only(config: dict[str, Any]) -> None:
        account.admin.execute(
            "REVOKE READ ON SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD "
            "FROM ROLE OPENFLOW_RUNTIME_ROLE"
        )

    described = _commit_edited(account, usage_only)
    assert described["status_message"] == (
        "Property 'Source Database Password': the runtime's execute-as role cannot READ secret "
        "'OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD'"
    )


def test_a_warehouse_the_configured_role_cannot_use_is_not_an_allowable_value(account: Account) -> None:
    described = _commit_edited(
        account,
        lambda c: account.admin.execute(
            "REVOKE USAGE ON WAREHOUSE OPENFLOW_COMPUTE_WH FROM ROLE OPENFLOW_SERVICE_ROLE"
        ),
    )
    assert (
        described["status_message"]
        == "Property 'Snowflake Warehouse': Value is not one of the allowable values"
    )


# -- 6, 7: asynchronous commands and documented failed states --------------------------------------
def test_start_right_after_commit_is_refused_until_the_commit_has_settled(account: Account) -> None:
    account.ensure()
    with pytest.raises(ProgrammingError) as refused:
        account.cursor("OPENFLOW_ADMIN_ROLE").execute(f"ALTER OPENFLOW CONNECTOR {CONNECTOR} START")
    assert "cannot be started in status UPDATING" in refused.value.msg


def test_update_failed_refuses_start_and_only_stop_clears_it(account: Account) -> None:
    _commit_edited(account, lambda c: c.update({"parameters": {}}))
    cur = account.cursor("OPENFLOW_ADMIN_ROLE")
    with pytest.raises(ProgrammingError) as refused:
        cur.execute(f"ALTER OPENFLOW CONNECTOR {CONNECTOR} START")
    cur.execute(f"ALTER OPENFLOW CONNECTOR {CONNECTOR} STOP")
    assert "UPDATE_FAILED" in refused.value.msg and account.settle()["status"] == "STOPPED"
    # no plain FAILED/ERROR anywhere in the emulation's vocabulary for connectors
    assert account.emu.state.connectors and "FAILED" not in {
        c.status for c in account.emu.state.connectors.values()
    }


# -- 8: a wait's error is not classified by number -------------------------------------------------
def test_a_runtime_still_creating_is_not_done_whatever_the_waits_error_and_the_create_is_not_repeated(
    account: Account,
) -> None:
    rt = next(iter(account.emu.state.runtimes.values()))
    rt.begin("CREATING", "ACTIVE", 50)
    mark = len(account.emu.statements)
    poll = runtime_status(account.sql(), request(), wait_seconds=1)
    sent = [s.sql for s in account.emu.statements[mark:]]

    assert poll["done"] is False and poll["status"] == "CREATING"
    assert any("SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES" in s for s in sent)
    assert not any(s.startswith("CREATE") for s in sent)


# -- 11: the connector needs USAGE on the runtime --------------------------------------------------
def test_a_role_without_usage_on_the_runtime_cannot_create_the_connector(account: Account) -> None:
    account.admin.execute("CREATE ROLE OTHER_ROLE")
    account.admin.execute("GRANT ROLE OTHER_ROLE TO USER AUTOMATION")
    account.admin.execute("GRANT USAGE ON DATABASE OPENFLOW TO ROLE OTHER_ROLE")
    account.admin.execute("GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OTHER_ROLE")
    account.admin.execute("GRANT CREATE OPENFLOW CONNECTOR ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OTHER_ROLE")
    sql = account.sql("OTHER_ROLE")
    with pytest.raises((PermissionDenied, PreconditionFailed)) as refused:
        ensure_connector(
            sql, request(), runtime=RUNTIME, source=SOURCE, destination=DEST, driver_file=JAR_NAME,
            fetch_driver=jar, store=StageConfigStore(sql),
        )  # fmt: skip
    assert refused.value.fix  # the diagnosis says what to do


def test_the_stage_keeps_each_versions_files(account: Account, tmp_path: Path) -> None:
    account.ensure()
    account.settle()
    stage = f"snow://openflow_connector/{CONNECTOR}/versions/VERSION$1"
    account.cursor("OPENFLOW_ADMIN_ROLE").execute(f"GET '{stage}/' 'file://{tmp_path}/'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", JAR_NAME]
    assert (
        json.loads((tmp_path / "config.json").read_text())["connectorDefinitionId"] == "OPENFLOW_POSTGRES_CDC"
    )
