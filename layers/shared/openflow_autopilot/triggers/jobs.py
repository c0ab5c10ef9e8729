"""The webhook's asynchronous side: run a Job and post the outcome (Slack response_url or a ticket
comment). Runs in an Event invocation of the webhook function, so it may take seconds.

The power workflow's input: {"deployment", "action": "stop"|"start"|"extend", "now", "reason"}
plus "until" (ISO 8601, UTC) and "hours" for extend.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from openflow_autopilot.errors import AutopilotError, ConfigurationError, InvalidRequest
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.models import Job
from openflow_autopilot.triggers.sfn import execution_name, start_named_execution
from openflow_autopilot.triggers.slack import escape, post_to_response_url

logger = logging.getLogger("openflow_autopilot.triggers")

_STATUS_SCAN = 10  # executions listed per state machine when looking for a deployment's latest


class JobResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    ok: bool
    text: str
    execution: str | None = None
    posted: bool = False


def run_job(job: Job, *, config: WebhookConfig, deps: WebhookDeps) -> JobResult:
    """Run, then post. An AutopilotError becomes a message naming what to fix; anything else is
    reported as an internal error and re-raised, so it shows in the function's error metrics."""
    execution: str | None = None
    replace = job.replace_original
    try:
        if job.kind == "comment":
            return _comment(job, deps)
        if job.kind == "reply":
            text, ok = job.text or "", True
        elif job.kind == "approval":
            text, replace = _approval(job, config, deps)
            ok = True
        else:
            text, execution = _RUNNERS[job.kind](job, config, deps)
            ok = True
    except AutopilotError as exc:
        logger.warning("job failed", extra={"kind": job.kind, "error": type(exc).__name__})
        text, ok, replace = f":x: {exc}", False, False
    except Exception as exc:
        logger.exception("job crashed", extra={"kind": job.kind, "error": type(exc).__name__})
        _post(job, config, deps, ":x: Something went wrong on our side; the error is in the function's log.")
        raise
    posted = _post(job, config, deps, text, replace_original=replace)
    return JobResult(kind=job.kind, ok=ok, text=text, execution=execution, posted=posted)


def _post(
    job: Job, config: WebhookConfig, deps: WebhookDeps, text: str, *, replace_original: bool = False
) -> bool:
    if not job.response_url:
        return False
    payload: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if replace_original:
        payload = {"replace_original": True, "text": text}
    try:
        post_to_response_url(
            job.response_url, payload, opener=deps.opener, allowed_prefixes=config.slack_response_url_prefixes
        )
    except (OSError, InvalidRequest) as exc:
        logger.warning(
            "could not post to response_url", extra={"kind": job.kind, "error": type(exc).__name__}
        )
        return False
    return True


def _unique(job: Job) -> str:
    # Slack's trigger_id is unique per command: a retried job gets the same execution name.
    return job.trigger_id or f"{job.user_id}:{job.requested_at.isoformat()}"


def _now(job: Job) -> str:
    return job.requested_at.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- setup -------------------------------------------------------------------------------------
def _setup(job: Job, config: WebhookConfig, deps: WebhookDeps) -> tuple[str, str | None]:
    from openflow_autopilot.config import ProvisionRequest
    from openflow_autopilot.triggers.tickets import validation_lines

    assert job.request_name is not None
    if not config.provision_state_machine_arn:
        raise ConfigurationError("PROVISION_STATE_MACHINE_ARN is not set")
    document = deps.load_request(job.request_name)
    if not isinstance(document, dict):
        raise InvalidRequest(f"`requests/{job.request_name}.yaml` is not a mapping")
    try:
        request = ProvisionRequest.model_validate(document)
    except ValidationError as exc:
        lines = "\n".join(validation_lines(exc))
        return f":x: `requests/{job.request_name}.yaml` is invalid; nothing was started.\n{lines}", None
    origin = {
        "system": "slack",
        "ref": f"slack:{job.user_id}",
        "user_id": job.user_id,
        "response_url": job.response_url,
    }
    started = start_named_execution(
        deps.sfn,
        state_machine_arn=config.provision_state_machine_arn,
        name=execution_name("slack", _unique(job), request.name),
        payload={"request": request.model_dump(mode="json"), "origin": origin},
    )
    verb = "was already started" if started.already_started else "started"
    return (
        f":rocket: Provisioning `{request.name}` (deployment `{request.openflow.deployment_name}`) {verb}: "
        f"execution `{started.name}`. `/openflow status {request.openflow.deployment_name}` shows progress.",
        started.execution_arn,
    )


# --- power ---------------------------------------------------------------------------------------
def _power(job: Job, config: WebhookConfig, deps: WebhookDeps) -> tuple[str, str | None]:
    assert job.deployment is not None
    if not config.power_state_machine_arn:
        raise ConfigurationError("POWER_STATE_MACHINE_ARN is not set")
    payload: dict[str, Any] = {
        "deployment": job.deployment,
        "action": job.kind,
        "now": _now(job),
        "reason": f"slack:{job.user_id}",
    }
    if job.kind == "extend":
        assert job.hours is not None
        until = job.requested_at.astimezone(UTC) + timedelta(hours=job.hours)
        payload.update(until=until.isoformat().replace("+00:00", "Z"), hours=job.hours)
    started = start_named_execution(
        deps.sfn,
        state_machine_arn=config.power_state_machine_arn,
        name=execution_name(f"slack-{job.kind}", _unique(job), job.deployment),
        payload=payload,
    )
    what = {
        "stop": f"Stopping `{job.deployment}`",
        "start": f"Starting `{job.deployment}`",
        "extend": f"Keeping `{job.deployment}` on until {payload.get('until', '')}",
    }[job.kind]
    again = " (this request was already being handled)" if started.already_started else ""
    return (
        f"{what}: power run `{started.name}`{again}. `/openflow status` shows when it is done.",
        started.execution_arn,
    )


# --- status --------------------------------------------------------------------------------------
_WATCH_RUNS = 6


def _deployment_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("deployment"), str):
        return str(data["deployment"])
    request = data.get("request")
    if isinstance(request, dict):
        name = (request.get("openflow") or {}).get("deployment_name")
        return str(name) if name else None
    return None


def _describe_line(label: str, d: dict[str, Any]) -> str:
    started = d.get("startDate")
    when = f" since {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if isinstance(started, datetime) else ""
    line = f"• {label} `{d.get('name')}`: *{d.get('status')}*{when}"
    if d.get("status") in ("FAILED", "TIMED_OUT", "ABORTED") and (d.get("error") or d.get("cause")):
        cause = str(d.get("cause") or "")
        try:
            parsed = json.loads(cause)
            cause = str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause
        except json.JSONDecodeError:
            pass
        line += f" — {escape(str(d.get('error') or ''), 60)}: {escape(cause, 300)}"
    return line


def _status(job: Job, config: WebhookConfig, deps: WebhookDeps) -> tuple[str, str | None]:
    machines = [
        ("provisioning", config.provision_state_machine_arn),
        ("power", config.power_state_machine_arn),
    ]
    lines: list[str] = []
    for label, arn in machines:
        if not arn:
            continue
        listed = deps.sfn.list_executions(stateMachineArn=arn, maxResults=_STATUS_SCAN)["executions"]
        shown = 0
        for item in listed:
            d = deps.sfn.describe_execution(executionArn=item["executionArn"])
            try:
                data = json.loads(d.get("input") or "{}")
            except json.JSONDecodeError:
                data = None
            if job.deployment and (_deployment_of(data) or "").upper() != job.deployment:
                continue
            lines.append(_describe_line(label, d))
            shown += 1
            if shown >= (1 if job.deployment else 3):
                break
    scope = f"`{job.deployment}`" if job.deployment else "all deployments"
    watch = _watch_lines(job, config, deps)
    if not lines:
        return (
            f"No provisioning or power runs found for {scope} among the latest {_STATUS_SCAN}.{watch}",
            None,
        )
    return f"*Latest runs for {scope}*\n" + "\n".join(lines) + watch, None


def _watch_lines(job: Job, config: WebhookConfig, deps: WebhookDeps) -> str:
    """The watch's last runs for the deployment (watch/status.py), or '' when there is none to show."""
    from openflow_autopilot.watch import status, store

    if not job.deployment or not config.artifact_bucket:
        return ""
    try:
        runs = store.last_runs(deps.s3, config.artifact_bucket, job.deployment, limit=_WATCH_RUNS)
    except AutopilotError as exc:
        return f"\n_The watch's runs could not be read: {escape(exc.message, 200)}_"
    return "\n*Watch*\n```" + escape(status.text(job.deployment, runs), 2500) + "```"


# --- cost ----------------------------------------------------------------------------------------
def _cost(job: Job, config: WebhookConfig, deps: WebhookDeps) -> tuple[str, str | None]:
    from openflow_autopilot.cost.model import actual_cost, monthly_cost, plain, usd
    from openflow_autopilot.cost.prices import default_prices
    from openflow_autopilot.cost.records import NoPowerRecords, load_history

    assert job.deployment is not None
    prices = default_prices()
    now = job.requested_at.astimezone(UTC)
    month = f"{now:%Y-%m}"
    always = monthly_cost(prices)
    if not config.artifact_bucket:
        raise ConfigurationError("ARTIFACT_BUCKET is not set (the power records live there)")
    try:
        records = load_history(
            deps.s3, config.artifact_bucket, config.power_records_prefix, month, deployment=job.deployment
        )
        report = actual_cost(records, month, prices=prices, now=now, deployment=job.deployment)
    except NoPowerRecords:
        return (
            f"No on/off records for `{job.deployment}` in {month} yet (they appear after the first scheduled "
            f"or manual stop/start). Always on, a month costs about {usd(always.total_usd)} at "
            f"{prices.region} list prices.",
            None,
        )
    return (
        f"*Cost of `{job.deployment}`, {month} so far* ({plain(report.elapsed_hours, 1)} h, UTC): "
        f"runtime on {plain(report.on_hours, 1)} h → {usd(report.cost.total_usd)}, against "
        f"{usd(report.always_on.total_usd)} always on: saved {usd(report.saved_usd)} "
        f"({plain(Decimal(report.saved_percent), 1)}%). A whole month always on: {usd(always.total_usd)}.",
        None,
    )


# --- approvals -----------------------------------------------------------------------------------
def _approval(job: Job, config: WebhookConfig, deps: WebhookDeps) -> tuple[str, bool]:
    """Send the paused execution's task token once; returns (text, replace the button message)."""
    from openflow_autopilot.approvals import resolve_approval

    assert job.approval_id is not None and job.approve is not None and job.user_id is not None
    if job.user_id not in config.slack_allowed_users:  # checked when planned; checked again here
        return f"<@{job.user_id}> is not on the approvers list; nothing was done.", False
    if not config.artifact_bucket:
        raise ConfigurationError("ARTIFACT_BUCKET is not set (approvals are stored there)")
    resolution = resolve_approval(
        deps.s3,
        deps.sfn,
        bucket=config.artifact_bucket,
        approval_id=job.approval_id,
        approved=job.approve,
        by=f"slack:{job.user_id}",
        now=job.requested_at,
    )
    if resolution.already_handled:
        return f":information_source: This approval was already handled ({resolution.message}).", False
    verdict = ":white_check_mark: Approved" if resolution.approved else ":no_entry_sign: Rejected"
    return f"{verdict} by <@{job.user_id}> ({resolution.message}).", True


# --- ticket comments -----------------------------------------------------------------------------
def _comment(job: Job, deps: WebhookDeps) -> JobResult:
    from openflow_autopilot.triggers.tickets import comment_payload, send_comment

    assert job.origin is not None and job.text is not None
    secrets = deps.secrets()
    token, user = {
        "github": (secrets.github_token, None),
        "jira": (secrets.jira_token, secrets.jira_user),
        "servicenow": (secrets.servicenow_token, secrets.servicenow_user),
    }[job.origin.system]
    if token is None:
        logger.warning("no token to comment with", extra={"system": job.origin.system})
        return JobResult(kind="comment", ok=False, text=f"no {job.origin.system} token in the webhook secret")
    request = comment_payload(
        job.origin,
        job.text,
        token=token.get_secret_value(),
        user=user,
        github_api_url=deps.config.github_api_url,
        jira_base_url=deps.config.jira_base_url,
    )
    try:
        status = send_comment(request, opener=deps.opener)
    except OSError as exc:
        logger.warning("comment failed", extra={"system": job.origin.system, "error": type(exc).__name__})
        return JobResult(kind="comment", ok=False, text=f"commenting on {job.origin.ref} failed")
    return JobResult(
        kind="comment", ok=200 <= status < 300, text=f"commented on {job.origin.ref}", posted=True
    )


_RUNNERS = {
    "setup": _setup,
    "stop": _power,
    "start": _power,
    "extend": _power,
    "status": _status,
    "cost": _cost,
}
