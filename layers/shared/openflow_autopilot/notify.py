"""The notifier both state machines end with: one message a human can act on, fanned out to
the stack's topic and the request's targets.

The failed phase is derived from the phases that finished (the state payload carries their
results), and the diagnosis from the error's Cause: message, the call that failed, the fix.
A run started from a ticket or a Slack command also hears back there (triggers.replies).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.power.notify_text import power_message
from openflow_autopilot.triggers.replies import OriginSettings, client_provider, console_url, deliver

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

# Provisioning phases in workflow order (state names in provision.asl.json): the fallback for
# naming the failed phase when the execution history cannot be read.
PHASE_ORDER = ("Validate", "SnowflakePrerequisites", "Deployment", "TemplateDoctor", "Stack", "Schedules")


class Diagnosis(BaseModel):
    phase: str
    error: str
    message: str


class Notification(BaseModel):
    workflow: Literal["provision", "power"] = "provision"
    request_name: str
    status: Literal["SUCCEEDED", "FAILED"]
    subject: str
    text: str
    execution: str | None = None
    diagnosis: Diagnosis | None = None
    phases: dict[str, Any] = Field(default_factory=dict)
    delivered_to: list[str] = Field(default_factory=list)


def failed_state(sfn: SFNClient, execution_arn: str) -> str | None:
    """The state whose task failed or timed out last (history read whole, then newest first)."""
    events: list[Any] = []  # the history's events, read by their documented keys
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    failed_seen = False
    for ev in sorted(events, key=lambda e: e["id"], reverse=True):
        etype = ev["type"]
        if etype in ("LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut", "TaskTimedOut"):
            failed_seen = True
        elif failed_seen and etype.endswith("StateEntered"):
            return str(ev["stateEnteredEventDetails"]["name"])
    return None


def _diagnose(error: dict[str, Any], finished: dict[str, Any], state: str | None = None) -> Diagnosis:
    name = str(error.get("Error") or "Unknown")
    cause = error.get("Cause") or ""
    message = cause
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or cause)
    except (json.JSONDecodeError, TypeError):
        pass
    finished_names = set(finished)
    # Validate leaves no phase entry; a missing validated request means it failed there.
    phase = next((p for p in PHASE_ORDER[1:] if p not in finished_names), PHASE_ORDER[-1])
    if state:
        phase = state
    if name == "InvalidRequest":
        phase = "Validate"
    return Diagnosis(phase=phase, error=name, message=message[:2000])


def _summary_lines(phases: dict[str, Any]) -> list[str]:
    lines = []
    for name, result in phases.items():
        if isinstance(result, dict):
            actions = result.get("actions") or []
            lines.append(f"- {name}: {result.get('status', '?')}, {len(actions)} action(s)")
            lines.extend(f"    note: {n}" for n in result.get("notes") or [])
    return lines


def _execution_lines(execution: str | None) -> list[str]:
    url = console_url(execution)
    return [*([f"Execution: {execution}"] if execution else []), *([f"Console: {url}"] if url else [])]


def _next_steps(request: ProvisionRequest | None) -> list[str]:
    if request is None:
        return []
    deployment = request.openflow.deployment_name
    return [
        f"What next: nothing is required. `/openflow status {deployment}` shows the latest runs; running "
        "the same request again changes nothing."
    ]


def build(
    event: dict[str, Any], *, failed_in: str | None = None
) -> tuple[Notification, ProvisionRequest | None]:
    """event: {"state": <the state machine's state>, "execution": <execution id>}."""
    state = event.get("state") or {}
    raw = state.get("request")
    try:
        request: ProvisionRequest | None = parse_request(raw)
    except InvalidRequest:
        request = None
    if request is not None:
        name = request.name
    else:
        name = str(raw.get("name") or "unnamed request") if isinstance(raw, dict) else "unnamed request"
    phases = state.get("phases") or {}
    error = state.get("error")
    execution = event.get("execution")
    power = power_message(state, name=name, execution=execution, failed_in=failed_in)
    if power is not None:
        status, subject, text = power
        return Notification(
            workflow="power",
            request_name=name,
            status=status,
            subject=subject,
            text=text,
            execution=execution,
            diagnosis=_diagnose(error, phases, failed_in) if error else None,
            phases=phases,
        ), request
    if error:
        diag = _diagnose(error, phases, failed_in)
        subject = f"Openflow Autopilot: {name} FAILED in {diag.phase}"
        text = "\n".join(
            [
                f"Provisioning '{name}' failed in phase {diag.phase} ({diag.error}).",
                f"What happened: {diag.message}",
                "What to do: fix the cause named above, then start the workflow again with the same request "
                "(openflow-autopilot start, or aws stepfunctions start-execution); finished phases take "
                "no action on a rerun.",
                *(["Phases finished before the failure:", *_summary_lines(phases)] if phases else []),
                *_execution_lines(execution),
            ]
        )
        return Notification(
            request_name=name,
            status="FAILED",
            subject=subject,
            text=text,
            execution=execution,
            diagnosis=diag,
            phases=phases,
        ), request
    subject = f"Openflow Autopilot: {name} SUCCEEDED"
    text = "\n".join(
        [
            f"Provisioning '{name}' finished.",
            *_summary_lines(phases),
            *_next_steps(request),
            *_execution_lines(execution),
        ]
    )
    return Notification(
        request_name=name, status="SUCCEEDED", subject=subject, text=text, execution=execution, phases=phases
    ), request


def send(
    event: dict[str, Any],
    *,
    default_topic_arn: str | None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
    sfn: SFNClient | None = None,
    settings: OriginSettings | None = None,
    opener: Any = None,
) -> Notification:
    """`settings` (default: from the environment) say where replies to the run's origin may go."""
    injected_secrets = secrets
    failed_in = None
    state = event.get("state") or {}
    if state.get("error") and str(event.get("execution", "")).startswith("arn:"):
        try:
            failed_in = failed_state(sfn or client("stepfunctions"), str(event["execution"]))
        except Exception:  # the diagnosis falls back to the finished phases
            failed_in = None
    note, request = build(event, failed_in=failed_in)
    region = request.aws.region if request else None
    topics = [default_topic_arn] if default_topic_arn else []
    slack_secrets: list[str] = []
    for target in request.notifications if request else []:
        if target.sns_topic_arn:
            topics.append(target.sns_topic_arn)
        if target.slack_webhook_secret_arn:
            slack_secrets.append(target.slack_webhook_secret_arn)
    message = json.dumps(note.model_dump(mode="json", exclude={"delivered_to"}))
    if topics:
        sns = sns or client("sns", region)
        for arn in dict.fromkeys(topics):
            sns.publish(TopicArn=arn, Subject=note.subject[:99], Message=message)
            note.delivered_to.append(arn)
    if slack_secrets:
        secrets = secrets or client("secretsmanager", region)
        for arn in slack_secrets:
            url = secrets.get_secret_value(SecretId=arn)["SecretString"].strip()
            _post_slack(url, f"*{note.subject}*\n{note.text}")
            note.delivered_to.append(f"slack webhook ({arn})")
    if state.get("origin"):
        label = deliver(
            state["origin"],
            subject=note.subject,
            text=note.text,
            settings=settings or OriginSettings.from_environ(),
            secrets=client_provider(injected_secrets) if injected_secrets is not None else None,
            opener=opener,
        )
        if label:
            note.delivered_to.append(label)
    return note


def _post_slack(
    url: str, text: str, *, blocks: list[dict[str, Any]] | None = None, opener: Any = None
) -> None:
    if not url.startswith("https://hooks.slack.com/"):
        raise InvalidRequest("the Slack webhook secret must hold an https://hooks.slack.com/ URL")
    body: dict[str, Any] = {"text": text, **({"blocks": blocks} if blocks else {})}
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with (opener or urllib.request.urlopen)(req, timeout=10) as resp:
        resp.read()


def _publish(
    request: ProvisionRequest,
    default_topic_arn: str | None,
    subject: str,
    message: dict[str, Any],
    sns: SNSClient | None,
) -> list[str]:
    """`message` as JSON to the stack's topic and the request's topics, each once; their ARNs."""
    wanted = [default_topic_arn] if default_topic_arn else []
    topics = list(dict.fromkeys(wanted + [t.sns_topic_arn for t in request.notifications if t.sns_topic_arn]))
    if topics:
        sns = sns or client("sns", request.aws.region)
        for arn in topics:
            sns.publish(TopicArn=arn, Subject=subject[:99], Message=json.dumps(message))
    return topics


def _post_to_slack_targets(
    request: ProvisionRequest,
    subject: str,
    text: str,
    blocks: list[dict[str, Any]] | None,
    secrets: SecretsManagerClient | None,
    opener: Any,
) -> list[str]:
    """Each Slack target of the request, best effort; the labels of those that took it."""
    labels = [
        _post_action_to_slack(
            t.slack_webhook_secret_arn, subject, text, blocks, secrets, request.aws.region, opener
        )
        for t in request.notifications
        if t.slack_webhook_secret_arn
    ]
    return [label for label in labels if label]


def send_action_needed(
    request: ProvisionRequest,
    *,
    subject: str,
    text: str,
    default_topic_arn: str | None,
    sns: SNSClient | None = None,
    approval_id: str | None = None,
    secrets: SecretsManagerClient | None = None,
    origin: Any = None,
    settings: OriginSettings | None = None,
    opener: Any = None,
) -> list[str]:
    """A pause that needs a human: the same targets as the outcome notifications. In Slack, an
    approval comes with Approve/Reject buttons (handled by the webhook function)."""
    message = {
        "workflow": "provision",
        "request_name": request.name,
        "status": "ACTION_NEEDED",
        "approval_id": approval_id,
        "subject": subject,
        "text": text,
    }
    blocks = _approval_blocks(approval_id, f"*{subject}*\n{text}")
    delivered = _publish(request, default_topic_arn, subject, message, sns)
    delivered += _post_to_slack_targets(request, subject, text, blocks, secrets, opener)
    if origin:
        label = deliver(
            origin,
            subject=subject,
            text=text,
            settings=settings or OriginSettings.from_environ(),
            secrets=client_provider(secrets) if secrets is not None else None,
            opener=opener,
            blocks=blocks,
        )
        delivered += [label] if label else []
    return delivered


def _approval_blocks(approval_id: str | None, text: str) -> list[dict[str, Any]] | None:
    if not approval_id:
        return None
    from openflow_autopilot.triggers.slack import approval_blocks

    return approval_blocks(approval_id, text)


def _post_action_to_slack(
    secret_arn: str,
    subject: str,
    text: str,
    blocks: list[dict[str, Any]] | None,
    secrets: SecretsManagerClient | None,
    region: str,
    opener: Any,
) -> str | None:
    """Best effort: the run is paused either way, and the topic and the CLI still reach a human."""
    try:
        url = (secrets or client("secretsmanager", region)).get_secret_value(SecretId=secret_arn)[
            "SecretString"
        ]
        _post_slack(url.strip(), f"*{subject}*\n{text}", blocks=blocks, opener=opener)
    except Exception as exc:  # logged by type: the message could quote the webhook URL (a secret)
        logging.getLogger(__name__).warning(
            "could not post to the Slack webhook", extra={"secret": secret_arn, "error": type(exc).__name__}
        )
        return None
    return f"slack webhook ({secret_arn})"


def send_digest(
    request: ProvisionRequest,
    *,
    subject: str,
    text: str,
    digest: dict[str, Any],
    default_topic_arn: str | None,
    sns: SNSClient | None = None,
    secrets: SecretsManagerClient | None = None,
    opener: Any = None,
) -> list[str]:
    """The weekly digest (power/digest.py) to the same targets as the outcome notifications: the
    stack's topic and the request's topics get the digest as JSON, its Slack webhooks the text."""
    message = {
        "workflow": "digest",
        "request_name": request.name,
        "status": "DIGEST",
        "subject": subject,
        "text": text,
        "digest": digest,
    }
    delivered = _publish(request, default_topic_arn, subject, message, sns)
    return delivered + _post_to_slack_targets(request, subject, text, None, secrets, opener)
