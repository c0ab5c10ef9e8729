"""Rotate the service user's key pair without a moment where the connector's key is refused.

Gen 2: new key accepted as RSA_PUBLIC_KEY_2 and stored in Secrets Manager -> the connector's
Snowflake secrets get the new key (the runtime's next login uses it; open sessions stay valid) ->
the new key becomes RSA_PUBLIC_KEY and the old one is retired.
Gen 1: the canvas holds the pasted key, so the run stops after the new key is stored and accepted;
once a human has pasted it into the canvas, a second run (canvas_updated) retires the old key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow.names import connector_name, runtime_name
from openflow_autopilot.phases.connector import destination_from_secret, show_connector
from openflow_autopilot.phases.connector_secrets import refresh_connector_key
from openflow_autopilot.phases.service_key import service_key_secret_name
from openflow_autopilot.phases.user_key_rotation import rotate_service_user_key
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, Sql, _default_connector

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


def rotate_with_sql(
    sql: Sql,
    request: ProvisionRequest,
    *,
    secrets: SecretsManagerClient,
    secret_name: str,
    keep_old_key: bool = False,
    canvas_updated: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> list[PhaseResult]:
    results = [
        rotate_service_user_key(sql, request, secrets=secrets, secret_name=secret_name, retire_old_key=False)
    ]
    if on_step:
        on_step("new key stored and accepted as RSA_PUBLIC_KEY_2")
    gen1 = request.openflow.generation is Generation.GEN1
    if not gen1 and show_connector(sql, connector_name(request)) is not None:
        destination = destination_from_secret(request, secrets=secrets, key_secret=secret_name)
        results.append(
            refresh_connector_key(sql, request, destination=destination, runtime=runtime_name(request))
        )
        if on_step:
            on_step("the connector's Snowflake secrets hold the new key")
    retire = not keep_old_key and (canvas_updated or not gen1)
    if gen1 and not canvas_updated:
        results[0].notes.append(
            "gen 1: paste the new key into the canvas parameters 'Snowflake Private Key' and "
            f"'Snowflake Private Key Password' (from Secrets Manager secret {secret_name}), then run "
            "`openflow-autopilot rotate-key -c FILE --canvas-updated` to retire the old key"
        )
    if retire:
        results.append(
            rotate_service_user_key(
                sql, request, secrets=secrets, secret_name=secret_name, retire_old_key=True
            )
        )
        if on_step:
            on_step("old key retired: only the new key is accepted")
    return results


def rotate_key(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
    keep_old_key: bool = False,
    canvas_updated: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> list[PhaseResult]:
    secrets = secrets or client("secretsmanager", request.aws.region)
    with request_session(
        request, request.snowflake.login_role, env=env, secrets=secrets, connector=connector
    ) as sql:
        return rotate_with_sql(
            sql,
            request,
            secrets=secrets,
            secret_name=service_key_secret_name(request, env.secrets_prefix),
            keep_old_key=keep_old_key,
            canvas_updated=canvas_updated,
            on_step=on_step,
        )
