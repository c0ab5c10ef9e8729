"""One Snowflake session for a request: the login secret's key pair, as the given role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.evidence.recording import attach
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.snowflake.session import Connector, Sql, _default_connector, load_credentials, session

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


def request_session(
    request: ProvisionRequest,
    role: str,
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> AbstractContextManager[Sql]:
    """Every function that talks to Snowflake opens its session here (secrets: a Secrets Manager
    client; default: one for the request's region). Its statements are recorded with the running
    invocation's evidence."""
    creds = load_credentials(
        secrets or client("secretsmanager", request.aws.region), request.snowflake.credentials_secret_arn
    )
    return recorded(
        session(
            request.snowflake.account, creds, role=role, endpoint=env.snowflake_endpoint, connector=connector
        ),
        role,
    )


@contextmanager
def recorded(opened: AbstractContextManager[Sql], role: str) -> Iterator[Sql]:
    """A session whose statements join the running invocation's evidence (evidence/recording.py)."""
    with opened as sql:
        attach(sql, role)
        yield sql
