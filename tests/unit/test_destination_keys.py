"""The destination phase's key handling and decisions, without a network: key generation and
storage format, fingerprints, planning (nothing generated or stored), redaction."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from fakes import FakeSql

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import PermissionDenied, PreconditionFailed
from openflow_autopilot.phases.destination import ensure_destination
from openflow_autopilot.phases.service_key import (
    ServiceKey,
    generate_service_key,
    read_service_key,
    service_key_secret_name,
)
from openflow_autopilot.phases.user_key_rotation import rotate_service_user_key


class FakeSecrets:
    """Secrets Manager's calls the phase uses; `error` makes every call fail with that code."""

    def __init__(
        self, value: str | None = None, error: str | None = None, tags: dict[str, str] | None = None
    ) -> None:
        self.value, self.error, self.tags = value, error, tags or {}
        self.calls: list[str] = []
        self.created: dict[str, Any] = {}

    def _fail(self, operation: str) -> None:
        self.calls.append(operation)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, operation)

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:
        self._fail("GetSecretValue")
        if self.value is None:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "GetSecretValue"
            )
        return {
            "ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{SecretId}-x",
            "SecretString": self.value,
        }

    def describe_secret(self, *, SecretId: str) -> dict[str, Any]:
        self.calls.append("DescribeSecret")  # `error` is for the reads and writes
        if self.value is None:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "DescribeSecret"
            )
        return {"Name": SecretId, "Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()]}

    def create_secret(self, **kwargs: Any) -> dict[str, Any]:
        self._fail("CreateSecret")
        self.value = kwargs["SecretString"]
        self.created = kwargs
        return {"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:new-x"}


def request(**destination: Any) -> ProvisionRequest:
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
            "destination": destination,
        }
    )


@pytest.fixture(scope="module")
def key() -> ServiceKey:
    return generate_service_key("OPENFLOW_SERVICE_USER")


def test_a_generated_key_is_an_encrypted_pkcs8_pem_of_2048_bits_whose_fingerprint_is_snowflakes(
    key: ServiceKey,
) -> None:
    private = serialization.load_pem_private_key(
        key.private_key_pem.encode(), password=key.passphrase.encode()
    )  # type: ignore[union-attr]
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    assert key.private_key_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert private.key_size == 2048  # type: ignore[union-attr]
    assert key.fingerprint == "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert key.public_key_body == base64.b64encode(der).decode()


def test_an_unencrypted_key_is_made_only_when_asked_and_short_keys_are_refused() -> None:
    plain = generate_service_key("U", encrypt=False)

    assert plain.passphrase is None and plain.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert "passphrase" not in json.loads(plain.to_secret_string())
    with pytest.raises(ValueError, match="at least 2048"):
        generate_service_key("U", bits=1024)


def test_the_secret_round_trips_and_its_repr_shows_no_key_material(key: ServiceKey) -> None:
    stored = json.loads(key.to_secret_string())
    again = ServiceKey.from_secret_string(key.to_secret_string())

    assert set(stored) == {"user", "private_key", "passphrase"}
    assert again.fingerprint == key.fingerprint
    assert "PRIVATE" not in repr(key) and str(key.passphrase) not in repr(key)


def test_an_unreadable_stored_key_is_reported_without_quoting_it(key: ServiceKey) -> None:
    wrong_passphrase = json.dumps({"user": "U", "private_key": key.private_key_pem, "passphrase": "nope"})

    found = read_service_key(FakeSecrets(wrong_passphrase), "s")

    assert found.key is None and found.arn is not None
    assert found.problem is not None and "BEGIN" not in found.problem
    with pytest.raises(ValueError, match="lacks"):
        ServiceKey.from_secret_string(json.dumps({"user": "U"}))


def test_planning_an_empty_account_lists_every_step_and_generates_or_stores_nothing() -> None:
    sql, secrets = FakeSql(), FakeSecrets()

    result = ensure_destination(
        sql, request(), secrets=secrets, secret_name=service_key_secret_name(request()), apply=False
    )

    assert result.status == "planned"
    assert sql.writes == []
    assert secrets.calls == ["DescribeSecret", "GetSecretValue"] and secrets.value is None
    assert [a.kind for a in result.actions] == [
        "create_database",
        "create_warehouse",
        "create_role",
        "grant",
        "grant",
        "create_user",
        "grant_role",
        "generate_key",
        "store_private_key",
        "set_public_key",
    ]
    assert result.actions[1].statement == (
        "CREATE WAREHOUSE IF NOT EXISTS OPENFLOW_COMPUTE_WH WITH WAREHOUSE_SIZE = 'MEDIUM' "
        "AUTO_SUSPEND = 300 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE "
        "COMMENT = 'managed by openflow-autopilot'"
    )
    assert result.actions[3].statement == (
        "GRANT USAGE, CREATE SCHEMA ON DATABASE OPENFLOW_REPLICATED_DATA TO ROLE OPENFLOW_SERVICE_ROLE"
    )
    assert result.outputs["key_secret_arn"] is None


def test_the_public_key_statement_is_recorded_with_its_fingerprint_only(key: ServiceKey) -> None:
    sql = FakeSql(
        {
            "SHOW DATABASES LIKE 'OPENFLOW_REPLICATED_DATA'": [{"name": "OPENFLOW_REPLICATED_DATA"}],
            "SHOW USERS LIKE 'OPENFLOW_SERVICE_USER'": [{"name": "OPENFLOW_SERVICE_USER"}],
            "DESC USER OPENFLOW_SERVICE_USER": [
                {"property": "TYPE", "value": "SERVICE"},
                {"property": "DEFAULT_ROLE", "value": "OPENFLOW_SERVICE_ROLE"},
                {"property": "DEFAULT_WAREHOUSE", "value": "OPENFLOW_COMPUTE_WH"},
                {"property": "RSA_PUBLIC_KEY_FP", "value": "null"},
            ],
        }
    )
    secrets = FakeSecrets(key.to_secret_string())

    result = ensure_destination(sql, request(), secrets=secrets, secret_name="s")
    [set_key] = [a for a in result.actions if a.kind == "set_public_key"]

    assert set_key.statement == (
        f"ALTER USER OPENFLOW_SERVICE_USER SET RSA_PUBLIC_KEY = '<public key, fingerprint {key.fingerprint}>'"
    )
    assert any(key.public_key_body in s for s in sql.writes)  # the real statement carries the key
    assert key.public_key_body not in result.model_dump_json()
    assert "CreateSecret" not in secrets.calls  # the stored key is reused, not replaced


def test_a_person_user_with_the_service_users_name_is_not_taken_over() -> None:
    sql = FakeSql(
        {
            "SHOW USERS LIKE 'OPENFLOW_SERVICE_USER'": [{"name": "OPENFLOW_SERVICE_USER"}],
            "DESC USER OPENFLOW_SERVICE_USER": [{"property": "TYPE", "value": "PERSON"}],
        }
    )

    with pytest.raises(PreconditionFailed, match="needs a SERVICE user"):
        ensure_destination(sql, request(), secrets=FakeSecrets(), secret_name="s")


def test_a_denied_secret_read_names_the_permission_to_grant() -> None:
    with pytest.raises(PermissionDenied) as denied:
        read_service_key(FakeSecrets(error="AccessDeniedException"), "openflow-autopilot/x/service-user")

    assert denied.value.call == "secretsmanager:GetSecretValue"


def test_rotation_refuses_a_stored_key_the_user_does_not_have(key: ServiceKey) -> None:
    sql = FakeSql(
        {"DESC USER OPENFLOW_SERVICE_USER": [{"property": "RSA_PUBLIC_KEY_FP", "value": "SHA256:other"}]}
    )

    with pytest.raises(PreconditionFailed, match="not one of"):
        rotate_service_user_key(sql, request(), secrets=FakeSecrets(key.to_secret_string()), secret_name="s")
    assert sql.writes == []


def test_a_secret_tagged_for_another_deployment_is_refused_before_it_is_read(key: ServiceKey) -> None:
    # Two requests named alike share the secret name; the other one's key is never read or replaced.
    secrets = FakeSecrets(key.to_secret_string(), tags={"openflow:deployment": "OTHER_DEPLOYMENT"})
    sql = FakeSql()
    with pytest.raises(PreconditionFailed) as caught:
        ensure_destination(sql, request(), secrets=secrets, secret_name="s")
    assert "OTHER_DEPLOYMENT" in caught.value.message and "`name`" in (caught.value.fix or "")
    assert secrets.calls == ["DescribeSecret"] and sql.executed == []
    with pytest.raises(PreconditionFailed):
        rotate_service_user_key(sql, request(), secrets=secrets, secret_name="s")
    assert "GetSecretValue" not in secrets.calls


def test_a_secret_it_creates_carries_the_deployments_tag_and_an_own_one_is_used() -> None:
    secrets = FakeSecrets()
    ensure_destination(FakeSql(), request(), secrets=secrets, secret_name="s")
    tags = {t["Key"]: t["Value"] for t in secrets.created["Tags"]}
    deployment = request().openflow.deployment_name
    assert tags == {"managed-by": "openflow-autopilot", "openflow:deployment": deployment}
    secrets.tags = tags
    ensure_destination(FakeSql(), request(), secrets=secrets, secret_name="s")  # its own: no refusal
