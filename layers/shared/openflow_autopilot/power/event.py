"""What the power steps and the Schedules state need from the function's environment: the
artifact bucket, and the ARNs the EventBridge Scheduler schedules start and assume."""

from __future__ import annotations

from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.lambda_env import FunctionEnv


def artifact_bucket(env: FunctionEnv) -> str:
    return env.require_artifact_bucket()


def target_arn(state_machine: str | None, env: FunctionEnv) -> str:
    """The power state machine the schedules start: the running one's own ARN when a state gives
    it (`$$.StateMachine.Id`), else the function's environment."""
    arn = state_machine or env.power_state_machine_arn
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
