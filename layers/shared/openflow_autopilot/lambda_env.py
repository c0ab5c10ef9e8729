"""Each function's environment as one validated model, checked at cold start."""

from __future__ import annotations

import os
from typing import Literal

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
    def from_environ(cls) -> FunctionEnv:
        values = {name: os.environ.get(name.upper()) for name in cls.model_fields}
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise ConfigurationError(f"function environment is invalid: {exc}") from None

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
