"""The connector's parameter table, the gen 2 config.json edit, secrets redaction and the runtime /
connector polls, without a network."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fakes import FakeSql

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.connector_config import (
    asset_value,
    literal_value,
    property_body,
    secret_value,
    set_properties,
    stage_uri,
)
from openflow_autopilot.openflow.connector_parameters import (
    BY_KEY,
    PARAMETERS,
    P,
    destination_table,
    gen1_name,
    gen2_name,
)
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.jdbc_driver import Driver
from openflow_autopilot.phases.connector import connector_status, desired_properties, ensure_connector
from openflow_autopilot.phases.connector_gen1 import gen1_connector_instructions
from openflow_autopilot.phases.connector_secrets import SecretRecorder, _secrets
from openflow_autopilot.phases.runtime import gen1_runtime_exists, gen1_runtime_instructions, runtime_status
from openflow_autopilot.phases.service_key import generate_service_key
from openflow_autopilot.postgres.names import TableName

PASSWORD = "pa'ss-never-shown"
KEY = generate_service_key("OPENFLOW_SERVICE_USER")
JAR = "postgresql-42.7.4.jar"


class DictStore:
    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self.configs = configs
        self.puts: list[dict[str, Any]] = []
        self.assets: list[str] = []

    def get(self, connector: str, version: str) -> dict[str, Any]:
        return copy.deepcopy(self.configs[version])

    def put(self, connector: str, config: Any) -> None:
        self.puts.append(copy.deepcopy(dict(config)))
        self.configs["live"] = copy.deepcopy(dict(config))

    def put_asset(self, connector: str, file_name: str, content: bytes) -> None:
        self.assets.append(file_name)


def request() -> ProvisionRequest:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": "MYORG-MYACCOUNT",
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
    password=PASSWORD,
    publication="openflow_pub",
    slot_name="openflow_sales_cdc",
    tables=("public.sample_data", '"Sales"."Orders"'),
    password_version="v7",
)
DEST = DestinationInfo(
    database="OPENFLOW_REPLICATED_DATA",
    role="OPENFLOW_SERVICE_ROLE",
    warehouse="OPENFLOW_COMPUTE_WH",
    user="OPENFLOW_SERVICE_USER",
    account_identifier="MYORG-MYACCOUNT",
    private_key_pem=KEY.private_key_pem,
    private_key_passphrase=KEY.passphrase,
    key_fingerprint=KEY.fingerprint,
)
NAME = "OPENFLOW.OPENFLOW.POSTGRES_CDC"


def documented_config() -> dict[str, Any]:
    """A definition's config.json as documented: sections of typed properties, some unset."""

    def lit(value: str | None = None) -> dict[str, Any]:
        return {"valueType": "STRING_LITERAL", "value": value}

    source = {
        gen2_name(k): lit() for k in (P.CONNECTION_URL, P.SOURCE_USER, P.PUBLICATION, P.REPLICATION_SLOT)
    }
    source[gen2_name(P.SOURCE_PASSWORD)] = {"valueType": "SECRET_REFERENCE", "fullyQualifiedSecretName": None}
    source[gen2_name(P.JDBC_DRIVER)] = {"valueType": "ASSET_REFERENCE", "assetIds": []}
    tables = {
        gen2_name(P.INCLUDED_TABLES): lit(),
        gen2_name(P.INCLUDED_TABLE_PATTERN): lit(),
        "Column Filter JSON": lit("[]"),
    }
    dest = {
        gen2_name(k): lit()
        for k in (P.DESTINATION_DATABASE, P.WAREHOUSE, P.ACCOUNT_IDENTIFIER, P.SNOWFLAKE_USER, P.ROLE)
    }
    dest[gen2_name(P.AUTH_STRATEGY)] = lit("SNOWFLAKE_MANAGED")
    dest[gen2_name(P.IDENTIFIER_RESOLUTION)] = lit("CASE_INSENSITIVE")
    dest[gen2_name(P.PRIVATE_KEY)] = {"valueType": "SECRET_REFERENCE", "fullyQualifiedSecretName": None}
    return {
        "configFormatVersion": 1,
        "connectorDefinitionId": "OPENFLOW_POSTGRES_CDC",
        "configuration": [
            {"name": "Source", "properties": source},
            {"name": "Replication table schema", "properties": tables},
            {"name": "Destination details", "properties": dest},
        ],
    }


def driver() -> Driver:
    return Driver(file_name=JAR, sha256="0" * 64, source="http://127.0.0.1/x.jar", content=b"jar")


# -- the parameter table ----------------------------------------------------------------------------
def test_every_parameter_has_one_row_and_unique_names_in_both_generations() -> None:
    assert {p.key for p in PARAMETERS} == set(P)
    gen1 = [p.gen1 for p in PARAMETERS if p.gen1]
    gen2 = [p.gen2 for p in PARAMETERS if p.gen2]
    assert len(set(gen1)) == len(gen1) and len(set(gen2)) == len(gen2)


def test_the_documented_gen1_canvas_names_and_gen2_property_names_are_in_the_table() -> None:
    assert [
        gen1_name(k) for k in (P.CONNECTION_URL, P.PUBLICATION, P.REPLICATION_SLOT, P.INCLUDED_TABLES)
    ] == ["PostgreSQL Connection URL", "Publication Name", "Replication Slot Name", "Included Table Names"]
    # connectors/postgres/setup, Gen 2 parameters
    assert {
        k: gen2_name(k)
        for k in (P.SOURCE_USER, P.PUBLICATION, P.JDBC_DRIVER, P.INCLUDED_TABLES, P.SOURCE_PASSWORD)
    } == {
        P.SOURCE_USER: "Source Database User",
        P.PUBLICATION: "Source Database Publication Name",
        P.JDBC_DRIVER: "Source Database Driver",
        P.INCLUDED_TABLES: "Included Comma Separated Source Table Names",
        P.SOURCE_PASSWORD: "Source Database Password",
    }
    assert BY_KEY[P.JDBC_DRIVER].value_type == "ASSET_REFERENCE"
    assert BY_KEY[P.SOURCE_PASSWORD].value_type == BY_KEY[P.PRIVATE_KEY].value_type == "SECRET_REFERENCE"
    with pytest.raises(KeyError):
        gen2_name(P.PRIVATE_KEY_PASSWORD)  # gen 2 documents no passphrase property


def test_the_destination_table_keeps_the_source_names_and_their_case_quoted() -> None:
    assert destination_table("openflow_replicated_data", TableName("Sales", "Orders")) == (
        'OPENFLOW_REPLICATED_DATA."Sales"."Orders"'
    )


# -- config.json ------------------------------------------------------------------------------------
def test_properties_are_set_where_the_document_has_them_with_their_value_type_field() -> None:
    current = documented_config()
    wanted = {
        "Source Database Publication Name": literal_value("openflow_pub"),
        "Source Database Password": secret_value("DB.S.PW"),
        "Source Database Driver": asset_value(JAR),
    }

    merged, changed = set_properties(current, wanted)
    again, unchanged = set_properties(merged, wanted)

    assert property_body(merged, "Source Database Password") == {
        "valueType": "SECRET_REFERENCE",
        "fullyQualifiedSecretName": "DB.S.PW",
    }
    assert property_body(merged, "Source Database Driver") == {
        "valueType": "ASSET_REFERENCE",
        "assetIds": [JAR],
    }
    assert changed == list(wanted) and unchanged == [] and again == merged
    assert property_body(merged, "Column Filter JSON") == {"valueType": "STRING_LITERAL", "value": "[]"}
    assert property_body(current, "Source Database Publication Name") == {  # the input is not modified
        "valueType": "STRING_LITERAL",
        "value": None,
    }
    assert "parameters" not in merged and [s["name"] for s in merged["configuration"]] == [
        "Source",
        "Replication table schema",
        "Destination details",
    ]


def test_a_property_the_document_does_not_have_is_refused_not_added() -> None:
    with pytest.raises(PreconditionFailed, match="'Source Database Username'"):
        set_properties(documented_config(), {"Source Database Username": literal_value("u")})


def test_a_flat_parameters_document_is_not_the_documented_layout() -> None:
    with pytest.raises(PreconditionFailed, match="configuration"):
        set_properties({"parameters": {"a": "b"}}, {"a": literal_value("b")})


def test_stage_uris_are_built_from_validated_names() -> None:
    assert stage_uri("openflow.openflow.pg", "live", "config.json") == (
        "snow://openflow_connector/OPENFLOW.OPENFLOW.PG/versions/live/config.json"
    )
    with pytest.raises(ValueError, match="version"):
        stage_uri(NAME, "live/../x")


def test_the_desired_properties_refer_to_secrets_and_the_jar_and_hold_no_secret_value() -> None:
    values = {
        k: v.body() for k, v in desired_properties(SOURCE, DEST, _secrets(NAME, SOURCE, DEST), JAR).items()
    }

    assert values["Source Database Connection URL"]["value"] == "jdbc:postgresql://db.example.com:5432/app"
    assert values["Source Database Password"] == {
        "valueType": "SECRET_REFERENCE",
        "fullyQualifiedSecretName": "OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD",
    }
    assert (
        values["Snowflake Private Key"]["fullyQualifiedSecretName"]
        == "OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY"
    )
    assert values["Source Database Driver"] == {"valueType": "ASSET_REFERENCE", "assetIds": [JAR]}
    assert (
        values["Included Comma Separated Source Table Names"]["value"]
        == 'public.sample_data,"Sales"."Orders"'
    )
    assert values["Snowflake Authentication Strategy"]["value"] == "KEY_PAIR"
    assert values["Object Identifier Resolution"]["value"] == "CASE_SENSITIVE"
    assert PASSWORD not in str(values) and "BEGIN" not in str(values)


def test_a_hostile_host_cannot_reach_the_jdbc_url() -> None:
    bad = SourceEndpoint(
        host="db?sslfactory=evil", port=5432, database="app", user="u", password="p",
        publication="p", slot_name="s", tables=("t",),
    )  # fmt: skip
    with pytest.raises(PreconditionFailed, match="JDBC URL"):
        bad.jdbc_url()


# -- secrets are never shown ------------------------------------------------------------------------
def test_secrets_are_generic_strings_run_with_values_but_recorded_and_logged_redacted() -> None:
    sql = FakeSql()
    rec = SecretRecorder(sql, apply=True)  # type: ignore[arg-type]
    secrets = _secrets(NAME, SOURCE, DEST)

    for secret in secrets.all():
        rec.secret(secret)

    assert [a.statement for a in rec.actions] == [
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD TYPE = GENERIC_STRING "
        "SECRET_STRING = '<source password>' COMMENT = 'managed by openflow-autopilot; version v7'",
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY TYPE = GENERIC_STRING "
        f"SECRET_STRING = '<private key of OPENFLOW_SERVICE_USER, fingerprint {KEY.fingerprint}>' "
        f"COMMENT = 'managed by openflow-autopilot; version {KEY.fingerprint}'",
    ]
    assert "-never-shown" not in " ".join(sql.executed) and "BEGIN" not in " ".join(sql.executed)
    assert "BEGIN PRIVATE KEY" in secrets.key.value  # unencrypted PKCS8: no passphrase property in gen 2
    assert PASSWORD not in repr(SOURCE) and KEY.private_key_pem not in repr(DEST)


def test_a_failing_secret_statement_raises_without_the_value() -> None:
    leak = PreconditionFailed(f"Snowflake error 1003: unexpected '{PASSWORD}'", call="snowflake: CREATE ...")
    sql = FakeSql(fail={"CREATE OR REPLACE SECRET": leak})
    secrets = _secrets(NAME, SOURCE, DEST)

    with pytest.raises(PreconditionFailed) as raised:
        SecretRecorder(sql, apply=True).secret(secrets.password)  # type: ignore[arg-type]

    assert PASSWORD not in str(raised.value) and "***" in str(raised.value)


def _connector_sql(status: str, versions: list[dict[str, Any]], default: str | None, **extra: Any) -> FakeSql:
    comment = {"comment": "managed by openflow-autopilot; version v7", "secret_type": "GENERIC_STRING"}
    key_comment = {
        "comment": f"managed by openflow-autopilot; version {KEY.fingerprint}",
        "secret_type": "GENERIC_STRING",
    }
    held = [{"privilege": p, "grantee_name": "OPENFLOW_RUNTIME_ROLE"} for p in ("READ", "USAGE")]
    return FakeSql(
        prefixes={
            "SHOW OPENFLOW CONNECTORS": [
                {"name": "POSTGRES_CDC", "connector_definition": "OPENFLOW_POSTGRES_CDC"}
            ],
            "SHOW SECRETS LIKE 'POSTGRES_CDC_SOURCE_PASSWORD'": [comment],
            "SHOW SECRETS LIKE 'POSTGRES_CDC_SNOWFLAKE_KEY'": [key_comment],
            "SHOW GRANTS ON SECRET": held,
            "DESC OPENFLOW RUNTIME": [{"execute_as_role": "OPENFLOW_RUNTIME_ROLE"}],
            "DESC OPENFLOW CONNECTOR": [{"status": status, "default_version_name": default, **extra}],
            "SHOW VERSIONS IN OPENFLOW CONNECTOR": versions,
        }
    )


def _ensure(sql: FakeSql, store: DictStore) -> Any:
    return ensure_connector(
        sql,  # type: ignore[arg-type]
        request(),
        runtime="OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME",
        source=SOURCE,
        destination=DEST,
        driver_file=JAR,
        fetch_driver=driver,
        store=store,
    )


def _configured() -> dict[str, Any]:
    merged, _ = set_properties(
        documented_config(), desired_properties(SOURCE, DEST, _secrets(NAME, SOURCE, DEST), JAR)
    )
    return merged


def test_a_second_run_with_an_unchanged_config_puts_commits_and_starts_nothing() -> None:
    sql = _connector_sql("RUNNING", [{"name": "VERSION$1", "is_live": "false"}], "VERSION$1")
    store = DictStore({"VERSION$1": _configured()})

    result = _ensure(sql, store)

    assert result.status == "unchanged" and result.actions == [] and store.puts == [] and store.assets == []


def test_a_changed_value_opens_a_live_version_puts_the_jar_then_the_config_and_commits_without_starting() -> (
    None
):
    committed = _configured()
    committed, _ = set_properties(committed, {"Source Database Publication Name": literal_value("old_pub")})
    sql = _connector_sql("STOPPED", [{"name": "VERSION$3", "is_live": "false"}], "VERSION$3")
    store = DictStore({"VERSION$3": committed})

    result = _ensure(sql, store)

    assert [a.kind for a in result.actions] == ["add_live_version", "put_asset", "put_config", "commit"]
    assert store.assets == [JAR]
    assert property_body(store.puts[0], "Source Database Publication Name") == {
        "valueType": "STRING_LITERAL",
        "value": "openflow_pub",
    }
    assert result.actions[2].statement == (
        "PUT config.json snow://openflow_connector/OPENFLOW.OPENFLOW.POSTGRES_CDC/versions/live/ "
        "(set: Source Database Publication Name)"
    )
    assert not any(s.endswith(" START") for s in sql.executed)  # START waits for the commit to settle


def test_a_connector_left_in_update_failed_is_stopped_before_it_is_configured_again() -> None:
    sql = _connector_sql(
        "UPDATE_FAILED",
        [{"name": "VERSION$1", "is_live": "false"}],
        "VERSION$1",
        status_message="Property 'Snowflake Warehouse': Value is not one of the allowable values",
    )
    sql.prefixes["DESC OPENFLOW CONNECTOR"] = [
        [{"status": "UPDATE_FAILED", "default_version_name": "VERSION$1", "status_message": "bad warehouse"}],
        [{"status": "STOPPED", "default_version_name": "VERSION$1"}],
    ]
    store = DictStore({"VERSION$1": documented_config()})

    result = _ensure(sql, store)

    kinds = [a.kind for a in result.actions]
    assert kinds[0] == "stop" and kinds[-1] == "commit"
    assert any("UPDATE_FAILED: bad warehouse" in n for n in result.notes)


def test_a_connector_still_updating_is_waited_for_not_edited() -> None:
    sql = _connector_sql("UPDATING", [], "VERSION$1")
    store = DictStore({"VERSION$1": _configured()})

    with pytest.raises(NotReadyYet, match="UPDATING"):
        _ensure(sql, store)

    assert store.puts == [] and any("WAIT_FOR_STABLE_OPENFLOW_CONNECTORS" in s for s in sql.executed)


# -- polls ------------------------------------------------------------------------------------------
def test_a_failed_wait_is_decided_from_the_status_whatever_its_error_number() -> None:
    # Snowflake documents no error number for a wait's timeout: any error, then DESCRIBE decides
    for errno in (630, 100132, 90000):
        wait_error = PreconditionFailed(f"Snowflake error {errno}: something about the wait")
        creating = FakeSql(
            prefixes={"DESC OPENFLOW RUNTIME": [{"status": "CREATING"}]},
            fail={"SELECT SYSTEM$WAIT": wait_error},
        )
        poll = runtime_status(creating, request())  # type: ignore[arg-type]
        assert poll["done"] is False and poll["status"] == "CREATING"
        assert not any(s.startswith("CREATE") for s in creating.executed)


def test_a_runtime_in_a_documented_failed_state_raises_with_describes_reason_and_the_recovery() -> None:
    failed = FakeSql(
        prefixes={
            "DESC OPENFLOW RUNTIME": [{"status": "ACTIVATE_FAILED", "status_message": "node group at 0"}]
        },
        fail={"SELECT SYSTEM$WAIT": PreconditionFailed("Snowflake error 90000: entered ACTIVATE_FAILED")},
    )
    with pytest.raises(PreconditionFailed, match="ACTIVATE_FAILED: node group at 0") as raised:
        runtime_status(failed, request())  # type: ignore[arg-type]
    assert "RESUME RECOVERY" in str(raised.value)


def test_a_stable_stopped_connector_is_started_once_per_poll_and_done_when_running() -> None:
    stopped = FakeSql(prefixes={"DESC OPENFLOW CONNECTOR": [{"status": "STOPPED"}]})
    first = connector_status(stopped, NAME)  # type: ignore[arg-type]
    assert first["started"] is True and first["done"] is False and first["starts"] == 1
    assert stopped.executed[-1] == f"ALTER OPENFLOW CONNECTOR {NAME} START"

    running = FakeSql(prefixes={"DESC OPENFLOW CONNECTOR": [{"status": "RUNNING"}]})
    assert connector_status(running, NAME, state=first)["done"] is True  # type: ignore[arg-type]

    with pytest.raises(PreconditionFailed, match="back to STOPPED"):
        connector_status(stopped, NAME, state={"starts": 2})  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["UPDATE_FAILED", "START_FAILED"])
def test_a_connector_that_failed_raises_with_the_status_message_and_says_a_rerun_stops_it(
    status: str,
) -> None:
    sql = FakeSql(
        prefixes={
            "DESC OPENFLOW CONNECTOR": [{"status": status, "status_message": "Property 'X' is required"}]
        }
    )
    with pytest.raises(PreconditionFailed, match=f"{status}: Property 'X' is required") as raised:
        connector_status(sql, NAME)  # type: ignore[arg-type]
    assert "STOP" in str(raised.value) and not any(s.endswith("START") for s in sql.executed)


# -- gen 1 ------------------------------------------------------------------------------------------
def test_gen1_runtime_instructions_name_the_runtime_size_and_single_node() -> None:
    text = gen1_runtime_instructions(request(), resume_hint="openflow-autopilot resume --token-file t.json")

    assert "Runtime name: POSTGRES_CDC_RUNTIME" in text and "Node type: Medium" in text
    assert "Min nodes: 1   Max nodes: 1" in text and "resume --token-file t.json" in text


def test_a_gen1_runtime_integration_is_recognised_by_name_or_comment_but_not_by_a_fragment() -> None:
    named = FakeSql(prefixes={"SHOW OPENFLOW RUNTIME INTEGRATIONS": [{"name": "POSTGRES_CDC_RUNTIME"}]})
    commented = FakeSql(
        prefixes={
            "SHOW OPENFLOW RUNTIME INTEGRATIONS": [
                {"name": "OPENFLOW_RUNTIME_1", "comment": "postgres_cdc_runtime"}
            ]
        }
    )
    other = FakeSql(prefixes={"SHOW OPENFLOW RUNTIME INTEGRATIONS": [{"name": "POSTGRES_CDC_RUNTIME_OLD"}]})

    assert gen1_runtime_exists(named, request())  # type: ignore[arg-type]
    assert gen1_runtime_exists(commented, request())  # type: ignore[arg-type]
    assert not gen1_runtime_exists(other, request())  # type: ignore[arg-type]


def test_gen1_connector_instructions_list_canvas_names_and_point_at_secrets_without_values() -> None:
    text = gen1_connector_instructions(
        request(),
        source={
            "host": "db.example.com",
            "port": 5432,
            "database": "app",
            "user": "openflow_user",
            "publication": "openflow_pub",
            "slot_name": "openflow_sales_cdc",
            "tables": ["public.sample_data"],
        },
        destination={"database": "D", "role": "R", "warehouse": "W", "user": "U"},
        password_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:pw",
        key_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:key",
    )

    assert "PostgreSQL Connection URL" in text and "jdbc:postgresql://db.example.com:5432/app" in text
    assert "Snowflake Authentication Strategy" in text and "KEY_PAIR" in text
    assert "'password' field of Secrets Manager secret arn:aws:secretsmanager:us-east-1:1:secret:pw" in text
    assert PASSWORD not in text


def test_a_new_runtime_is_created_with_the_execute_as_role_and_small_is_kept_with_a_warning() -> None:
    from openflow_autopilot.phases.runtime import SMALL_WARNING, ensure_runtime

    small = parse_request(request().model_dump(mode="json") | {"runtime": {"size": "SMALL"}})
    sql = FakeSql(prefixes={"SHOW OPENFLOW DEPLOYMENTS": [{"name": "DEP", "status": "ACTIVE"}]})

    medium = ensure_runtime(sql, request(), deployment="DEP", apply=False)  # type: ignore[arg-type]
    kept = ensure_runtime(sql, small, deployment="DEP", apply=False)  # type: ignore[arg-type]

    [create] = [a.statement for a in medium.actions]
    assert "NODE_TYPE = MEDIUM" in create and "EXECUTE_AS_ROLE = OPENFLOW_RUNTIME_ROLE" in create
    assert SMALL_WARNING not in medium.notes and SMALL_WARNING in kept.notes
    assert "NODE_TYPE = SMALL" in kept.actions[0].statement
