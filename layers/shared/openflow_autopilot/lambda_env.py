"""Each function's environment as a validated model, checked at cold start.

FunctionEnv holds what every function may read, all of it optional (Globals in template.yaml sets
most of it). A function that cannot work without a variable says so with a smaller model below,
the type of its step's `env` parameter: handler.phase_handler builds that model when the function
is loaded, so a missing variable stops the cold start naming the variable, before any event."""

from __future__ import annotations

import os
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.openflow.jdbc_driver import DEFAULT_SHA256 as JDBC_DEFAULT_SHA256
from openflow_autopilot.openflow.jdbc_driver import DEFAULT_URL as JDBC_DEFAULT_URL
from openflow_autopilot.snowflake.session import SnowflakeEndpoint


class FunctionEnv(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Empty means Snowflake's own endpoint for the request's account; the sandbox sets these.
    snowflake_host: str | None = None
    snowflake_port: int | None = None
    snowflake_protocol: Literal["https", "http"] | None = None
    artifact_bucket: str | None = None
    notify_topic_arn: str | None = None
    stack_role_arn: str | None = None  # the role CloudFormation assumes for the deployment's stack
    secrets_prefix: str = "openflow-autopilot/"  # secrets the workflow creates are named under it
    # The power workflow: what its EventBridge Scheduler schedules start, as which role, in which group.
    power_state_machine_arn: str | None = None
    watch_state_machine_arn: str | None = None  # the watch's schedule starts it (watch/)
    digest_function_arn: str | None = None  # the weekly digest's schedule invokes it (power/digest.py)
    scheduler_role_arn: str | None = None
    schedule_group: str = "openflow-autopilot-power"
    # The per-deployment lock that keeps provisioning and power runs from interleaving (locks.py).
    lock_table: str | None = None
    # The PostgreSQL JDBC driver the gen 2 connector gets (openflow/jdbc_driver.py); empty: the pin.
    jdbc_driver_url: str = JDBC_DEFAULT_URL
    jdbc_driver_sha256: str = JDBC_DEFAULT_SHA256

    @field_validator(
        "snowflake_host",
        "snowflake_protocol",
        "artifact_bucket",
        "notify_topic_arn",
        "stack_role_arn",
        "power_state_machine_arn",
        "watch_state_machine_arn",
        "digest_function_arn",
        "scheduler_role_arn",
        "lock_table",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("jdbc_driver_url", "jdbc_driver_sha256", mode="before")
    @classmethod
    def _empty_is_default(cls, v: object, info: ValidationInfo) -> object:
        if v == "":
            return JDBC_DEFAULT_URL if info.field_name == "jdbc_driver_url" else JDBC_DEFAULT_SHA256
        return v

    @field_validator("snowflake_port", mode="before")
    @classmethod
    def _port(cls, v: object) -> object:
        return None if v in ("", "0", 0) else v

    @classmethod
    def from_environ(cls) -> Self:
        values = {name: os.environ.get(name.upper()) for name in cls.model_fields}
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            names = ", ".join(str(e["loc"][0]).upper() for e in exc.errors() if e["loc"])
            problems = "; ".join(f"{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors() if e["loc"])
            raise ConfigurationError(
                f"the function's environment is incomplete or invalid ({problems})",
                fix=f"deploy with template.yaml, which sets {names or 'it'} for this function",
            ) from None

    def require_artifact_bucket(self) -> str:
        """The artifact bucket, or a ConfigurationError saying how a deployment sets it."""
        if not self.artifact_bucket:
            raise ConfigurationError(
                "ARTIFACT_BUCKET is not set", fix="deploy with template.yaml, which sets it"
            )
        return self.artifact_bucket

    @property
    def snowflake_endpoint(self) -> SnowflakeEndpoint | None:
        if self.snowflake_host is None:
            return None
        return SnowflakeEndpoint(
            host=self.snowflake_host, port=self.snowflake_port, protocol=self.snowflake_protocol
        )


# --- what a function cannot work without -------------------------------------------------------------
class ArtifactsEnv(FunctionEnv):
    """Reads or writes the artifact bucket: stored requests, records, approvals, evidence."""

    artifact_bucket: str


class StackEnv(ArtifactsEnv):
    """Creates the deployment's stack through the role CloudFormation assumes."""

    stack_role_arn: str


class LockEnv(FunctionEnv):
    """Takes or gives back the deployment's lock."""

    lock_table: str


class WatchLoadEnv(ArtifactsEnv, LockEnv):
    """The watch's first state: the stored request, its memory, and whether a run holds the lock."""


class SchedulerEnv(ArtifactsEnv):
    """Creates a power schedule (an override, an early start) as the Scheduler's role."""

    scheduler_role_arn: str


class SchedulesEnv(SchedulerEnv):
    """Creates every schedule of a deployment: what each one starts or invokes."""

    power_state_machine_arn: str
    watch_state_machine_arn: str
    digest_function_arn: str


class StartPowerEnv(FunctionEnv):
    """Starts the power workflow (the watch's early wake)."""

    power_state_machine_arn: str
