"""Starting executions with deterministic names: the same trigger (a webhook delivery, a Slack
command) always maps to the same name, so a retry meets ExecutionAlreadyExists instead of
starting a second run."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.calls import UNREACHABLE, denied, error_code, retryable
from openflow_autopilot.errors import AwsRetryableError, ConfigurationError, PermissionDenied

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_NAME = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class Started(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    execution_arn: str
    already_started: bool = False


def execution_name(prefix: str, unique: str, label: str = "") -> str:
    """`<prefix>-<label>-<hash of prefix+unique>`: readable in the console, stable for a trigger,
    at most 80 characters of [A-Za-z0-9-_]."""
    digest = hashlib.sha256(f"{prefix}\x00{unique}".encode()).hexdigest()[:20]
    parts = [_UNSAFE.sub("-", p).strip("-") for p in (prefix, label) if p]
    head = "-".join(p for p in parts if p)[: MAX_NAME - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}" if head else digest


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def start_named_execution(
    sfn: SFNClient, *, state_machine_arn: str, name: str, payload: dict[str, Any]
) -> Started:
    """Start once; ExecutionAlreadyExists (the same trigger again) counts as already started."""
    try:
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except ClientError as exc:
        code = error_code(exc)
        if code == "ExecutionAlreadyExists":
            return Started(
                name=name, execution_arn=execution_arn(state_machine_arn, name), already_started=True
            )
        if retryable(exc):
            raise AwsRetryableError(
                f"states:StartExecution failed: {code}", call="states:StartExecution"
            ) from exc
        if denied(exc):
            raise PermissionDenied(
                "states:StartExecution was denied",
                call="states:StartExecution",
                fix="allow states:StartExecution on the state machine for the webhook function",
            ) from exc
        if code in ("StateMachineDoesNotExist", "InvalidArn"):
            raise ConfigurationError(
                f"states:StartExecution: {code} for the configured state machine",
                call="states:StartExecution",
                fix="check PROVISION_STATE_MACHINE_ARN / POWER_STATE_MACHINE_ARN",
            ) from exc
        raise
    except UNREACHABLE as exc:
        raise AwsRetryableError(f"states:StartExecution failed: {exc}", call="states:StartExecution") from exc
    return Started(name=name, execution_arn=arn)
