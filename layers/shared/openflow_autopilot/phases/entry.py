"""Glue between a Lambda event and a phase: parse, fetch credentials, open sessions, run.

Handlers stay a few lines: they call one function from here with the event.
"""

from __future__ import annotations

from typing import Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.phases.models import PhaseResult
from openflow_autopilot.phases.prerequisites import ensure_prerequisites
from openflow_autopilot.snowflake.session import Connector, _default_connector, load_credentials, session


def validate(event: dict[str, Any]) -> dict[str, Any]:
    """The Validate state: the normalised request, or InvalidRequest naming the fields."""
    request = parse_request(event.get("request"))
    return {"request": request.model_dump(mode="json"), "phases": {}}


def snowflake_prerequisites(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: Any = None,
    connector: Connector = _default_connector,
    apply: bool = True,
) -> PhaseResult:
    request = parse_request(event.get("request"))
    return run_prerequisites(request, env=env, secrets=secrets, connector=connector, apply=apply)


def run_prerequisites(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    secrets: Any = None,
    connector: Connector = _default_connector,
    apply: bool = True,
) -> PhaseResult:
    secrets = secrets or client("secretsmanager", request.aws.region)
    creds = load_credentials(secrets, request.snowflake.credentials_secret_arn)
    with session(
        request.snowflake.account,
        creds,
        role=request.snowflake.login_role,
        endpoint=env.snowflake_endpoint,
        connector=connector,
    ) as sql:
        return ensure_prerequisites(sql, request, apply=apply, login_user=creds.user)
