"""The gen 1 connector over NiFi REST (openflow/nifi.py), against the sandbox's NiFi emulation."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.errors import (
    PermissionDenied,
    PreconditionFailed,
    SnowflakeRetryableError,
)
from openflow_autopilot.openflow.connector_parameters import P, gen1_name
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.nifi import configure_gen1_connector
from openflow_autopilot.openflow.nifi_parameters import SENSITIVE
from openflow_autopilot.openflow.nifi_session import NifiAccess, Scrubber, read_nifi_access
from openflow_sandbox.keys import generate_key_pair
from openflow_sandbox.nifi_server import NifiEmulator

EXAMPLE = Path(__file__).resolve().parents[2] / "events" / "provision" / "request.yaml"
TOKEN = "pat-0123456789abcdef-sandbox"
TOKEN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/nifi-token-AbCdEf"
PASSWORD = "s3cr3t-Pa55w0rd-for-the-source"
PASSPHRASE = "passphrase-of-the-service-key"
KEY = generate_key_pair()


def request(**runtime: Any) -> ProvisionRequest:
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    data["openflow"]["generation"] = 1
    data["runtime"].update(
        {"nifi_url": "http://127.0.0.1:1/nifi-api", "nifi_token_secret_arn": TOKEN_ARN, **runtime}
    )
    return parse_request(data)


def source(password: str = PASSWORD, version: str = "v1") -> SourceEndpoint:
    return SourceEndpoint(
        host="sales-db.abc.us-east-1.rds.amazonaws.com",
        port=5432,
        database="sales",
        user="openflow_user",
        password=password,
        publication="openflow_pub",
        slot_name="openflow_slot",
        tables=("public.sample_data",),
        password_version=version,
    )


DESTINATION = DestinationInfo(
    database="OPENFLOW_REPLICATED_DATA",
    role="OPENFLOW_SERVICE_ROLE",
    warehouse="OPENFLOW_COMPUTE_WH",
    user="OPENFLOW_SERVICE_USER",
    account_identifier="MYORG-MYACCOUNT",
    private_key_pem=KEY.private_pem,
    private_key_passphrase=PASSPHRASE,
    key_fingerprint="SHA256:abc",
)


@pytest.fixture
def nifi() -> Iterator[NifiEmulator]:
    with NifiEmulator(token=TOKEN) as emulator:
        yield emulator


def run(
    nifi: NifiEmulator, *, token: str = TOKEN, src: SourceEndpoint | None = None, **runtime: Any
) -> PhaseResult:
    return configure_gen1_connector(
        request(**runtime),
        access=NifiAccess(url=nifi.url, token=token, token_secret_arn=TOKEN_ARN),
        source=src or source(),
        destination=DESTINATION,
        poll_seconds=0,
    )


def dumped(result: PhaseResult) -> str:
    return json.dumps(result.model_dump(mode="json"))


def test_the_parameters_are_set_in_their_owning_contexts_the_services_enabled_and_the_flow_started(
    nifi: NifiEmulator,
) -> None:
    result = run(nifi)
    assert result.phase == "Gen1Connector" and result.status == "changed"
    values = nifi.values()
    assert (
        values[gen1_name(P.CONNECTION_URL)]
        == "jdbc:postgresql://sales-db.abc.us-east-1.rds.amazonaws.com:5432/sales"
    )
    assert values[gen1_name(P.SOURCE_PASSWORD)] == PASSWORD  # pasted from the secret
    assert values[gen1_name(P.PRIVATE_KEY)] == KEY.private_pem
    assert values[gen1_name(P.PRIVATE_KEY_PASSWORD)] == PASSPHRASE
    assert values[gen1_name(P.AUTH_STRATEGY)] == "KEY_PAIR"
    assert values[gen1_name(P.INCLUDED_TABLES)] == "public.sample_data"
    assert values[gen1_name(P.REPLICATION_SLOT)] == "openflow_slot"
    # one update request per context that changed, each deleted once complete
    posts = [path for method, path in nifi.writes() if method == "POST"]
    assert len(posts) == 3 and not nifi.update_requests
    assert {s["state"] for s in nifi.services} == {"ENABLED"} and nifi.running
    [flow] = nifi.started_flows
    assert flow[gen1_name(P.SOURCE_PASSWORD)] == PASSWORD
    assert result.outputs["status"] == "RUNNING"
    assert result.outputs["process_group"]["name"] == "PostgreSQL CDC"
    kinds = [a.kind for a in result.actions]
    assert kinds.count("set_nifi_parameter") == 14 and kinds[-2:] == [
        "enable_controller_services",
        "start_nifi_flow",
    ]


def test_sensitive_values_are_never_in_the_result(nifi: NifiEmulator) -> None:
    result = run(nifi)
    text = dumped(result)
    for secret in (PASSWORD, PASSPHRASE, TOKEN, KEY.private_pem, KEY.private_pem.splitlines()[1]):
        assert secret not in text
    shown = {
        a.target.split(": ", 1)[1]: a.statement for a in result.actions if a.kind == "set_nifi_parameter"
    }
    for key in (P.SOURCE_PASSWORD, P.PRIVATE_KEY, P.PRIVATE_KEY_PASSWORD):
        assert shown[gen1_name(key)] == f"{gen1_name(key)} = {SENSITIVE}"
    assert shown[gen1_name(P.SOURCE_USER)] == f"{gen1_name(P.SOURCE_USER)} = openflow_user"


def test_a_second_run_changes_nothing(nifi: NifiEmulator) -> None:
    run(nifi)
    writes = list(nifi.writes())
    again = run(nifi)
    assert again.status == "unchanged" and again.actions == []
    assert nifi.writes() == writes  # nothing sent, not even an unchanged sensitive value
    assert again.outputs["parameters_set"] == [] and again.outputs["status"] == "RUNNING"


def test_a_new_password_version_re_sends_only_the_password(nifi: NifiEmulator) -> None:
    run(nifi)
    result = run(nifi, src=source(password="an0ther-Pa55w0rd-rotated", version="v2"))
    assert [a.target for a in result.actions] == [
        f"PostgreSQL Source Parameters: {gen1_name(P.SOURCE_PASSWORD)}"
    ]
    assert nifi.values()[gen1_name(P.SOURCE_PASSWORD)] == "an0ther-Pa55w0rd-rotated"
    assert any("running while its parameters changed" in n for n in result.notes)


def test_a_refused_token_is_permission_denied_naming_the_secret_and_the_fix(nifi: NifiEmulator) -> None:
    with pytest.raises(PermissionDenied) as info:
        run(nifi, token="pat-expired-0000000000")
    message = str(info.value)
    assert TOKEN_ARN in message and "HTTP 401" in message and "programmatic access token" in message
    assert "pat-expired" not in message
    assert nifi.values()[gen1_name(P.SOURCE_PASSWORD)] is None


def test_an_unknown_process_group_is_a_precondition_with_the_fix(nifi: NifiEmulator) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(PreconditionFailed) as info:
        run(nifi, nifi_process_group_id=missing)
    assert missing in str(info.value) and "runtime.nifi_process_group_id" in str(info.value)


def test_the_group_given_by_id_is_configured(nifi: NifiEmulator) -> None:
    result = run(nifi, nifi_process_group_id=nifi.group_id)
    assert result.outputs["process_group"]["id"] == nifi.group_id and nifi.running


def test_a_server_error_is_retryable_and_a_rerun_finishes_the_job(nifi: NifiEmulator) -> None:
    nifi.fail_next = [503]
    with pytest.raises(SnowflakeRetryableError) as info:
        run(nifi)
    assert "HTTP 503" in str(info.value)
    assert run(nifi).outputs["status"] == "RUNNING"


def test_an_unreachable_nifi_is_retryable() -> None:
    emulator = NifiEmulator(token=TOKEN).start()
    url = emulator.url
    emulator.stop()
    with pytest.raises(SnowflakeRetryableError) as info:
        configure_gen1_connector(
            request(),
            access=NifiAccess(url=url, token=TOKEN, token_secret_arn=TOKEN_ARN),
            source=source(),
            destination=DESTINATION,
        )
    assert "did not answer" in str(info.value) and TOKEN not in str(info.value)


def test_without_the_jdbc_driver_asset_the_parameters_are_set_but_the_flow_is_not_started() -> None:
    with NifiEmulator(token=TOKEN, jdbc_driver_uploaded=False) as emulator:
        with pytest.raises(PreconditionFailed) as info:
            run(emulator)
        assert "JDBC driver" in str(info.value) and "jdbc.postgresql.org" in str(info.value)
        assert emulator.values()[gen1_name(P.SOURCE_USER)] == "openflow_user" and not emulator.running


def test_the_scrubber_removes_secrets_and_the_lines_of_a_pem() -> None:
    scrub = Scrubber([PASSWORD, KEY.private_pem, ""])
    line = KEY.private_pem.splitlines()[2]
    assert scrub(f"bad value {PASSWORD} near {line}") == "bad value *** near ***"


@mock_aws
def test_the_token_is_read_from_the_secret_and_a_bad_secret_is_named_without_its_content() -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="openflow-autopilot/nifi-token", SecretString=json.dumps({"token": TOKEN}))[
        "ARN"
    ]
    access = read_nifi_access(sm, request(nifi_token_secret_arn=arn).runtime)
    assert access.token == TOKEN and access.token_secret_arn == arn and TOKEN not in repr(access)
    bad = sm.create_secret(Name="openflow-autopilot/nifi-bad", SecretString="pat-in-clear-not-json")["ARN"]
    with pytest.raises(PreconditionFailed) as info:
        read_nifi_access(sm, request(nifi_token_secret_arn=bad).runtime)
    assert "JSON field 'token'" in str(info.value) and "pat-in-clear" not in str(info.value)
