"""Reading the power state machine's payload: `request` (read from S3 by Load), `power`
(deployment, action, reason, now, until), `polls` (the wait loops' state) and `settings` (budgets),
and the ARNs the schedules need from the function's environment."""

from __future__ import annotations

from typing import Any

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.lambda_env import FunctionEnv


def artifact_bucket(env: FunctionEnv) -> str:
    return env.require_artifact_bucket()


def request_of(event: dict[str, Any]) -> ProvisionRequest:
    return parse_request(event.get("request"))


def power_of(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event.get("power") or {})


def setting(event: dict[str, Any], name: str, default: int) -> int:
    return int((event.get("settings") or {}).get(name, default))


def poll(event: dict[str, Any], name: str) -> dict[str, Any]:
    return dict((event.get("polls") or {}).get(name) or {})


def target_arn(event: dict[str, Any], env: FunctionEnv) -> str:
    arn = event.get("state_machine") or env.power_state_machine_arn
    if not arn:
        raise ConfigurationError(
            "the power state machine's ARN is unknown", fix="set POWER_STATE_MACHINE_ARN"
        )
    return str(arn)


def role_arn(env: FunctionEnv) -> str:
    if not env.scheduler_role_arn:
        raise ConfigurationError(
            "SCHEDULER_ROLE_ARN is not set", fix="deploy with template.yaml, which sets it"
        )
    return env.scheduler_role_arn
