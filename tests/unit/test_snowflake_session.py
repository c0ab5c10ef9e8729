"""The Snowflake adapter: credentials from the secret, errors mapped to the ASL's classes."""

from __future__ import annotations

import json

import pytest
from snowflake.connector import errors as sfe

from openflow_autopilot.errors import (
    ConfigurationError,
    PermissionDenied,
    PreconditionFailed,
    SnowflakeRetryableError,
)
from openflow_autopilot.snowflake.session import SnowflakeCredentials, classify


def test_insufficient_privileges_is_a_permanent_permission_error_naming_the_statement() -> None:
    exc = sfe.ProgrammingError(
        msg="SQL access control error: Insufficient privileges", errno=3001, sqlstate="42501"
    )
    mapped = classify(exc, "CREATE ROLE IF NOT EXISTS OPENFLOW_ADMIN_ROLE")
    assert isinstance(mapped, PermissionDenied)
    assert "CREATE ROLE IF NOT EXISTS OPENFLOW_ADMIN_ROLE" in str(mapped)
    assert "login_role" in str(mapped)


def test_a_rejected_key_pair_login_is_a_permission_error() -> None:
    assert isinstance(
        classify(sfe.DatabaseError(msg="JWT token is invalid.", errno=390144), "login"), PermissionDenied
    )


@pytest.mark.parametrize(
    "exc",
    [
        sfe.ServiceUnavailableError(msg="503"),
        sfe.TooManyRequests(msg="429"),
        sfe.OperationalError(msg="Failed to connect", errno=250001),
        sfe.InterfaceError(msg="connection reset"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_network_and_server_side_failures_are_retryable(exc: Exception) -> None:
    assert isinstance(classify(exc, "SHOW ROLES"), SnowflakeRetryableError)


def test_a_missing_object_is_a_precondition_failure() -> None:
    exc = sfe.ProgrammingError(msg="Database 'X' does not exist or not authorized.", errno=2003)
    assert isinstance(classify(exc, "GRANT USAGE ON DATABASE X TO ROLE PUBLIC"), PreconditionFailed)


def test_credentials_never_show_key_material_in_their_repr() -> None:
    creds = SnowflakeCredentials.from_secret_string(
        json.dumps(
            {"user": "U", "private_key": "-----BEGIN PRIVATE KEY-----SECRETBODY", "passphrase": "pw-123"}
        ),
        arn="arn:x",
    )
    assert "SECRETBODY" not in repr(creds) and "pw-123" not in repr(creds)


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("not json: SECRETVALUE", "not JSON"),
        (json.dumps({"private_key": "SECRETVALUE"}), "no 'user'"),
        (json.dumps({"user": "U", "passphrase": "SECRETVALUE"}), "neither 'private_key' nor 'password'"),
    ],
)
def test_a_malformed_login_secret_is_a_configuration_error_without_its_content(
    secret: str, says: str
) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"
    with pytest.raises(ConfigurationError) as info:
        SnowflakeCredentials.from_secret_string(secret, arn=arn)
    assert says in str(info.value) and arn in str(info.value)
    assert "SECRETVALUE" not in str(info.value)
