"""The connector's parameter table, the config.json merge, secrets redaction and the runtime /
connector polls, without a network."""

from __future__ import annotations

from typing import Any

import pytest

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.connector_config import merge_parameters, stage_uri
from openflow_autopilot.openflow.connector_parameters import (
    BY_KEY,
    PARAMETERS,
    P,
    destination_table,
    gen1_name,
    gen2_name,
)
from openflow_autopilot.phases.connector import (
    DestinationInfo,
    SourceEndpoint,
    _Recorder,
    _secrets,
    connector_status,
    desired_parameters,
    ensure_connector,
    gen1_connector_instructions,
)
from openflow_autopilot.phases.runtime import (
    gen1_runtime_exists,
    gen1_runtime_instructions,
    is_wait_timeout,
    runtime_status,
)
from openflow_autopilot.postgres.names import TableName

PASSWORD = "pa'ss-never-shown"
PEM = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFAKE\n-----END ENCRYPTED PRIVATE KEY-----\n"


class FakeSql:
    """Canned answers by statement prefix; `fail` maps a statement prefix to an exception to raise."""

    def __init__(
        self, answers: dict[str, Any] | None = None, fail: dict[str, Exception] | None = None
    ) -> None:
        self.answers = answers or {}
        self.fail = fail or {}
        self.executed: list[str] = []

    def query(self, statement: str) -> list[dict[str, Any]]:
        for prefix, exc in self.fail.items():
            if statement.startswith(prefix):
                raise exc
        self.executed.append(statement)
        for prefix, rows in self.answers.items():
            if statement.startswith(prefix):
                return rows.pop(0) if rows and isinstance(rows[0], list) else rows
        return []

    def execute(self, statement: str) -> None:
        self.query(statement)


class DictStore:
    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self.configs = configs
        self.puts: list[dict[str, Any]] = []

    def get(self, connector: str, version: str) -> dict[str, Any]:
        return dict(self.configs[version])

    def put(self, connector: str, config: Any) -> None:
        self.puts.append(dict(config))
        self.configs["live"] = dict(config)


def request() -> ProvisionRequest:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": "MYORG-MYACCOUNT",
                "admin_user": "JDOE",
                "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:login-AbCdEf",
            },
            "openflow": {"deployment_name": "DEP"},
            "aws": {"region": "us-east-1"},
            "source": {"database": "app", "tables": ["public.sample_data"]},
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
    private_key_pem=PEM,
    private_key_passphrase="phrase-never-shown",
    key_fingerprint="SHA256:abc=",
)
NAME = "OPENFLOW.OPENFLOW.POSTGRES_CDC"


# -- the parameter table ----------------------------------------------------------------------------
def test_every_parameter_has_one_row_and_unique_names_in_both_generations() -> None:
    assert {p.key for p in PARAMETERS} == set(P)
    assert len({p.gen1 for p in PARAMETERS}) == len({p.gen2 for p in PARAMETERS}) == len(PARAMETERS)


def test_the_documented_gen1_canvas_names_and_gen2_renames_are_in_the_table() -> None:
    assert [
        gen1_name(k) for k in (P.CONNECTION_URL, P.PUBLICATION, P.REPLICATION_SLOT, P.INCLUDED_TABLES)
    ] == [
        "PostgreSQL Connection URL",
        "Publication Name",
        "Replication Slot Name",
        "Included Table Names",
    ]
    assert gen2_name(P.CONNECTION_URL) == "Source Database Connection URL"
    assert gen2_name(P.INCLUDED_TABLE_PATTERN) == "Included Source Table Pattern"
    assert gen2_name(P.DESTINATION_DATABASE) == "Snowflake Destination Database"
    assert BY_KEY[P.SOURCE_PASSWORD].kind == BY_KEY[P.PRIVATE_KEY].kind == "secret"


def test_the_destination_table_keeps_the_source_names_and_their_case_quoted() -> None:
    assert destination_table("openflow_replicated_data", TableName("Sales", "Orders")) == (
        'OPENFLOW_REPLICATED_DATA."Sales"."Orders"'
    )


# -- config.json ------------------------------------------------------------------------------------
def test_merging_sets_our_parameters_and_keeps_every_unknown_key() -> None:
    current = {
        "connector_definition": "OPENFLOW_POSTGRES_CDC",
        "flow": {"version": "1.2.3"},
        "parameters": {"Merge Task Schedule CRON": "* * * * * ?", "Publication Name": "old_pub"},
    }

    merged, changed = merge_parameters(current, {"Publication Name": "openflow_pub", "Snowflake Role": "R"})
    again, unchanged = merge_parameters(merged, {"Publication Name": "openflow_pub", "Snowflake Role": "R"})

    assert (
        merged["flow"] == {"version": "1.2.3"} and merged["connector_definition"] == "OPENFLOW_POSTGRES_CDC"
    )
    assert merged["parameters"] == {
        "Merge Task Schedule CRON": "* * * * * ?",
        "Publication Name": "openflow_pub",
        "Snowflake Role": "R",
    }
    assert changed == ["Publication Name", "Snowflake Role"] and unchanged == [] and again == merged
    assert current["parameters"]["Publication Name"] == "old_pub"  # the input is not modified


def test_a_parameters_entry_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(PreconditionFailed, match="not a JSON object"):
        merge_parameters({"parameters": ["x"]}, {"a": "b"})


def test_stage_uris_are_built_from_validated_names() -> None:
    assert stage_uri("openflow.openflow.pg", "live", "config.json") == (
        "snow://openflow_connector/OPENFLOW.OPENFLOW.PG/versions/live/config.json"
    )
    with pytest.raises(ValueError, match="version"):
        stage_uri(NAME, "live/../x")


def test_the_desired_parameters_refer_to_secrets_and_hold_no_secret_value() -> None:
    values, remove = desired_parameters(SOURCE, DEST, _secrets(NAME, SOURCE, DEST))

    assert values["Source Database Connection URL"] == "jdbc:postgresql://db.example.com:5432/app"
    assert values["Source Database Password"] == "OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD"
    assert values["Snowflake Private Key"] == "OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY"
    assert (
        values["Snowflake Private Key Password"] == "OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY_PASSPHRASE"
    )
    assert values["Included Source Table Names"] == 'public.sample_data,"Sales"."Orders"'
    assert values["Snowflake Authentication Strategy"] == "KEY_PAIR"
    assert remove == ()
    assert PASSWORD not in str(values) and "BEGIN" not in str(values)


def test_a_hostile_host_cannot_reach_the_jdbc_url() -> None:
    bad = SourceEndpoint(
        host="db?sslfactory=evil", port=5432, database="app", user="u", password="p",
        publication="p", slot_name="s", tables=("t",),
    )  # fmt: skip
    with pytest.raises(PreconditionFailed, match="JDBC URL"):
        bad.jdbc_url()


# -- secrets are never shown ------------------------------------------------------------------------
def test_secret_statements_run_with_values_but_are_recorded_and_logged_redacted() -> None:
    sql = FakeSql()
    sql.executed = []
    rec = _Recorder(sql, apply=True)  # type: ignore[arg-type]
    password, key, _ = _secrets(NAME, SOURCE, DEST)

    for secret in (password, key):
        rec.secret(secret)

    assert [a.statement for a in rec.actions] == [
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SOURCE_PASSWORD TYPE = PASSWORD "
        "USERNAME = 'openflow_user' PASSWORD = '<source password>' "
        "COMMENT = 'managed by openflow-autopilot; version v7'",
        "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY TYPE = GENERIC_STRING "
        "SECRET_STRING = '<private key of OPENFLOW_SERVICE_USER, fingerprint SHA256:abc=>' "
        "COMMENT = 'managed by openflow-autopilot; version SHA256:abc='",
    ]
    assert "PASSWORD = 'pa\\'ss-never-shown'" not in " ".join(sql.executed)
    assert "-never-shown" not in " ".join(sql.executed) and "BEGIN" not in " ".join(sql.executed)
    assert PASSWORD not in repr(SOURCE) and "phrase-never-shown" not in repr(DEST)


def test_a_failing_secret_statement_raises_without_the_value() -> None:
    leak = PreconditionFailed(f"Snowflake error 1003: unexpected '{PASSWORD}'", call="snowflake: CREATE ...")
    sql = FakeSql(fail={"CREATE OR REPLACE SECRET": leak})
    password, _, _ = _secrets(NAME, SOURCE, DEST)

    with pytest.raises(PreconditionFailed) as raised:
        _Recorder(sql, apply=True).secret(password)  # type: ignore[arg-type]

    assert PASSWORD not in str(raised.value) and "***" in str(raised.value)


def test_a_second_run_with_an_unchanged_config_puts_and_commits_nothing() -> None:
    values, _ = desired_parameters(SOURCE, DEST, _secrets(NAME, SOURCE, DEST))
    committed = {"connector_definition": "OPENFLOW_POSTGRES_CDC", "parameters": values, "extra": 1}
    comment = {"comment": "managed by openflow-autopilot; version v7"}
    key_comment = {"comment": "managed by openflow-autopilot; version SHA256:abc="}
    sql = FakeSql(
        {
            "SHOW OPENFLOW CONNECTORS": [
                {"name": "POSTGRES_CDC", "connector_definition": "OPENFLOW_POSTGRES_CDC"}
            ],
            "SHOW SECRETS LIKE 'POSTGRES_CDC_SOURCE_PASSWORD'": [comment],
            "SHOW SECRETS LIKE 'POSTGRES_CDC_SNOWFLAKE_KEY'": [key_comment],
            "SHOW SECRETS LIKE 'POSTGRES_CDC_SNOWFLAKE_KEY_PASSPHRASE'": [key_comment],
            "DESC OPENFLOW RUNTIME": [{"execute_as_role": None}],
            "DESC OPENFLOW CONNECTOR": [{"status": "RUNNING", "default_version_name": "VERSION$1"}],
            "SHOW VERSIONS IN OPENFLOW CONNECTOR": [{"name": "VERSION$1", "is_live": "false"}],
        }
    )
    store = DictStore({"VERSION$1": committed})

    result = ensure_connector(
        sql,  # type: ignore[arg-type]
        request(),
        runtime="OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME",
        source=SOURCE,
        destination=DEST,
        store=store,
    )

    assert result.status == "unchanged" and result.actions == [] and store.puts == []


def test_a_changed_value_opens_a_live_version_puts_and_commits_but_does_not_restart_a_running_connector() -> (
    None
):
    values, _ = desired_parameters(SOURCE, DEST, _secrets(NAME, SOURCE, DEST))
    committed = {"parameters": values | {"Publication Name": "old_pub"}, "extra": {"keep": True}}
    sql = FakeSql(
        {
            "SHOW OPENFLOW CONNECTORS": [
                {"name": "POSTGRES_CDC", "connector_definition": "OPENFLOW_POSTGRES_CDC"}
            ],
            "SHOW SECRETS LIKE": [{"comment": "x"}],
            "DESC OPENFLOW CONNECTOR": [{"status": "RUNNING", "default_version_name": "VERSION$3"}],
            "SHOW VERSIONS IN OPENFLOW CONNECTOR": [{"name": "VERSION$3", "is_live": "false"}],
        }
    )
    store = DictStore({"VERSION$3": committed})

    result = ensure_connector(
        sql,  # type: ignore[arg-type]
        request(),
        runtime="OPENFLOW.OPENFLOW.POSTGRES_CDC_RUNTIME",
        source=SOURCE,
        destination=DEST,
        store=store,
    )

    assert [a.kind for a in result.actions] == [
        "create_secret",
        "create_secret",
        "create_secret",
        "add_live_version",
        "put_config",
        "commit",
    ]
    assert (
        store.puts[0]["extra"] == {"keep": True}
        and store.puts[0]["parameters"]["Publication Name"] == "openflow_pub"
    )
    assert result.actions[4].statement == (
        "PUT config.json snow://openflow_connector/OPENFLOW.OPENFLOW.POSTGRES_CDC/versions/live/ "
        "(set: Publication Name)"
    )
    assert any("STOP and START" in n for n in result.notes)


# -- polls ------------------------------------------------------------------------------------------
def test_a_wait_that_times_out_is_not_done_and_a_failed_runtime_raises() -> None:
    timeout = PreconditionFailed("Snowflake error 630: Timeout of 20 seconds elapsed")
    creating = FakeSql(
        {"DESC OPENFLOW RUNTIME": [{"status": "CREATING"}]}, fail={"SELECT SYSTEM$WAIT": timeout}
    )
    failed = FakeSql(
        {"DESC OPENFLOW RUNTIME": [{"status": "FAILED"}]},
        fail={"SELECT SYSTEM$WAIT": PreconditionFailed("Snowflake error 90000: entered status FAILED")},
    )

    poll = runtime_status(creating, request())  # type: ignore[arg-type]

    assert is_wait_timeout(timeout) and poll["done"] is False and poll["status"] == "CREATING"
    assert not any(s.startswith("CREATE") for s in creating.executed)
    with pytest.raises(PreconditionFailed, match="FAILED"):
        runtime_status(failed, request())  # type: ignore[arg-type]


def test_a_stopped_connector_fails_the_wait_instead_of_looping_until_the_budget() -> None:
    timeout = PreconditionFailed("Snowflake error 630: Timeout")
    sql = FakeSql({"DESC OPENFLOW CONNECTOR": [{"status": "STOPPED"}]}, fail={"SELECT SYSTEM$WAIT": timeout})

    with pytest.raises(PreconditionFailed, match="STOPPED"):
        connector_status(sql, NAME)  # type: ignore[arg-type]


# -- gen 1 ------------------------------------------------------------------------------------------
def test_gen1_runtime_instructions_name_the_runtime_size_and_single_node() -> None:
    text = gen1_runtime_instructions(request(), resume_hint="openflow-autopilot resume --token-file t.json")

    assert "Runtime name: POSTGRES_CDC_RUNTIME" in text and "Node type: Small" in text
    assert "Min nodes: 1   Max nodes: 1" in text and "resume --token-file t.json" in text


def test_a_gen1_runtime_integration_is_recognised_by_name_or_comment_but_not_by_a_fragment() -> None:
    named = FakeSql({"SHOW OPENFLOW RUNTIME INTEGRATIONS": [{"name": "POSTGRES_CDC_RUNTIME"}]})
    commented = FakeSql(
        {
            "SHOW OPENFLOW RUNTIME INTEGRATIONS": [
                {"name": "OPENFLOW_RUNTIME_1", "comment": "postgres_cdc_runtime"}
            ]
        }
    )
    other = FakeSql({"SHOW OPENFLOW RUNTIME INTEGRATIONS": [{"name": "POSTGRES_CDC_RUNTIME_OLD"}]})

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
