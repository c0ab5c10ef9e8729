"""The webhook function's environment, one validated model checked at cold start.

Signing secrets and ticket-system tokens are not here: they live in one Secrets Manager secret
(`WEBHOOK_SECRET_ARN`, a JSON object) read through `triggers.secrets`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from openflow_autopilot.errors import ConfigurationError

MAX_BODY_BYTES = 256 * 1024
DEFAULT_GITHUB_API_URL = "https://api.github.com"


class ServiceNowAuth(BaseModel):
    """ServiceNow has no standard signed outbound webhook: the outbound REST message either adds an
    HMAC of the body in a header of our choosing, or sends a shared bearer secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["hmac", "bearer"] = "hmac"
    header: str = Field("X-ServiceNow-Signature", min_length=1)
    algorithm: Literal["sha256"] = "sha256"
    # GlideCertificateEncryption.generateMac returns base64; a scripted hex digest is also common.
    encoding: Literal["hex", "base64"] = "hex"


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provision_state_machine_arn: str | None = None
    power_state_machine_arn: str | None = None
    artifact_bucket: str | None = Field(
        None, description="requests/<name>.yaml, approvals/, power-records/ live here"
    )
    webhook_secret_arn: str | None = Field(None, description="JSON secret with signing secrets and tokens")
    secret_max_age_seconds: int = Field(300, ge=0, le=86400)
    idempotency_table: str | None = None
    idempotency_ttl_seconds: int = Field(30 * 86400, ge=60)  # GitHub redeliveries reuse the delivery id
    function_name: str | None = Field(None, description="this function, for asynchronous jobs")
    slack_allowed_users: frozenset[str] = Field(
        default_factory=frozenset, description="Slack user ids allowed to approve and to change things"
    )
    slack_team_id: str | None = Field(None, description="if set, only this workspace is served")
    slack_response_url_prefixes: tuple[str, ...] = ("https://hooks.slack.com/",)
    default_deployment: str | None = None
    power_records_prefix: str = "power-records"
    github_label: str = "openflow-provision"
    jira_label: str | None = "openflow-provision"
    jira_trigger_field: str | None = Field(None, description="custom field id, e.g. customfield_10050")
    servicenow: ServiceNowAuth = Field(default_factory=ServiceNowAuth)
    servicenow_instance_url: str | None = None
    jira_base_url: str | None = Field(
        None,
        description="https://<site>.atlassian.net (or Data Center's base URL): Jira tokens go nowhere else",
    )
    servicenow_table: str = "incident"
    github_api_url: str = Field(
        DEFAULT_GITHUB_API_URL,
        description="GitHub's REST API (Enterprise Server: https://HOST/api/v3): the token goes nowhere else",
    )
    max_body_bytes: int = Field(MAX_BODY_BYTES, ge=1024, le=6 * 1024 * 1024)

    @field_validator("slack_allowed_users", mode="before")
    @classmethod
    def _users(cls, v: object) -> object:
        if isinstance(v, str):
            return frozenset(u.strip() for u in v.replace(" ", ",").split(",") if u.strip())
        return v

    @field_validator("slack_response_url_prefixes", mode="before")
    @classmethod
    def _prefixes(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @field_validator("servicenow_instance_url", "jira_base_url")
    @classmethod
    def _instance(cls, v: str | None) -> str | None:
        if v and not v.startswith("https://"):
            raise ValueError("must be an https:// URL (the ticket system's tokens are sent there)")
        return v.rstrip("/") if v else v

    @field_validator("github_api_url")
    @classmethod
    def _github_api(cls, v: str) -> str:
        return v.rstrip("/")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WebhookConfig:
        """Variables are the field names upper-cased (SERVICENOW_AUTH_MODE etc. for `servicenow`);
        AWS_LAMBDA_FUNCTION_NAME (set by Lambda) names this function. Empty means unset."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            name: env[name.upper()]
            for name in cls.model_fields
            if name != "servicenow" and env.get(name.upper(), "") != ""
        }
        if "function_name" not in values and env.get("AWS_LAMBDA_FUNCTION_NAME"):
            values["function_name"] = env["AWS_LAMBDA_FUNCTION_NAME"]
        values["servicenow"] = {
            field: env[f"SERVICENOW_AUTH_{field.upper()}"]
            for field in ServiceNowAuth.model_fields
            if env.get(f"SERVICENOW_AUTH_{field.upper()}", "") != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise ConfigurationError(
                f"webhook function environment is invalid ({fields})",
                fix="correct these variables in template.yaml",
            ) from None
