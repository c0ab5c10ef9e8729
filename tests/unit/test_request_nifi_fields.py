"""The request's gen 1 NiFi fields: runtime.nifi_url, nifi_token_secret_arn, nifi_process_group_id."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from openflow_autopilot.config import parse_request
from openflow_autopilot.errors import InvalidRequest

EXAMPLE = Path(__file__).resolve().parents[2] / "events" / "provision" / "request.yaml"
TOKEN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/nifi-token-AbCdEf"
URL = "https://of--myorg-myaccount.snowflakecomputing.app/postgres-cdc-runtime/nifi-api"
GROUP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def gen1(**runtime: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    data["openflow"]["generation"] = 1
    data["runtime"].update(runtime)
    return data


def rejected(data: dict[str, Any], *words: str) -> str:
    with pytest.raises(InvalidRequest) as info:
        parse_request(data)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def test_a_gen1_request_with_the_nifi_url_and_token_secret_is_valid_and_keeps_them() -> None:
    request = parse_request(
        gen1(nifi_url=URL + "/", nifi_token_secret_arn=TOKEN_ARN, nifi_process_group_id=GROUP)
    )
    assert request.runtime.nifi_url == URL  # the trailing slash is dropped
    assert request.runtime.nifi_token_secret_arn == TOKEN_ARN
    assert request.runtime.configures_nifi
    dumped = request.model_dump(mode="json")["runtime"]
    assert dumped["nifi_url"] == URL and dumped["nifi_process_group_id"] == GROUP


def test_without_the_nifi_fields_the_dump_has_none_of_them_so_the_state_machine_asks_a_human() -> None:
    request = parse_request(gen1())
    assert not request.runtime.configures_nifi
    assert set(request.model_dump(mode="json")["runtime"]) == {"name", "size", "execute_as_role"}


@pytest.mark.parametrize(
    ("runtime", "missing"),
    [
        ({"nifi_url": URL}, "add nifi_token_secret_arn"),
        ({"nifi_token_secret_arn": TOKEN_ARN}, "add nifi_url"),
    ],
)
def test_the_url_and_the_token_secret_go_together(runtime: dict[str, str], missing: str) -> None:
    rejected(gen1(**runtime), "runtime:", "go together", missing, "remove both")


@pytest.mark.parametrize(
    "url",
    [
        "http://runtime.example.com/nifi-api",  # the token would cross the network in clear
        "ftp://runtime.example.com/nifi-api",
        "https://user:pw@runtime.example.com/nifi-api",
        "https://runtime.example.com/nifi-api?token=x",
        "runtime.example.com/nifi-api",
    ],
)
def test_the_nifi_url_must_be_https_without_credentials(url: str) -> None:
    rejected(
        gen1(nifi_url=url, nifi_token_secret_arn=TOKEN_ARN),
        "runtime.nifi_url",
        "https://<runtime host>/nifi-api",
    )


def test_plain_http_is_accepted_only_on_the_loopback_interface() -> None:
    request = parse_request(gen1(nifi_url="http://127.0.0.1:8443/nifi-api", nifi_token_secret_arn=TOKEN_ARN))
    assert request.runtime.nifi_url == "http://127.0.0.1:8443/nifi-api"


def test_the_token_must_be_a_secrets_manager_arn_never_the_token_itself() -> None:
    rejected(
        gen1(nifi_url=URL, nifi_token_secret_arn="pat-abc123"),
        "runtime.nifi_token_secret_arn",
        "Secrets Manager ARN",
    )


def test_the_nifi_fields_are_refused_on_gen2() -> None:
    data = gen1(nifi_url=URL, nifi_token_secret_arn=TOKEN_ARN)
    data["openflow"]["generation"] = 2
    rejected(data, "runtime.nifi_url", "only used with openflow.generation 1", "remove them")


def test_a_process_group_id_must_be_a_uuid_and_needs_the_url() -> None:
    rejected(
        gen1(nifi_url=URL, nifi_token_secret_arn=TOKEN_ARN, nifi_process_group_id="PostgreSQL"),
        "runtime.nifi_process_group_id",
        "UUID",
    )
    rejected(gen1(nifi_process_group_id=GROUP), "nifi_process_group_id is only used with nifi_url")
