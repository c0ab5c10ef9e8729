"""Reporting back to where a run came from: a comment on the ticket that started it (GitHub, Jira,
ServiceNow) or a message to the Slack command's response_url. The notifier of both state machines
calls `deliver` with the run's `origin` (kept in the state from the execution's input).

Delivery is best effort: a ticket system that is down, or a response_url past Slack's 30 minutes,
is logged and skipped, so it never turns a finished run into a failed one. Ticket tokens come from
the webhook secret, and a GitHub token only ever goes to the configured GitHub API.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from openflow_autopilot.triggers.config import DEFAULT_GITHUB_API_URL
from openflow_autopilot.triggers.models import TicketOrigin
from openflow_autopilot.triggers.secrets import SecretProvider, load_signing_secrets, powertools_provider
from openflow_autopilot.triggers.slack import Opener

logger = logging.getLogger("openflow_autopilot.triggers")

DEFAULT_SECRET_NAME = "webhook"  # noqa: S105 - a name: <SECRETS_PREFIX>webhook without WEBHOOK_SECRET_ARN
SLACK_HOOKS = ("https://hooks.slack.com/",)
_EXECUTION_ARN = re.compile(r"^arn:(aws[a-z-]*):states:([a-z0-9-]+):\d{12}:execution:[^:]+:[^:]+$")
_CONSOLE = {
    "aws": "https://{region}.console.aws.amazon.com",
    "aws-cn": "https://{region}.console.amazonaws.cn",
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
}
_BOLD = {"github": "**{}**", "jira": "*{}*", "servicenow": "{}"}  # Markdown, Jira wiki markup, plain


class OriginSettings(BaseModel):
    """Where replies may go and where the ticket tokens are; the webhook function's variables."""

    model_config = ConfigDict(frozen=True)

    webhook_secret_id: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    jira_base_url: str | None = None  # JIRA_BASE_URL: the Jira token goes nowhere else
    slack_response_url_prefixes: tuple[str, ...] = SLACK_HOOKS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> OriginSettings:
        """WEBHOOK_SECRET_ARN (default: the secret named <SECRETS_PREFIX>webhook), GITHUB_API_URL,
        SLACK_RESPONSE_URL_PREFIXES (comma-separated)."""
        env = os.environ if environ is None else environ
        prefix = env.get("SECRETS_PREFIX") or "openflow-autopilot/"
        prefixes = tuple(
            p.strip() for p in env.get("SLACK_RESPONSE_URL_PREFIXES", "").split(",") if p.strip()
        )
        return cls(
            webhook_secret_id=env.get("WEBHOOK_SECRET_ARN") or f"{prefix}{DEFAULT_SECRET_NAME}",
            github_api_url=(env.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/"),
            jira_base_url=(env.get("JIRA_BASE_URL") or "").rstrip("/") or None,
            slack_response_url_prefixes=prefixes or SLACK_HOOKS,
        )


class SlackOrigin(BaseModel):
    """A run started by `/openflow setup` (see triggers.jobs)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    system: Literal["slack"]
    ref: str = "slack"
    user_id: str | None = None
    response_url: str


Origin = TicketOrigin | SlackOrigin


def console_url(execution_arn: str | None) -> str | None:
    """The execution's page in the Step Functions console, or None for anything but an execution ARN."""
    match = _EXECUTION_ARN.match(execution_arn or "")
    if match is None or match.group(1) not in _CONSOLE:
        return None
    partition, region = match.groups()
    base = _CONSOLE[partition].format(region=region)
    return f"{base}/states/home?region={region}#/v2/executions/details/{execution_arn}"


def parse_origin(raw: Any) -> Origin | None:
    if not isinstance(raw, Mapping) or not raw:
        return None
    try:
        if raw.get("system") == "slack":
            return SlackOrigin.model_validate(raw)
        return TicketOrigin.model_validate(raw)
    except ValidationError:
        logger.warning("the run's origin is not usable", extra={"system": str(raw.get("system"))[:20]})
        return None


def client_provider(secretsmanager: Any) -> SecretProvider:
    """A secret provider over a Secrets Manager client (for callers that already hold one)."""

    def get(secret_id: str) -> Mapping[str, Any]:
        data = json.loads(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])
        return data if isinstance(data, Mapping) else {}

    return get


def deliver(
    raw_origin: Any,
    *,
    subject: str,
    text: str,
    settings: OriginSettings,
    secrets: SecretProvider | None = None,
    opener: Opener | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> str | None:
    """Post `subject` and `text` where the run came from; returns a label for `delivered_to`, or None
    when there is no usable origin or the delivery failed (logged by error type, never the text)."""
    origin = parse_origin(raw_origin)
    if origin is None:
        return None
    try:
        if isinstance(origin, SlackOrigin):
            return _to_slack(origin, subject, text, settings, opener, blocks)
        return _to_ticket(origin, subject, text, settings, secrets, opener)
    # A courtesy message must not fail the run it reports on: whatever went wrong (the ticket
    # system, the network, the secret), the outcome is still on the topic and in the console.
    except Exception as exc:
        logger.warning(
            "could not report back to the run's origin",
            extra={"system": origin.system, "ref": origin.ref[:100], "error": type(exc).__name__},
        )
        return None


def _to_slack(
    origin: SlackOrigin,
    subject: str,
    text: str,
    settings: OriginSettings,
    opener: Opener | None,
    blocks: list[dict[str, Any]] | None,
) -> str:
    from openflow_autopilot.triggers.slack import post_to_response_url

    payload: dict[str, Any] = {"response_type": "ephemeral", "text": f"*{subject}*\n{text}"}
    if blocks:
        payload["blocks"] = blocks
    post_to_response_url(
        origin.response_url, payload, opener=opener, allowed_prefixes=settings.slack_response_url_prefixes
    )
    return f"slack response_url ({origin.ref})"


def _to_ticket(
    origin: TicketOrigin,
    subject: str,
    text: str,
    settings: OriginSettings,
    secrets: SecretProvider | None,
    opener: Opener | None,
) -> str | None:
    import urllib.request

    from openflow_autopilot.triggers.tickets import comment_payload, send_comment

    tokens = load_signing_secrets(settings.webhook_secret_id, secrets or powertools_provider())
    token, user = {
        "github": (tokens.github_token, None),
        "jira": (tokens.jira_token, tokens.jira_user),
        "servicenow": (tokens.servicenow_token, tokens.servicenow_user),
    }[origin.system]
    if token is None:
        logger.warning("no token to comment with", extra={"system": origin.system})
        return None
    request = comment_payload(
        origin,
        f"{_BOLD[origin.system].format(subject)}\n\n{text}",
        token=token.get_secret_value(),
        user=user,
        github_api_url=settings.github_api_url,
        jira_base_url=settings.jira_base_url,
    )
    status = send_comment(request, opener=opener or urllib.request.urlopen)
    if not 200 <= status < 300:
        logger.warning("comment not accepted", extra={"system": origin.system, "status": status})
        return None
    return f"{origin.system} comment ({origin.ref})"
