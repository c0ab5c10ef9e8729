"""Slack: the `/openflow` slash command and the approve/reject buttons.

Slack wants an answer within 3 seconds, so planning a command does no I/O: it returns the
ephemeral acknowledgement and, when there is work, a Job that runs asynchronously and posts its
result to the command's `response_url`. Buttons carry an opaque approval id (see
openflow_autopilot.approvals); the task token stays server-side.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.snowflake.identifiers import IdentifierError, check_identifier
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.models import Job

APPROVE_ACTION = "openflow_approve"
REJECT_ACTION = "openflow_reject"
MAX_EXTEND_HOURS = 168.0  # power.schedule.MAX_OVERRIDE: an override is temporary
MIN_EXTEND_HOURS = 0.25
_REQUEST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # config.ProvisionRequest.name
_APPROVAL_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_HOURS = re.compile(r"^(\d+(?:\.\d+)?)h?$")
_HOUR_WORDS = {"h", "hr", "hrs", "hour", "hours"}
_OTHER_UNITS = {"m", "min", "mins", "minute", "minutes", "d", "day", "days", "w", "week", "weeks"}
_MUTATING = {"setup", "stop", "start", "extend"}


class SlashCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    command: str
    text: str = ""
    user_id: str
    user_name: str = ""
    team_id: str = ""
    channel_id: str = ""
    response_url: str
    trigger_id: str = ""


class CommandPlan(BaseModel):
    """The acknowledgement to return now and the job (if any) to run asynchronously."""

    model_config = ConfigDict(frozen=True)

    subcommand: str
    ack: dict[str, Any]
    job: Job | None = None


class ButtonPress(BaseModel):
    model_config = ConfigDict(frozen=True)

    approval_id: str
    approve: bool
    user_id: str
    response_url: str


def form_fields(body: bytes) -> dict[str, str]:
    """application/x-www-form-urlencoded; Slack always sends UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8") from None
    return {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}


def parse_command(body: bytes | Mapping[str, str]) -> SlashCommand:
    """From the raw body, or from fields already parsed with form_fields."""
    try:
        return SlashCommand.model_validate(form_fields(body) if isinstance(body, bytes) else dict(body))
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        raise InvalidRequest(f"not a Slack slash command (missing {fields})") from None


def escape(text: str, limit: int = 80) -> str:
    """User text echoed back: Slack's three control characters escaped, and kept short."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def help_text(command: str = "/openflow") -> str:
    c = escape(command, 40)
    return "\n".join(
        [
            f"*Openflow Autopilot* — `{c} <command>`",
            f"• `{c} setup <request-name>` — provision from `requests/<request-name>.yaml` "
            "in the artifact bucket",
            f"• `{c} status [deployment]` — the latest provisioning and power runs",
            f"• `{c} stop [deployment]` / `{c} start [deployment]` — stop or start the runtimes now",
            f"• `{c} extend <hours> [deployment]` — keep the runtimes on for <hours> (at most "
            f"{MAX_EXTEND_HOURS:g}), whatever the schedule says",
            f"• `{c} cost [deployment]` — this month's cost so far and what the schedule saved",
            f"• `{c} help` — this text",
        ]
    )


def _deployment(arg: str | None, config: WebhookConfig) -> str:
    name = arg or config.default_deployment
    if not name:
        raise InvalidRequest("name the deployment, e.g. `status MY_DEPLOYMENT` (no default is configured)")
    try:
        return check_identifier(name, "deployment")
    except IdentifierError:
        raise InvalidRequest(
            f"`{escape(name, 60)}` is not a deployment name (letters, digits, `_` or `$`)"
        ) from None


def _hours(arg: str | None, command: str) -> float:
    match = _HOURS.match(arg or "")
    hours = float(match.group(1)) if match else -1.0
    if not MIN_EXTEND_HOURS <= hours <= MAX_EXTEND_HOURS:
        got = f" (got `{escape(arg, 20)}`)" if arg else ""
        raise InvalidRequest(
            f"`extend` needs a number of hours between {MIN_EXTEND_HOURS:g} and {MAX_EXTEND_HOURS:g}, "
            f"e.g. `{escape(command, 40)} extend 2`{got}"
        )
    return hours


def plan_command(cmd: SlashCommand, *, config: WebhookConfig, now: datetime) -> CommandPlan:
    """No I/O here: this is the 3-second path."""
    words = cmd.text.split()
    sub = words[0].lower() if words else "help"
    args = words[1:]
    if config.slack_team_id and cmd.team_id != config.slack_team_id:
        return CommandPlan(subcommand=sub, ack=ephemeral("This Slack workspace is not served by this app."))
    if sub == "help":
        return CommandPlan(subcommand=sub, ack=ephemeral(help_text(cmd.command)))
    known = {"setup", "status", "stop", "start", "extend", "cost"}
    if sub not in known:
        error = f":warning: Unknown command `{escape(sub, 40)}`."
        return CommandPlan(subcommand="unknown", ack=ephemeral(f"{error}\n{help_text(cmd.command)}"))
    if sub in _MUTATING and cmd.user_id not in config.slack_allowed_users:
        return CommandPlan(
            subcommand=sub,
            ack=ephemeral(
                f":no_entry: You may not run `{sub}`: your Slack user id {escape(cmd.user_id, 20)} is not on "
                "the allow-list (SLACK_ALLOWED_USERS). `status`, `cost` and `help` are open to everyone."
            ),
        )
    base: dict[str, Any] = {
        "kind": sub,
        "requested_at": now,
        "response_url": cmd.response_url,
        "user_id": cmd.user_id,
        "trigger_id": cmd.trigger_id or None,
    }
    try:
        if sub == "setup":
            if len(args) != 1 or not _REQUEST_NAME.match(args[0]):
                raise InvalidRequest(
                    f"`setup` needs one request name (lower-case letters, digits, hyphens), e.g. "
                    f"`{escape(cmd.command, 40)} setup sales-cdc` for `requests/sales-cdc.yaml`"
                )
            job = Job(**base, request_name=args[0])
            text = f"Reading `requests/{args[0]}.yaml` and starting provisioning…"
        elif sub == "status":
            wanted = args[0] if args else config.default_deployment
            job = Job(**base, deployment=_deployment(wanted, config) if wanted else None)
            text = "Looking up the latest runs…"
        elif sub == "extend":
            rest = args[1:]
            if rest and rest[0].lower() in _HOUR_WORDS:
                rest = rest[1:]  # "extend 2 hours"
            elif rest and rest[0].lower() in _OTHER_UNITS:
                rest, args = [], ["?"]  # "extend 2 days" is not a deployment called DAYS
            hours = _hours(args[0] if args else None, cmd.command)
            deployment = _deployment(rest[0] if rest else None, config)
            job = Job(**base, deployment=deployment, hours=hours)
            text = f"Keeping `{deployment}` on for {hours:g} more hour(s)…"
        else:
            deployment = _deployment(args[0] if args else None, config)
            job = Job(**base, deployment=deployment)
            text = {
                "stop": f"Stopping `{deployment}`…",
                "start": f"Starting `{deployment}`…",
                "cost": f"Adding up this month's cost of `{deployment}`…",
            }[sub]
    except InvalidRequest as exc:
        return CommandPlan(subcommand=sub, ack=ephemeral(f":warning: {exc.message}"))
    return CommandPlan(subcommand=sub, ack=ephemeral(text), job=job)


# --- interactive buttons -----------------------------------------------------------------------
def parse_interaction(body: bytes) -> ButtonPress | None:
    """Our approve/reject press, or None for any other interaction (ignored with a 200)."""
    raw = form_fields(body).get("payload")
    if raw is None:
        raise InvalidRequest("not a Slack interaction (no payload field)")
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidRequest("the Slack interaction payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions") or []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    if action.get("action_id") not in (APPROVE_ACTION, REJECT_ACTION):
        return None
    approval_id = str(action.get("value") or "")
    user_id = str((payload.get("user") or {}).get("id") or "")
    response_url = str(payload.get("response_url") or "")
    if not _APPROVAL_ID.match(approval_id) or not user_id or not response_url:
        raise InvalidRequest("the approval button is missing its approval id, user or response_url")
    return ButtonPress(
        approval_id=approval_id,
        approve=action["action_id"] == APPROVE_ACTION,
        user_id=user_id,
        response_url=response_url,
    )


def plan_interaction(press: ButtonPress, *, config: WebhookConfig, now: datetime) -> Job:
    """Approvals run asynchronously; a user off the allow-list is told so and nothing is resumed."""
    if press.user_id not in config.slack_allowed_users:
        return Job(
            kind="reply",
            requested_at=now,
            response_url=press.response_url,
            user_id=press.user_id,
            text=(
                f":no_entry: <@{press.user_id}>, you are not on the approvers list (SLACK_ALLOWED_USERS); "
                "nothing was approved or rejected."
            ),
        )
    return Job(
        kind="approval",
        requested_at=now,
        response_url=press.response_url,
        user_id=press.user_id,
        approval_id=press.approval_id,
        approve=press.approve,
    )


def approval_blocks(approval_id: str, text: str) -> list[dict[str, Any]]:
    """A message with Approve/Reject buttons for a paused execution (for the notifier)."""
    if not _APPROVAL_ID.match(approval_id):
        raise InvalidRequest(f"approval id {approval_id!r} is not alphanumeric")
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
        {
            "type": "actions",
            "block_id": f"approval-{approval_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": approval_id,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": approval_id,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Reject?"},
                        "text": {"type": "plain_text", "text": "The paused run will fail."},
                        "confirm": {"type": "plain_text", "text": "Reject"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
            ],
        },
    ]


# --- response_url ------------------------------------------------------------------------------
Opener = Callable[..., Any]


def post_to_response_url(
    url: str,
    payload: dict[str, Any],
    *,
    opener: Opener | None = None,
    allowed_prefixes: tuple[str, ...] = ("https://hooks.slack.com/",),
    timeout: float = 10,
) -> int:
    """POST a message to a Slack response_url (`opener` defaults to urllib's urlopen); returns the
    HTTP status. Only Slack's hosts (or the configured prefixes) are accepted, so a forged URL cannot
    turn this into a request proxy."""
    import urllib.request  # only the asynchronous side posts: keep it off the cold-start path

    if not any(url.startswith(p) for p in allowed_prefixes):
        raise InvalidRequest("response_url is not a Slack URL")
    opener = opener or urllib.request.urlopen
    req = urllib.request.Request(  # noqa: S310 - the scheme and host are checked above
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with opener(req, timeout=timeout) as resp:
        resp.read()
        return int(getattr(resp, "status", 200))
