"""Destination, runtime, connector and verify against the Snowflake emulation (real connector over
HTTP), moto's Secrets Manager and a real PostgreSQL, with the connector stand-in relaying rows."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from moto import mock_aws
from psycopg import sql as pgsql

from openflow_autopilot.config import Generation, ProvisionRequest, parse_request
from openflow_autopilot.errors import NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.canary import (
    canary_report,
    ensure_canary_table,
    find_canary,
    insert_canary,
    remove_canary,
)
from openflow_autopilot.openflow.connector_config import literal_value, property_body, set_properties
from openflow_autopilot.openflow.endpoints import SourceEndpoint
from openflow_autopilot.openflow.jdbc_driver import Driver
from openflow_autopilot.openflow.names import runtime_name
from openflow_autopilot.phases.connector import connector_status, destination_from_secret, ensure_connector
from openflow_autopilot.phases.destination import ensure_destination
from openflow_autopilot.phases.runtime import ensure_runtime, runtime_status
from openflow_autopilot.phases.service_key import read_service_key
from openflow_autopilot.phases.user_key_rotation import rotate_service_user_key
from openflow_autopilot.phases.verify import diagnose_verification, verification_failure
from openflow_autopilot.snowflake.session import Sql
from openflow_sandbox.connector_relay import ConnectorRelay
from openflow_sandbox.jdbc_jar import JAR_NAME, build_jar
from openflow_sandbox.keys import generate_key_pair
from openflow_sandbox.postgres import LocalPostgres
from openflow_sandbox.snowflake import SnowflakeEmulator

pytestmark = pytest.mark.sandbox

ACCOUNT = "MYORG-MYACCOUNT"
REGION = "us-east-1"
SECRET_NAME = "openflow-autopilot/sales-cdc/service-user"
SOURCE_PASSWORD = "source-password-never-shown"
_counter = itertools.count(1)


def make_request(**destination: Any) -> ProvisionRequest:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": ACCOUNT,
                "admin_user": "ADMIN",
                "credentials_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-AbCdEf"
                ),
            },
            "openflow": {"deployment_name": "DEP"},
            "aws": {"region": REGION},
            "source": {"host": "127.0.0.1", "database": "app", "tables": ["public.sample_data"]},
            "destination": {"warehouse_size": "SMALL", **destination},
        }
    )


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture(scope="module")
def admin_key() -> Any:
    pair = generate_key_pair()
    return pair, serialization.load_pem_private_key(pair.private_pem.encode(), None)


@pytest.fixture
def emu(admin_key: Any) -> Iterator[SnowflakeEmulator]:
    with SnowflakeEmulator(account=ACCOUNT) as emulator:
        emulator.add_user(
            "ADMIN",
            roles=["ACCOUNTADMIN"],
            default_role="ACCOUNTADMIN",
            rsa_public_key_pem=admin_key[0].public_pem,
        )
        yield emulator


@pytest.fixture
def sql(emu: SnowflakeEmulator, admin_key: Any) -> Iterator[Sql]:
    session = Sql(snowflake.connector.connect(**emu.connect_kwargs("ADMIN", private_key=admin_key[1])))
    yield session
    session.close()


@pytest.fixture
def secrets() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def writes(emu: SnowflakeEmulator) -> list[str]:
    return [s.sql for s in emu.statements if s.kind == "write"]


def logs_in_with_secret(emu: SnowflakeEmulator, secrets: Any, user: str = "OPENFLOW_SERVICE_USER") -> bool:
    """Log in as the service user with the key the secret holds right now."""
    key = read_service_key(secrets, SECRET_NAME).key
    assert key is not None
    try:
        conn = snowflake.connector.connect(**emu.connect_kwargs(user, private_key=key.private_key_der()))
    except snowflake.connector.DatabaseError:
        return False
    conn.close()
    return True


def rows_or_none(sql: Sql, statement: str) -> list[dict[str, Any]] | None:
    """The rows, or None while the table does not exist yet."""
    try:
        return sql.query(statement)
    except PreconditionFailed:
        return None


def desc_user(sql: Sql, user: str = "OPENFLOW_SERVICE_USER") -> dict[str, str]:
    return {str(r["property"]): str(r["value"]) for r in sql.query(f"DESC USER {user}")}


# -- destination ------------------------------------------------------------------------------------
def test_the_destination_is_created_then_a_second_run_issues_no_write_statements(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any
) -> None:
    request = make_request()
    first = ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)
    stored = json.loads(secrets.get_secret_value(SecretId=SECRET_NAME)["SecretString"])
    emu.clear_statements()
    second = ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)

    assert first.status == "changed"
    assert [a.kind for a in first.actions] == [
        "create_database",
        "create_warehouse",
        "create_role",
        "grant",
        "grant",
        "create_user",
        "grant_role",
        "store_private_key",
        "set_public_key",
    ]
    assert second.status == "unchanged" and second.actions == []
    assert writes(emu) == []
    assert stored["user"] == "OPENFLOW_SERVICE_USER" and stored["passphrase"]
    assert stored["private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert first.outputs["key_secret_arn"].startswith("arn:aws:secretsmanager:")
    assert desc_user(sql)["RSA_PUBLIC_KEY_FP"] == first.outputs["key_fingerprint"]
    assert logs_in_with_secret(emu, secrets)
    shown = first.model_dump_json()
    assert stored["private_key"] not in shown and stored["passphrase"] not in shown
    assert "BEGIN" not in shown


def test_a_changed_warehouse_size_is_altered_and_grants_let_the_service_user_use_it(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any
) -> None:
    ensure_destination(sql, make_request(), secrets=secrets, secret_name=SECRET_NAME)
    emu.clear_statements()
    result = ensure_destination(
        sql,
        make_request(warehouse_size="LARGE", auto_suspend_seconds=120),
        secrets=secrets,
        secret_name=SECRET_NAME,
    )
    [warehouse] = sql.query("SHOW WAREHOUSES LIKE 'OPENFLOW_COMPUTE_WH'")
    grants = {
        (g["privilege"], g["granted_on"]) for g in sql.query("SHOW GRANTS TO ROLE OPENFLOW_SERVICE_ROLE")
    }

    assert [a.statement for a in result.actions] == [
        "ALTER WAREHOUSE OPENFLOW_COMPUTE_WH SET WAREHOUSE_SIZE = 'LARGE' AUTO_SUSPEND = 120"
    ]
    assert writes(emu) == [result.actions[0].statement]
    assert (warehouse["size"], warehouse["auto_suspend"], warehouse["auto_resume"]) == ("Large", 120, "true")
    assert {
        ("USAGE", "DATABASE"),
        ("CREATE SCHEMA", "DATABASE"),
        ("USAGE", "WAREHOUSE"),
        ("OPERATE", "WAREHOUSE"),
    } <= grants


def test_key_rotation_leaves_a_key_in_the_secret_that_logs_in_at_every_step(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any
) -> None:
    request = make_request()
    created = ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)
    old_key = read_service_key(secrets, SECRET_NAME).key
    assert old_key is not None
    seen: list[tuple[str, bool]] = [("before", logs_in_with_secret(emu, secrets))]

    result = rotate_service_user_key(
        sql,
        request,
        secrets=secrets,
        secret_name=SECRET_NAME,
        on_step=lambda step: seen.append((step, logs_in_with_secret(emu, secrets))),
    )
    after = desc_user(sql)
    rerun = ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)

    assert seen == [
        ("before", True),
        ("set_rsa_public_key_2", True),
        ("stored_new_key", True),
        ("set_rsa_public_key", True),
        ("unset_rsa_public_key_2", True),
    ]
    assert result.outputs["key_fingerprint"] != created.outputs["key_fingerprint"]
    assert (after["RSA_PUBLIC_KEY_FP"], after["RSA_PUBLIC_KEY_2_FP"]) == (
        result.outputs["key_fingerprint"],
        "null",
    )
    with pytest.raises(snowflake.connector.DatabaseError):
        snowflake.connector.connect(
            **emu.connect_kwargs("OPENFLOW_SERVICE_USER", private_key=old_key.private_key_der())
        )
    assert rerun.status == "unchanged"
    assert all("BEGIN" not in (a.statement or "") for a in result.actions)


def test_a_rotation_stopped_before_retiring_the_old_key_keeps_both_keys_until_it_is_finished(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any
) -> None:
    request = make_request()
    ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)
    old_key = read_service_key(secrets, SECRET_NAME).key
    assert old_key is not None

    half = rotate_service_user_key(
        sql, request, secrets=secrets, secret_name=SECRET_NAME, retire_old_key=False
    )
    old_still_works = snowflake.connector.connect(
        **emu.connect_kwargs("OPENFLOW_SERVICE_USER", private_key=old_key.private_key_der())
    )
    old_still_works.close()
    kept = ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)
    finished = rotate_service_user_key(sql, request, secrets=secrets, secret_name=SECRET_NAME)

    assert [a.kind for a in half.actions] == ["set_public_key_2", "store_private_key"]
    assert kept.status == "unchanged" and any("rotation was not finished" in n for n in kept.notes)
    assert [a.kind for a in finished.actions] == ["set_public_key", "unset_public_key_2"]
    assert finished.outputs["key_fingerprint"] == half.outputs["key_fingerprint"]
    assert desc_user(sql)["RSA_PUBLIC_KEY_2_FP"] == "null" and logs_in_with_secret(emu, secrets)


# -- runtime ----------------------------------------------------------------------------------------
def _openflow_schema(sql: Sql, emu: SnowflakeEmulator, *, active: bool = True) -> None:
    for statement in (
        "CREATE DATABASE IF NOT EXISTS OPENFLOW",
        "CREATE SCHEMA IF NOT EXISTS OPENFLOW.OPENFLOW",
        "CREATE OPENFLOW DEPLOYMENT IF NOT EXISTS DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED'",
        # what the prerequisites phase leaves for the runtime's execute-as role
        "CREATE ROLE IF NOT EXISTS OPENFLOW_RUNTIME_ROLE",
        "GRANT USAGE ON DATABASE OPENFLOW TO ROLE OPENFLOW_RUNTIME_ROLE",
        "GRANT USAGE ON SCHEMA OPENFLOW.OPENFLOW TO ROLE OPENFLOW_RUNTIME_ROLE",
    ):
        sql.execute(statement)
    if active:
        emu.set_deployment_status("DEP", "ACTIVE")


def test_the_runtime_is_created_once_and_polled_from_creating_to_active(
    emu: SnowflakeEmulator, sql: Sql
) -> None:
    request = make_request()
    _openflow_schema(sql, emu, active=False)
    with pytest.raises(NotReadyYet):
        ensure_runtime(sql, request, deployment="DEP")
    emu.set_deployment_status("DEP", "ACTIVE")

    created = ensure_runtime(sql, request, deployment="DEP")
    polls = [runtime_status(sql, request) for _ in range(3)]
    emu.clear_statements()
    again = ensure_runtime(sql, request, deployment="DEP")
    [row] = sql.query(f"DESC OPENFLOW RUNTIME {runtime_name(request)}")

    assert [a.statement for a in created.actions] == [
        "CREATE OPENFLOW RUNTIME IF NOT EXISTS OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME IN DEPLOYMENT DEP "
        "NODE_TYPE = MEDIUM MIN_NODES = 1 MAX_NODES = 1 EXECUTE_AS_ROLE = OPENFLOW_RUNTIME_ROLE "
        "COMMENT = 'managed by openflow-autopilot'"
    ]
    assert [p["done"] for p in polls][-1] is True and polls[0]["done"] is False
    assert polls[0]["status"] == "CREATING" and polls[-1]["status"] == "ACTIVE"
    assert again.status == "unchanged" and writes(emu) == []
    assert (row["min_nodes"], row["max_nodes"]) == (1, 1)


# -- connector and verify ---------------------------------------------------------------------------
@dataclass
class Provisioned:
    request: ProvisionRequest
    source: SourceEndpoint
    admin_dsn: str
    connect: Callable[[], psycopg.Connection[Any]]
    connector: str = ""


def provision_source(postgres: LocalPostgres) -> tuple[str, str, SourceEndpoint]:
    n = next(_counter)
    database, user, slot = f"app_{n}", f"openflow_user_{n}", f"openflow_slot_{n}"
    dsn = postgres.create_database(database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE sample_data (id serial PRIMARY KEY, content text NOT NULL)")
        conn.execute("INSERT INTO sample_data (content) VALUES ('aaa'), ('bbb')")
        conn.execute("CREATE PUBLICATION openflow_pub FOR TABLE sample_data")
        conn.execute(
            pgsql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
                pgsql.Identifier(user), pgsql.Literal(SOURCE_PASSWORD)
            )
        )
        ensure_canary_table(conn, publication="openflow_pub", grant_select_to=user)
    source = SourceEndpoint(
        host=postgres.host,
        port=postgres.port,
        database=database,
        user=user,
        password=SOURCE_PASSWORD,
        publication="openflow_pub",
        slot_name=slot,
        tables=("public.sample_data", "public.openflow_autopilot_canary"),
        password_version="v1",
    )
    return database, dsn, source


@pytest.fixture
def provisioned(emu: SnowflakeEmulator, sql: Sql, secrets: Any, postgres: LocalPostgres) -> Provisioned:
    request = make_request()
    _, dsn, source = provision_source(postgres)
    _openflow_schema(sql, emu)
    ensure_destination(sql, request, secrets=secrets, secret_name=SECRET_NAME)
    ensure_runtime(sql, request, deployment="DEP")
    emu.set_runtime_status(runtime_name(request), "ACTIVE")
    return Provisioned(request, source, dsn, lambda: psycopg.connect(dsn, autocommit=True))


def _jar() -> Driver:
    return Driver(file_name=JAR_NAME, sha256="-", source="sandbox", content=build_jar())


def _configure(provisioned: Provisioned, sql: Sql, secrets: Any) -> Any:
    destination = destination_from_secret(provisioned.request, secrets=secrets, key_secret=SECRET_NAME)
    for _ in range(5):  # the Connector state retries NotReadyYet (a connector still settling)
        try:
            return ensure_connector(
                sql,
                provisioned.request,
                runtime=runtime_name(provisioned.request),
                source=provisioned.source,
                destination=destination,
                driver_file=JAR_NAME,
                fetch_driver=_jar,
                wait_seconds=1,
            )
        except NotReadyYet:
            continue
    raise AssertionError("the connector never settled")


def _until_running(sql: Sql, name: str) -> list[dict[str, Any]]:
    polls: list[dict[str, Any]] = []
    for _ in range(10):
        polls.append(connector_status(sql, name, wait_seconds=1, state=polls[-1] if polls else None))
        if polls[-1]["done"]:
            break
    return polls


def test_the_connector_config_round_trips_through_get_and_put_keeping_values_it_does_not_own(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any, provisioned: Provisioned
) -> None:
    name = "OPENFLOW.OPENFLOW.POSTGRES_CDC"
    sql.execute(
        f"CREATE OPENFLOW CONNECTOR {name} IN RUNTIME {runtime_name(provisioned.request)} "
        "FROM DEFINITION OPENFLOW_POSTGRES_CDC"
    )
    seeded, _ = set_properties(
        emu.get_connector_config(name), {"Column Filter JSON": literal_value('[{"table": "x"}]')}
    )
    emu.put_connector_config(name, seeded)

    first = _configure(provisioned, sql, secrets)
    polls = _until_running(sql, name)
    emu.clear_statements()
    second = _configure(provisioned, sql, secrets)
    committed = emu.get_connector_config(name)

    def value(prop: str) -> Any:
        body = property_body(committed, prop) or {}
        return body.get("value", body.get("fullyQualifiedSecretName", body.get("assetIds")))

    assert [a.kind for a in first.actions] == [
        "create_secret",
        "create_secret",
        "grant",
        "grant",
        "put_asset",
        "put_config",
        "commit",
    ]
    assert value("Column Filter JSON") == '[{"table": "x"}]'  # a value the product does not own is kept
    assert value("Source Database Connection URL") == (
        f"jdbc:postgresql://127.0.0.1:{provisioned.source.port}/{provisioned.source.database}"
    )
    assert value("Source Database Password") == "OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD"
    assert value("Source Database Driver") == [JAR_NAME]
    assert value("Snowflake Authentication Strategy") == "KEY_PAIR"
    assert value("Included Comma Separated Source Table Names") == (
        "public.sample_data,public.openflow_autopilot_canary"
    )
    assert polls[-1] == polls[-1] | {"status": "RUNNING", "done": True}
    assert sum(p["started"] for p in polls) == 1
    assert second.status == "unchanged" and writes(emu) == []
    assert any(s.sql.startswith("GET 'snow://openflow_connector/") for s in emu.statements)
    shown = first.model_dump_json() + " ".join(sql.executed)
    assert SOURCE_PASSWORD not in shown and "BEGIN" not in shown
    stored = emu.secret_value("OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD")
    assert (stored["type"], stored["secret_string"]) == ("GENERIC_STRING", SOURCE_PASSWORD)
    granted = sql.query("SHOW GRANTS ON SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY")
    assert {("READ", "OPENFLOW_RUNTIME_ROLE"), ("USAGE", "OPENFLOW_RUNTIME_ROLE")} <= {
        (g["privilege"], g["grantee_name"]) for g in granted
    }


def test_existing_rows_and_a_canary_reach_the_destination_through_the_relay_once_across_a_restart(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any, provisioned: Provisioned
) -> None:
    _configure(provisioned, sql, secrets)
    _until_running(sql, "OPENFLOW.OPENFLOW.POSTGRES_CDC")
    database = "OPENFLOW_REPLICATED_DATA"
    with provisioned.connect() as pg, ConnectorRelay(emu, provisioned.admin_dsn, poll_seconds=0.05) as relay:
        for _ in range(100):  # the relay creates the connector's slot when it first serves it
            served = relay.state.get("OPENFLOW.OPENFLOW.POSTGRES_CDC")
            if served is not None and served.polls:
                break
            time.sleep(0.05)
        canary = insert_canary(pg, slot_name=provisioned.source.slot_name)
        found, polls = None, 0
        while found is None and polls < 100:
            polls += 1
            found = find_canary(sql, destination_database=database, canary=canary)
            time.sleep(0.05)
        assert found is not None, relay.state
        report = canary_report(canary, found, polls=polls)
        relay.stop()
        pg.execute("INSERT INTO sample_data (content) VALUES ('ccc')")
        relay.start()
        remove_canary(pg, canary)
        for _ in range(100):
            rows = rows_or_none(sql, 'SELECT "content" FROM OPENFLOW_REPLICATED_DATA."public"."sample_data"')
            gone = find_canary(sql, destination_database=database, canary=canary) is None
            if rows is not None and len(rows) >= 3 and gone:
                break
            time.sleep(0.05)

    assert report["destination_table"] == 'OPENFLOW_REPLICATED_DATA."public"."openflow_autopilot_canary"'
    assert 0 <= report["latency_seconds"] < 30
    # the rows from before the slot existed come from the snapshot, 'ccc' from the stream, each once
    assert rows is not None and sorted(r["content"] for r in rows) == ["aaa", "bbb", "ccc"]
    assert gone


def test_without_the_relay_the_canary_is_not_found_and_the_diagnosis_says_the_slot_did_not_advance(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any, provisioned: Provisioned
) -> None:
    _configure(provisioned, sql, secrets)
    _until_running(sql, "OPENFLOW.OPENFLOW.POSTGRES_CDC")
    relay = ConnectorRelay(emu, provisioned.admin_dsn)
    relay.run_once()  # the connector connected once (its slot exists), then stopped consuming
    with provisioned.connect() as pg:
        canary = insert_canary(pg, slot_name=provisioned.source.slot_name)
        found = find_canary(sql, destination_database="OPENFLOW_REPLICATED_DATA", canary=canary)
        diagnosis = diagnose_verification(
            pg,
            sql,
            canary=canary,
            slot_name=provisioned.source.slot_name,
            destination_database="OPENFLOW_REPLICATED_DATA",
            connector="OPENFLOW.OPENFLOW.POSTGRES_CDC",
        )
        error = verification_failure(
            pg,
            sql,
            canary=canary,
            slot_name=provisioned.source.slot_name,
            destination_database="OPENFLOW_REPLICATED_DATA",
            connector="OPENFLOW.OPENFLOW.POSTGRES_CDC",
            polls=30,
        )

    assert found is None
    assert (
        diagnosis.slot_exists and diagnosis.slot_advanced is False and diagnosis.slot_passed_canary is False
    )
    assert diagnosis.connector_status == "RUNNING"
    assert f"Slot {provisioned.source.slot_name} did not advance" in error.message
    assert "Connector OPENFLOW.OPENFLOW.POSTGRES_CDC is RUNNING" in error.message
    assert type(error).__name__ == "BudgetExhausted" and "after 30 polls" in error.message


def test_a_key_rotation_with_a_running_connector_replaces_only_the_connectors_copy_of_the_key(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any, provisioned: Provisioned
) -> None:
    _configure(provisioned, sql, secrets)
    _until_running(sql, "OPENFLOW.OPENFLOW.POSTGRES_CDC")
    request = provisioned.request

    rotate_service_user_key(sql, request, secrets=secrets, secret_name=SECRET_NAME, retire_old_key=False)
    refreshed = _configure(provisioned, sql, secrets)
    rotate_service_user_key(sql, request, secrets=secrets, secret_name=SECRET_NAME)
    relay = ConnectorRelay(emu, provisioned.admin_dsn)  # a fresh login resolves the connector's secret
    with provisioned.connect() as pg:
        relay.run_once()
        canary = insert_canary(pg, slot_name=provisioned.source.slot_name)
        relay.run_once()
        found = find_canary(sql, destination_database="OPENFLOW_REPLICATED_DATA", canary=canary)
    relay.stop()

    key = "OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY"
    assert [(a.kind, a.target) for a in refreshed.actions] == [
        ("create_secret", key),
        ("grant", f"READ, USAGE on SECRET {key} to OPENFLOW_RUNTIME_ROLE"),
    ]
    assert refreshed.outputs["config_changed"] is False
    assert found is not None, relay.state


def test_rotate_key_swaps_the_key_refreshes_the_connector_and_rows_still_arrive(
    emu: SnowflakeEmulator, sql: Sql, secrets: Any, provisioned: Provisioned
) -> None:
    from openflow_autopilot.phases.destination import _key_fingerprints
    from openflow_autopilot.phases.key_rotation import rotate_with_sql

    _configure(provisioned, sql, secrets)
    _until_running(sql, "OPENFLOW.OPENFLOW.POSTGRES_CDC")
    request = provisioned.request
    before = read_service_key(secrets, SECRET_NAME).key
    assert before is not None

    steps: list[str] = []
    results = rotate_with_sql(sql, request, secrets=secrets, secret_name=SECRET_NAME, on_step=steps.append)

    after = read_service_key(secrets, SECRET_NAME).key
    assert after is not None and after.fingerprint != before.fingerprint
    assert _key_fingerprints(sql, "OPENFLOW_SERVICE_USER") == (after.fingerprint, None)
    assert [r.phase for r in results] == [
        "ServiceUserKeyRotation",
        "ConnectorKeyRefresh",
        "ServiceUserKeyRotation",
    ]
    assert len(steps) == 3 and "retired" in steps[-1]
    # the connector's copy: the same key as an unencrypted PKCS8 PEM (gen 2 has no passphrase property)
    copy = str(emu.secret_value("OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY")["secret_string"])
    public = serialization.load_pem_private_key(copy.encode(), None).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert der == after.public_der
    relay = ConnectorRelay(emu, provisioned.admin_dsn)  # a fresh login with the connector's new key
    with provisioned.connect() as pg:
        relay.run_once()
        canary = insert_canary(pg, slot_name=provisioned.source.slot_name)
        relay.run_once()
        found = find_canary(sql, destination_database="OPENFLOW_REPLICATED_DATA", canary=canary)
    relay.stop()
    assert found is not None, relay.state


def test_a_gen1_rotation_keeps_the_old_key_until_the_canvas_is_updated(
    sql: Sql, secrets: Any, provisioned: Provisioned
) -> None:
    from openflow_autopilot.phases.destination import _key_fingerprints
    from openflow_autopilot.phases.key_rotation import rotate_with_sql

    gen1 = provisioned.request.model_copy(
        update={"openflow": provisioned.request.openflow.model_copy(update={"generation": Generation.GEN1})}
    )
    before = read_service_key(secrets, SECRET_NAME).key
    assert before is not None
    [half] = rotate_with_sql(sql, gen1, secrets=secrets, secret_name=SECRET_NAME)
    new = read_service_key(secrets, SECRET_NAME).key
    assert new is not None
    assert _key_fingerprints(sql, "OPENFLOW_SERVICE_USER") == (before.fingerprint, new.fingerprint)
    assert any("--canvas-updated" in n for n in half.notes)
    finished = rotate_with_sql(sql, gen1, secrets=secrets, secret_name=SECRET_NAME, canvas_updated=True)
    # the second run starts from the half-done state: it does not generate a third key
    assert read_service_key(secrets, SECRET_NAME).key.fingerprint == new.fingerprint  # type: ignore[union-attr]
    assert _key_fingerprints(sql, "OPENFLOW_SERVICE_USER") == (new.fingerprint, None)
    assert finished[-1].outputs["finished"] is True
