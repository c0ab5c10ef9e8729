"""Client timeouts: the AWS read timeout and the Snowflake socket timeout come from the environment
(a bad value falls back to the default, never a crash), and a statement the server cancelled on a
timeout (SQLSTATE 57014) is a transient PostgreSQL error."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import errors as pg_errors

from openflow_autopilot.aws import clients
from openflow_autopilot.errors import PostgresRetryableError
from openflow_autopilot.postgres.connection import translated_errors
from openflow_autopilot.snowflake import session as sf_session


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 30.0),
        ("2", 2.0),
        (" 2.5 ", 2.5),
        ("", 30.0),
        ("soon", 30.0),
        ("0", 30.0),
        ("-4", 30.0),
        ("nan", 30.0),
        ("inf", 30.0),
    ],
)
def test_the_aws_read_timeout_comes_from_the_environment_or_defaults_to_30_s(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: float
) -> None:
    if value is None:
        monkeypatch.delenv(clients.READ_TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(clients.READ_TIMEOUT_ENV, value)
    assert clients.read_timeout() == expected
    assert clients.config().read_timeout == expected  # type: ignore[attr-defined]


def test_each_new_aws_client_reads_the_timeout_when_it_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv(clients.READ_TIMEOUT_ENV, "3")
    first = clients.client("s3")
    monkeypatch.setenv(clients.READ_TIMEOUT_ENV, "not a number")
    second = clients.client("s3")
    assert first.meta.config.read_timeout == 3.0
    assert second.meta.config.read_timeout == 30.0
    assert first.meta.config.connect_timeout == 5
    assert first.meta.config.retries["mode"] == "standard"


def test_a_client_is_made_once_and_reused_until_the_aws_environment_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # a full key pair, whatever ran before
    monkeypatch.delenv(clients.READ_TIMEOUT_ENV, raising=False)
    first = clients.client("sqs")
    assert clients.client("sqs") is first  # a warm invocation reuses it
    assert clients.client("sqs", "eu-west-1") is not first
    assert clients.client("sns") is not first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECOND")  # new credentials: a new client
    second = clients.client("sqs")
    assert second is not first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # another endpoint: a new client
    third = clients.client("sqs")
    assert third is not second and third.meta.endpoint_url == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("5", 5), ("5.5", None), ("x", None), ("0", None)]
)
def test_the_snowflake_socket_timeout_is_passed_only_when_set_to_a_positive_whole_number(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int | None
) -> None:
    if value is None:
        monkeypatch.delenv(sf_session.SOCKET_TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(sf_session.SOCKET_TIMEOUT_ENV, value)
    seen: dict[str, Any] = {}

    class Conn:
        def close(self) -> None:
            pass

    def connector(**kwargs: Any) -> Conn:
        seen.update(kwargs)
        return Conn()

    creds = sf_session.SnowflakeCredentials(user="U", password="pw")
    with sf_session.session("ACME-ACCOUNT", creds, role="R", connector=connector):
        pass
    assert seen.get("socket_timeout") == expected
    assert seen["network_timeout"] == 60


def test_a_statement_cancelled_on_a_timeout_is_a_transient_postgres_error() -> None:
    with pytest.raises(PostgresRetryableError) as caught, translated_errors("creating the publication"):
        raise pg_errors.QueryCanceled("canceling statement due to statement timeout")
    assert caught.value.call == "creating the publication"
    assert "statement timeout" in str(caught.value)
