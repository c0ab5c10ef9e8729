"""Hardening of the provisioning request: strict types, the source host, table names under
PostgreSQL's rules, system roles and users, reserved PostgreSQL roles, secrets inside the granted
prefix, no credential echoed in a message, and a request file loader that refuses hostile files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_request_model import EXAMPLE, ROOT, with_change

from openflow_autopilot.config import load_request_file, parse_request
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.request_rules import LOOPBACK_ENV, masked_url


@pytest.fixture
def good() -> dict[str, Any]:
    return dict(yaml.safe_load(EXAMPLE.read_text()))


ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
NIFI_URL = "https://of--myorg-myaccount.snowflakecomputing.app/postgres-cdc-runtime/nifi-api"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules read these variables; the tests never depend on the caller's environment."""
    monkeypatch.delenv(LOOPBACK_ENV, raising=False)
    monkeypatch.delenv("SECRETS_PREFIX", raising=False)


def refused(data: Any, field: str, *words: str, hidden: str | None = None) -> str:
    with pytest.raises(InvalidRequest) as info:
        parse_request(data)
    message = str(info.value)
    assert field in message, message
    for word in words:
        assert word in message, message
    if hidden is not None:
        assert hidden not in message, message
    return message


Case = tuple[str, Any, str, tuple[str, ...], str | None]


def cases(field: str, *values: Any, says: tuple[str, ...] = (), hidden: str | None = None) -> list[Case]:
    """One bad-input case per value: change `field` (for a list, the message names its first item's
    field, given as `notifications.0.<field>`) and expect the message to name it and say `says`."""
    dotted = field.split(".0.")[0]
    wrap = (lambda v: [{field.split(".0.")[1]: v}]) if ".0." in field else (lambda v: v)
    return [(dotted, wrap(v), field, says, hidden) for v in values]


ROLE = "is a system role"
# (dotted path to change, value, field the message names, words it says, value it must not show)
BAD: list[Case] = [
    # --- strict types: a bool is not a number, nor is a quoted number --------------------------------
    *cases("openflow.generation", True, False, "2", 2.0, says=("1 or 2",)),
    *cases("source.port", True, "5432", 5432.0, says=("whole number",)),
    *cases("destination.auto_suspend_seconds", True, "300", says=("whole number",)),
    *cases("watch.interval_minutes", True),
    *cases("source.allow_reboot", "yes"),
    *cases("allow_recreate_stack", "true"),
    *cases("schedule.stop_agent", 1),
    # --- source.host: a DNS name or a routable address -----------------------------------------------
    *cases("source.host", "127.0.0.1", says=("loopback", LOOPBACK_ENV)),
    *cases("source.host", "127.5.6.7", "::1", "::ffff:127.0.0.1", "localhost", "db.LOCALHOST",
           says=("loopback",)),
    *cases("source.host", "169.254.169.254", says=("link-local", "metadata")),
    *cases("source.host", "169.254.170.2", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "fe80::1",
           says=("link-local",)),
    *cases("source.host", "fd00:ec2::254", says=("metadata",)),
    *cases("source.host", "0.0.0.0", "::", says=("unspecified",)),  # noqa: S104
    *cases("source.host", "224.0.0.1", "ff02::1", says=("multicast",)),
    *cases("source.host", "255.255.255.255", says=("reserved",)),
    *cases("source.host", "127.1", "2130706433", "0x7f000001", says=("numeric label",)),
    *cases("source.host", "postgres://admin:hunter2@db.example.com/sales", says=("DNS name",),
           hidden="hunter2"),
    *cases("source.host", "db.example.com:5432", "-db-.example.com", "db_1.example.com", "",
           says=("DNS name",)),
    *cases("source.host", "a" * 64 + ".example.com", says=("DNS name",)),
    *cases("source.host", "a." * 127 + "com", says=("253",)),
    *cases("source.host", "db.example.com.", says=("trailing dot",)),
    # --- source.tables: one table, several spellings -------------------------------------------------
    *cases("source.tables", ["public.Sample_Data", "sample_data"], ['"public"."sample_data"', "sample_data"],
           says=("source.tables: public.sample_data is listed twice",)),
    *cases("source.tables", ["PUBLIC.SAMPLE_DATA", "public.sample_data"], ['"a""b"', 'public."a""b"'],
           says=("listed twice",)),
    *cases("source.tables", ['sales."Orders"', 'SALES."Orders"'], says=('sales."Orders" is listed twice',)),
    # --- Snowflake system roles and users ------------------------------------------------------------
    *cases("destination.service_role", "ACCOUNTADMIN", "accountadmin", says=(
        "destination.service_role: ACCOUNTADMIN is a system role; the workflow grants this role to the "
        "service user, so name a role of its own (default OPENFLOW_SERVICE_ROLE)",
    )),
    *cases("destination.service_role", "PUBLIC", says=(ROLE,)),
    *cases("snowflake.admin_role", "SYSADMIN", says=(ROLE, "OPENFLOW_ADMIN_ROLE")),
    *cases("snowflake.admin_role", "SecurityAdmin", says=("SECURITYADMIN " + ROLE,)),
    *cases("runtime.execute_as_role", "ORGADMIN", says=(ROLE, "OPENFLOW_RUNTIME_ROLE")),
    *cases("runtime.execute_as_role", "GLOBALORGADMIN", "USERADMIN", says=(ROLE,)),
    *cases("destination.service_user", "SNOWFLAKE", says=("system user", "OPENFLOW_SERVICE_USER")),
    *cases("destination.service_user", "snowflake", says=("SNOWFLAKE is a system user",)),
    *cases("destination.service_user", "ACCOUNTADMIN", says=("system user",)),
    # --- PostgreSQL reserved roles -------------------------------------------------------------------
    *cases("source.replication_user", "postgres", "rdsadmin", "rds_superuser", "rdsrepl", "pg_monitor",
           says=("reserved",)),
    *cases("source.use_existing_replication_user", "yes", 1),
    # --- RDS parameter group names (CreateDBParameterGroup's rules) ----------------------------------
    *cases("source.parameter_group_name", "bad--name", "-lead", "trail-", "9start", "with space", "x" * 256,
           says=("parameter group name",)),
    *cases("source.parameter_group_name", True, 7),
    # --- secrets outside the prefix the functions may read -------------------------------------------
    *cases("snowflake.credentials_secret_arn", ARN + "other/login-AbCdEf",
           says=("openflow-autopilot/", "SecretsPrefix")),
    *cases("snowflake.credentials_secret_arn", ARN + "login-AbCdEf", ARN + "rds!db-0123-AbCdEf",
           says=("openflow-autopilot/",)),
    *cases("source.master_secret_arn", ARN + "sales-db-master-AbCdEf", says=("openflow-autopilot/", "rds!")),
    *cases("source.master_secret_arn", ARN + "rdsdb-0123-AbCdEf", says=("rds!",)),
    *cases("notifications.0.slack_webhook_secret_arn", ARN + "team-slack-AbCdEf",
           says=("openflow-autopilot/",)),
    # --- values that may carry a credential are never echoed -----------------------------------------
    *cases("notifications.0.sns_topic_arn", SLACK, says=("SNS topic ARN",), hidden="XXXXSECRET"),
    *cases("snowflake.credentials_secret_arn", SLACK, says=("Secrets Manager ARN",), hidden="XXXXSECRET"),
    *cases("openflow.template_s3_uri", "https://b.s3.amazonaws.com/t.yaml?X-Amz-Signature=SIGSECRET",
           says=("S3 URI",), hidden="SIGSECRET"),
    *cases("source.jdbc_driver", "https://u:pw12345@x.example/d.jar", says=("jar",), hidden="pw12345"),
]  # fmt: skip


@pytest.mark.parametrize(("dotted", "value", "field", "words", "hidden"), BAD)
def test_a_bad_value_is_refused_naming_the_field(
    good: dict[str, Any], dotted: str, value: Any, field: str, words: tuple[str, ...], hidden: str | None
) -> None:
    refused(with_change(good, dotted, value), field, *words, hidden=hidden)


def test_there_are_at_least_sixty_bad_input_cases() -> None:
    assert len(BAD) >= 60


# --- rules that need more than one field --------------------------------------------------------------
def gen1(good: dict[str, Any], **runtime: Any) -> dict[str, Any]:
    data = with_change(good, "openflow.generation", 1)
    data["runtime"].update(runtime)
    return data


def test_a_nifi_url_with_credentials_is_refused_without_showing_them(good: dict[str, Any]) -> None:
    data = gen1(
        good,
        nifi_url="https://user:hunter2@host.example/nifi-api?token=abc123",
        nifi_token_secret_arn=ARN + "openflow-autopilot/nifi-token-AbCdEf",
    )
    message = refused(data, "runtime.nifi_url", "https://<runtime host>/nifi-api")
    assert "hunter2" not in message and "abc123" not in message and "user" not in message


def test_a_nifi_token_secret_outside_the_prefix_is_refused(good: dict[str, Any]) -> None:
    data = gen1(good, nifi_url=NIFI_URL, nifi_token_secret_arn=ARN + "nifi-token-AbCdEf")
    refused(data, "runtime.nifi_token_secret_arn", "openflow-autopilot/")


def test_a_source_needs_an_rds_instance_or_a_host(good: dict[str, Any]) -> None:
    del good["source"]["rds_instance_id"]
    refused(good, "source", "source: set rds_instance_id (an RDS instance) or host (any PostgreSQL)")


def test_a_source_given_by_host_only_is_accepted(good: dict[str, Any]) -> None:
    del good["source"]["rds_instance_id"]
    good["source"]["host"] = "db.internal.example.com"
    assert parse_request(good).source.host == "db.internal.example.com"


@pytest.mark.parametrize(
    "host", ["10.0.1.15", "2600:1f18::10", "sales-db.abc123.ap-northeast-1.rds.amazonaws.com"]
)
def test_private_and_public_addresses_and_dns_names_are_accepted(good: dict[str, Any], host: str) -> None:
    assert parse_request(with_change(good, "source.host", host)).source.host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "tunnel.localhost"])
def test_a_loopback_source_is_accepted_only_with_the_tunnel_variable(
    good: dict[str, Any], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    refused(with_change(good, "source.host", host), "source.host", "loopback")
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    assert parse_request(with_change(good, "source.host", host)).source.host == host


@pytest.mark.parametrize("host", ["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fe80::1", "0.0.0.0"])  # noqa: S104
def test_the_tunnel_variable_never_allows_metadata_or_link_local_addresses(
    good: dict[str, Any], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    refused(with_change(good, "source.host", host), "source.host")


@pytest.mark.parametrize("value", ["true", "yes", "0"])
def test_only_the_value_1_allows_a_loopback_source(
    good: dict[str, Any], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(LOOPBACK_ENV, value)
    refused(with_change(good, "source.host", "127.0.0.1"), "source.host", "loopback")


def test_tables_that_differ_under_postgres_rules_are_both_accepted(good: dict[str, Any]) -> None:
    tables = ['"Sample_Data"', "sample_data", "other.sample_data", '"public"."Sample_Data "']
    assert parse_request(with_change(good, "source.tables", tables)).source.tables == tables


def test_the_login_role_may_be_a_system_role(good: dict[str, Any]) -> None:
    assert parse_request(with_change(good, "snowflake.login_role", "ACCOUNTADMIN")).snowflake.login_role == (
        "ACCOUNTADMIN"
    )


def test_the_rds_managed_master_secret_is_accepted(good: dict[str, Any]) -> None:
    arn = ARN + "rds!db-0123abcd-4567-89ef-0123-456789abcdef-AbCdEf"
    assert parse_request(with_change(good, "source.master_secret_arn", arn)).source.master_secret_arn == arn


def test_the_secrets_prefix_comes_from_the_functions_environment(
    good: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_PREFIX", "team-a/")
    refused(good, "snowflake.credentials_secret_arn", "team-a/")
    arn = ARN + "team-a/snowflake-login-AbCdEf"
    assert (
        parse_request(
            with_change(good, "snowflake.credentials_secret_arn", arn)
        ).snowflake.credentials_secret_arn
        == arn
    )


def test_a_parameter_group_name_is_optional_and_round_trips_when_given(good: dict[str, Any]) -> None:
    assert "parameter_group_name" not in parse_request(good).model_dump(mode="json")["source"]
    request = parse_request(with_change(good, "source.parameter_group_name", "team-pg15"))
    assert request.source.parameter_group_name == "team-pg15"
    assert parse_request(request.model_dump(mode="json")) == request


def test_use_existing_replication_user_is_false_by_default_and_left_out_of_dumps(
    good: dict[str, Any],
) -> None:
    request = parse_request(good)
    assert request.source.use_existing_replication_user is False
    assert "use_existing_replication_user" not in request.model_dump(mode="json")["source"]
    request = parse_request(with_change(good, "source.use_existing_replication_user", True))
    dumped = request.model_dump(mode="json")
    assert dumped["source"]["use_existing_replication_user"] is True
    assert parse_request(dumped) == request


def test_the_example_requests_still_round_trip(good: dict[str, Any]) -> None:
    payload = json.loads((ROOT / "events" / "provision" / "start-execution.json").read_text())
    assert payload["request"] == parse_request(good).model_dump(mode="json")


def test_no_message_quotes_the_input_of_a_pydantic_error(good: dict[str, Any]) -> None:
    data = with_change(good, "runtime.size", "TOKENVALUE123")
    data = with_change(data, "destination.warehouse_size", "TOKENVALUE456")
    data = with_change(data, "source.publication", "TOKENVALUE789")
    message = refused(data, "runtime.size")
    assert "TOKENVALUE" not in message


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("https://user:pw@host.example/nifi-api?token=abc", "https://***@host.example/***"),
        (SLACK, "https://hooks.slack.com/***"),
        ("https://host.example", "https://host.example"),
        ("not a url hunter2", "the value (not shown)"),
        (12345, "the value (not shown)"),
    ],
)
def test_masked_url_shows_only_the_scheme_and_host(value: Any, shown: str) -> None:
    assert masked_url(value) == shown


# --- the request file loader ------------------------------------------------------------------------
def write(tmp_path: Path, content: str | bytes, name: str = "request.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


HOSTILE: list[tuple[str | bytes, str]] = [
    ("a: &a [" + "*a," * 10 + "]", "alias"),
    (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: [*b, *b, *b, *b, *b]",
        "alias",
    ),
    ("a: &x 1\nb: *x\n", "alias"),
    ("a: *undefined\n", "alias"),
    ("[" * 100000, "deeper than 50"),
    ("{" * 100000, "deeper than 50"),
    ("[" * 100000 + "]" * 100000, "deeper than 50"),
    ("- " * 60 + "x\n", "deeper than 50"),
    ("a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 80)), "deeper than 50"),
    (b"\xff\xfe", "not UTF-8 text"),
    (b"name: caf\xe9\n", "not UTF-8 text"),
    (b"name: x\x00y\n", "NUL"),
    (b"\x00\x01\x02\x03", "NUL"),
    ("name: a\nname: b\n", "'name'"),
    ("source:\n  host: a.example\n  host: b.example\n", "line 3"),
    ('{"name": "a", "name": "b"}', "repeats the key 'name'"),
    ("name: [unclosed", "not valid YAML"),
    ("name: x\n--- \nname: y\n", "not valid YAML"),
    ("holidays: [2026-02-30]\n", "not valid YAML"),
    ("n: " + "1" * 5000 + "\n", "not valid YAML"),
    ("x: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
    ("? [a, b]\n: 1\n", "not valid YAML"),
    ("x: !!binary '%%%'\n", "x: Extra inputs"),
    ("x: !!binary 'A'\n", "not valid YAML"),
    ("name: \x07bell\n", "not valid YAML"),
    ("", "expected a mapping"),
    ("- just\n- a list\n", "expected a mapping"),
]


@pytest.mark.parametrize(("content", "says"), HOSTILE)
def test_a_hostile_request_file_is_refused_with_invalid_request_only(
    tmp_path: Path, content: str | bytes, says: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        load_request_file(write(tmp_path, content))
    assert says in str(info.value), str(info.value)


def test_a_file_over_one_mib_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    with pytest.raises(InvalidRequest, match="over the 1 MiB limit"):
        load_request_file(path)


def test_a_directory_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="directory"):
        load_request_file(tmp_path)
    with pytest.raises(InvalidRequest, match="cannot read request file"):
        load_request_file(tmp_path / "missing.yaml")


def test_a_yaml_error_does_not_quote_the_line_it_found(tmp_path: Path) -> None:
    path = write(tmp_path, "password: hunter2 [\nname: : :\n")
    with pytest.raises(InvalidRequest) as info:
        load_request_file(path)
    assert "hunter2" not in str(info.value)


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("  database: sales\n", "  database: sales\n  database: other\n")
    with pytest.raises(InvalidRequest) as info:
        load_request_file(write(tmp_path, text))
    assert "'database'" in str(info.value) and "line 20" in str(info.value) and "line 21" in str(info.value)


def test_a_json_request_file_is_read_by_the_same_loader(tmp_path: Path, good: dict[str, Any]) -> None:
    path = write(tmp_path, json.dumps(good, default=str), name="request.json")
    assert load_request_file(path) == parse_request(good)


def test_the_example_file_loads_with_the_hardened_loader() -> None:
    assert load_request_file(EXAMPLE).source.tables == ["public.sample_data"]
