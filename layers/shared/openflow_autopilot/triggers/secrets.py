"""Signing secrets and ticket-system tokens, from one Secrets Manager secret holding a JSON object.

Keys (all optional; a source without its signing secret rejects every request):
  slack_signing_secret, github_webhook_secret, jira_webhook_secret, servicenow_webhook_secret,
  github_token, jira_token, jira_user, servicenow_token, servicenow_user.
Values are read through Powertools parameters, cached for `max_age` seconds, and wrapped in
SecretStr so they never show up in a repr or a log line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from openflow_autopilot.errors import ConfigurationError

# secret id -> the secret's JSON object; injectable so tests need no AWS.
SecretProvider = Callable[[str], Mapping[str, Any]]


class SigningSecrets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    slack_signing_secret: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    jira_webhook_secret: SecretStr | None = None
    servicenow_webhook_secret: SecretStr | None = None
    github_token: SecretStr | None = None
    jira_token: SecretStr | None = None
    jira_user: str | None = None
    servicenow_token: SecretStr | None = None
    servicenow_user: str | None = None

    def signing_secret(self, source: str) -> str | None:
        value: SecretStr | None = {
            "slack": self.slack_signing_secret,
            "github": self.github_webhook_secret,
            "jira": self.jira_webhook_secret,
            "servicenow": self.servicenow_webhook_secret,
        }.get(source)
        return value.get_secret_value() if value is not None and value.get_secret_value() else None


def powertools_provider(max_age: int = 300) -> SecretProvider:
    """Secrets Manager through Powertools' cache; imported on first use to keep cold start small."""

    def get(secret_id: str) -> Mapping[str, Any]:
        from aws_lambda_powertools.utilities.parameters import get_secret

        value = get_secret(secret_id, max_age=max_age, force_fetch=max_age == 0)  # 0: never cached
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        try:
            data = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raise ConfigurationError(
                "the webhook secret is not a JSON object", fix="store the keys listed in triggers/secrets.py"
            ) from None
        if not isinstance(data, Mapping):
            raise ConfigurationError("the webhook secret is not a JSON object")
        return data

    return get


def load_signing_secrets(secret_id: str | None, provider: SecretProvider) -> SigningSecrets:
    """No secret configured means every source is disabled (all requests get 401)."""
    if not secret_id:
        return SigningSecrets()
    return SigningSecrets.model_validate(dict(provider(secret_id)))
