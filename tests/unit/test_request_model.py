"""The provisioning request model: one test per validation rule, each naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from openflow_autopilot.config import Generation, VpcType, load_request_file, parse_request
from openflow_autopilot.errors import InvalidRequest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "events" / "provision" / "request.yaml"


@pytest.fixture
def good() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def with_change(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return data


def assert_rejected(data: dict[str, Any], field: str, *words: str) -> str:
    with pytest.raises(InvalidRequest) as info:
        parse_request(data)
    message = str(info.value)
    assert field in message, message
    for word in words:
        assert word in message, message
    return message


def test_the_example_request_is_valid_and_uses_gen2_managed_vpc_by_default() -> None:
    request = load_request_file(EXAMPLE)
    assert request.openflow.generation is Generation.GEN2
    assert request.openflow.vpc_type is VpcType.MANAGED
    assert request.source.tables == ["public.sample_data"]


def test_the_start_execution_example_is_the_yaml_request_as_json() -> None:
    payload = json.loads((ROOT / "events" / "provision" / "start-execution.json").read_text())
    assert payload["request"] == load_request_file(EXAMPLE).model_dump(mode="json")


def test_generation_defaults_to_gen2_when_omitted(good: dict[str, Any]) -> None:
    del good["openflow"]["generation"]
    assert parse_request(good).openflow.generation is Generation.GEN2


def test_gen1_is_accepted_for_an_existing_deployment(good: dict[str, Any]) -> None:
    assert parse_request(with_change(good, "openflow.generation", 1)).openflow.generation is Generation.GEN1


def test_an_unknown_generation_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "openflow.generation", 3), "openflow.generation")


@pytest.mark.parametrize("account", ["myaccount", "MYORG_MYACCOUNT", "org-acct.us-east-1", "-x", "a-b-c", ""])
def test_an_account_identifier_not_in_org_account_form_is_rejected(
    good: dict[str, Any], account: str
) -> None:
    assert_rejected(with_change(good, "snowflake.account", account), "snowflake.account", "org-account")


def test_the_account_identifier_is_upper_cased(good: dict[str, Any]) -> None:
    assert (
        parse_request(with_change(good, "snowflake.account", "myorg-acct1")).snowflake.account
        == "MYORG-ACCT1"
    )


@pytest.mark.parametrize(
    "field",
    [
        "snowflake.admin_user",
        "snowflake.admin_role",
        "snowflake.login_role",
        "openflow.deployment_name",
        "destination.database",
        "destination.warehouse",
        "destination.service_user",
        "runtime.name",
    ],
)
@pytest.mark.parametrize(
    "bad", ['ADMIN"; DROP USER X; --', "a;b", "has space", "quote'd", "1starts_with_digit", "a.b"]
)
def test_a_snowflake_identifier_with_quotes_semicolons_or_spaces_is_rejected(
    good: dict[str, Any], field: str, bad: str
) -> None:
    assert_rejected(with_change(good, field, bad), field, "not a valid Snowflake identifier")


def test_an_unknown_time_zone_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "schedule.timezone", "Mars/Olympus"), "schedule.timezone", "IANA")


def test_an_on_hours_period_ending_before_it_starts_is_rejected(good: dict[str, Any]) -> None:
    bad = with_change(good, "schedule.on_hours", [{"days": ["mon"], "start": "20:00", "end": "08:00"}])
    assert_rejected(bad, "schedule.on_hours.0", "not after start")


def test_overlapping_on_hours_periods_are_rejected(good: dict[str, Any]) -> None:
    periods = [
        {"days": ["mon"], "start": "08:00", "end": "12:00"},
        {"days": ["mon", "tue"], "start": "11:00", "end": "13:00"},
    ]
    assert_rejected(with_change(good, "schedule.on_hours", periods), "schedule", "overlap on mon")


def test_a_time_of_day_not_in_hh_mm_form_is_rejected(good: dict[str, Any]) -> None:
    bad = with_change(good, "schedule.on_hours", [{"days": ["mon"], "start": "8am", "end": "20:00"}])
    assert_rejected(bad, "schedule.on_hours.0.start", "HH:MM")


def test_an_empty_table_list_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "source.tables", []), "source.tables", "at least one table")


@pytest.mark.parametrize("table", ["public.t; DROP TABLE y", 'public."', "a.b.c", "", '"x"y'])
def test_a_table_name_that_cannot_be_a_postgres_name_is_rejected(good: dict[str, Any], table: str) -> None:
    assert_rejected(with_change(good, "source.tables", [table]), "source.tables")


def test_quoted_table_names_with_spaces_and_dashes_are_accepted(good: dict[str, Any]) -> None:
    tables = ['"My Schema"."Order-Items"', "public.sample_data", "plain"]
    assert parse_request(with_change(good, "source.tables", tables)).source.tables == tables


def test_a_table_listed_twice_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "source.tables", ["public.a", "public.a"]), "source.tables", "twice")


def test_an_inline_password_instead_of_a_secret_arn_is_rejected(good: dict[str, Any]) -> None:
    message = assert_rejected(
        with_change(good, "snowflake.credentials_secret_arn", "hunter2-not-an-arn"),
        "snowflake.credentials_secret_arn",
        "Secrets Manager ARN",
    )
    assert "hunter2" not in message


def test_unknown_fields_are_rejected_so_typos_do_not_pass_silently(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "source.pasword", "x"), "source.pasword", "Extra inputs")


def test_a_provided_vpc_needs_two_subnets(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "openflow.vpc_type", "PROVIDED"), "openflow", "subnet_ids")


def test_a_provided_vpc_with_two_subnets_is_accepted(good: dict[str, Any]) -> None:
    data = with_change(good, "openflow.vpc_type", "PROVIDED")
    data["openflow"]["subnet_ids"] = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    assert parse_request(data).openflow.vpc_type is VpcType.PROVIDED


def test_a_malformed_subnet_id_is_rejected(good: dict[str, Any]) -> None:
    data = with_change(good, "openflow.vpc_type", "PROVIDED")
    data["openflow"]["subnet_ids"] = ["subnet-0123456789abcdef0", "sn-1"]
    assert_rejected(data, "openflow.subnet_ids", "sn-1")


def test_a_template_location_that_is_not_an_s3_uri_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(
        with_change(good, "openflow.template_s3_uri", "https://x/t.yaml"),
        "openflow.template_s3_uri",
        "S3 URI",
    )


def test_an_unknown_region_form_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "aws.region", "tokyo"), "aws.region")


def test_an_unknown_warehouse_size_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "destination.warehouse_size", "HUGE"), "destination.warehouse_size")


def test_an_unknown_runtime_size_is_rejected(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "runtime.size", "XL"), "runtime.size")


def test_a_notification_target_needs_exactly_one_destination(good: dict[str, Any]) -> None:
    assert_rejected(with_change(good, "notifications", [{}]), "notifications.0", "exactly one")


def test_an_sns_target_must_be_a_topic_arn(good: dict[str, Any]) -> None:
    assert_rejected(
        with_change(good, "notifications", [{"sns_topic_arn": "alerts"}]), "notifications.0.sns_topic_arn"
    )


def test_a_request_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="expected a mapping"):
        parse_request(["not", "a", "mapping"])


def test_every_bad_field_is_named_in_one_message(good: dict[str, Any]) -> None:
    data = with_change(good, "aws.region", "nowhere")
    data = with_change(data, "source.tables", [])
    message = assert_rejected(data, "aws.region")
    assert "source.tables" in message


def test_a_request_file_that_is_not_yaml_gives_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(InvalidRequest, match="not valid YAML"):
        load_request_file(bad)


def test_a_missing_request_file_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot read request file"):
        load_request_file(tmp_path / "missing.yaml")
