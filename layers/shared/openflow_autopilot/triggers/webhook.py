"""The webhook function: one Lambda Function URL (payload format 2.0) serving Slack and the ticket
systems, plus the asynchronous jobs it hands to itself.

Every request is routed by path, size-checked and verified before its body is parsed: a bad
signature, a stale Slack timestamp or an oversized body gets 401/413 and starts nothing. Slack gets
its acknowledgement at once; slow work runs as a Job (an `InvocationType=Event` invocation of this
same function) that posts its result to Slack's response_url.

Replays: every request that would start something also claims a digest of what was signed, so a
captured signed request sent again starts nothing (triggers/replays.py). The dependencies are in
triggers/deps.py, the HTTP plumbing in triggers/function_url.py.

Routes (POST only): /slack/commands, /slack/interactions, /github, /jira, /servicenow.

Nothing on this path imports the Snowflake connector or psycopg (a test checks it), so cold start
stays small whatever the dependency layer carries. AWS clients are created on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from openflow_autopilot.errors import AutopilotError, ConfigurationError, InvalidRequest, RetryableError
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.function_url import (
    _method,
    _path,
    _raw_body,
    _rejected,
    _response,
    _TooLarge,
)
from openflow_autopilot.triggers.models import JOB_EVENT_KEY, Job, TicketSystem
from openflow_autopilot.triggers.replays import (
    SLACK_REPLAY_TTL_SECONDS,
    _answer_note,
    _claim_all,
    _digest,
    _release_quietly,
    _slack_keys,
    _stored_answer,
)
from openflow_autopilot.triggers.slack import (
    ephemeral,
    form_fields,
    parse_command,
    parse_interaction,
    plan_command,
    plan_interaction,
)
from openflow_autopilot.triggers.verify import Source, lower_headers, verify_request

__all__ = ["ROUTES", "WebhookConfig", "handle", "lambda_entry"]

logger = logging.getLogger("openflow_autopilot.triggers")

ROUTES: dict[str, Source] = {
    "/slack/commands": "slack",
    "/slack/interactions": "slack",
    "/github": "github",
    "/jira": "jira",
    "/servicenow": "servicenow",
}


def handle(
    event: Mapping[str, Any],
    *,
    config: WebhookConfig,
    deps: WebhookDeps,
    now: float | None = None,
) -> dict[str, Any]:
    """One HTTP request (Function URL / HTTP API payload 2.0) -> {statusCode, headers, body}."""
    now = deps.clock() if now is None else now
    route = _path(event)
    source = ROUTES.get(route)
    if source is None:
        return _rejected(route, "-", 404, "unknown path")
    if _method(event) != "POST":
        return _rejected(route, source, 405, "method not allowed")
    try:
        body = _raw_body(event, config.max_body_bytes)
    except _TooLarge:
        return _rejected(route, source, 413, "body too large")
    except InvalidRequest as exc:
        return _rejected(route, source, 400, exc.message)
    headers = lower_headers(event.get("headers"))
    try:
        secrets = deps.secrets()
    except Exception as exc:  # the reason is logged by type only: its text could quote the secret
        logger.error("signing secrets unavailable", extra={"route": route, "error": type(exc).__name__})
        if isinstance(exc, ConfigurationError):
            return _response(500, {"error": "internal error"})
        return _response(503, {"error": "temporarily unavailable"})
    verdict = verify_request(
        source,
        body,
        headers,
        secrets,
        now=now,
        servicenow=config.servicenow,
        max_body_bytes=config.max_body_bytes,
    )
    if not verdict.ok:
        return _rejected(route, source, verdict.status, verdict.reason)
    at = datetime.fromtimestamp(now, UTC)
    try:
        if route == "/slack/commands":
            return _slack_command(body, headers, config, deps, now, at)
        if route == "/slack/interactions":
            return _slack_interaction(body, config, deps, at)
        assert source != "slack"
        return _ticket(source, headers, body, config, deps, now, at)
    except InvalidRequest as exc:
        return _rejected(route, source, 400, exc.message)
    except RetryableError as exc:
        logger.warning(
            "webhook request failed, retryable", extra={"route": route, "error": type(exc).__name__}
        )
        return _response(503, {"error": "temporarily unavailable, retry"})
    except AutopilotError as exc:
        logger.error(
            "webhook request failed",
            extra={"route": route, "error": type(exc).__name__, "detail": exc.message},
        )
        return _response(500, {"error": "internal error"})


def _slack_command(
    body: bytes,
    headers: Mapping[str, str],
    config: WebhookConfig,
    deps: WebhookDeps,
    now: float,
    at: datetime,
) -> dict[str, Any]:
    fields = form_fields(body)
    if fields.get("ssl_check") == "1":  # Slack's periodic certificate check
        return _response(200)
    command = parse_command(fields)
    plan = plan_command(command, config=config, now=at)
    ack = plan.ack
    if plan.job is not None:
        # Only a command that dispatches work is claimed: any other answer is computed from the
        # signed body alone, so a replay of it gets the same answer anyway.
        keys = _slack_keys(command.trigger_id, headers, body)
        note = _answer_note(200, ack)
        held = _claim_all(deps, [(k, note) for k in keys], now=now, ttl_seconds=SLACK_REPLAY_TTL_SECONDS)
        if held is not None:
            logger.warning(
                "replayed slack command ignored",
                extra={"subcommand": plan.subcommand, "key": keys[held[0]].split(":")[1]},
            )
            return _stored_answer(held[1], ack)
        try:
            deps.dispatch(plan.job)
        except Exception as exc:  # Slack still gets an answer in time, saying the work did not start
            logger.error(
                "could not dispatch a Slack job", extra={"kind": plan.job.kind, "error": type(exc).__name__}
            )
            _release_quietly(deps, keys)  # nothing was started: the records must not claim it was
            ack = ephemeral(":x: Could not start that just now; please try again in a minute.")
    logger.info("slack command", extra={"subcommand": plan.subcommand, "job": plan.job is not None})
    return _response(200, ack)


def _slack_interaction(body: bytes, config: WebhookConfig, deps: WebhookDeps, at: datetime) -> dict[str, Any]:
    press = parse_interaction(body)
    if press is None:
        return _response(200)
    job = plan_interaction(press, config=config, now=at)
    if job.kind == "reply":
        logger.warning("approval refused", extra={"reason": "user not on allow-list"})
    deps.dispatch(job)
    return _response(200)


def _ticket(
    system: TicketSystem,
    headers: Mapping[str, str],
    body: bytes,
    config: WebhookConfig,
    deps: WebhookDeps,
    now: float,
    at: datetime,
) -> dict[str, Any]:
    from openflow_autopilot.triggers.sfn import execution_name, start_named_execution
    from openflow_autopilot.triggers.tickets import parse_ticket, provision_input

    decision = parse_ticket(
        system,
        headers,
        body,
        github_label=config.github_label,
        jira_label=config.jira_label,
        jira_trigger_field=config.jira_trigger_field,
        servicenow_instance_url=config.servicenow_instance_url,
        servicenow_table=config.servicenow_table,
        jira_base_url=config.jira_base_url,
    )
    log = {"source": system, "reason": decision.reason}
    if decision.action == "ignore" or decision.origin is None:
        logger.info("ticket event ignored", extra=log)
        return _response(200, {"status": "ignored", "reason": decision.reason})
    origin = decision.origin
    ttl = config.idempotency_ttl_seconds
    # The delivery id (a redelivery reuses it) and the signed body (a replay under a new delivery
    # id, which the signature does not cover, resends the same bytes). The delivery record keeps
    # its note as before (the execution name); the body record keeps the first answer.
    key = f"delivery:{system}:{origin.delivery_id}"
    body_key = f"body:{system}:{_digest(body)}"
    if decision.action == "invalid":
        answer: dict[str, Any] = {"status": "invalid", "reason": decision.reason}
        held = _claim_all(
            deps, [(key, "invalid request"), (body_key, _answer_note(200, answer))], now=now, ttl_seconds=ttl
        )
        if held is not None and held[0] == 0:
            logger.info("ticket request invalid", extra={**log, "duplicate": True})
            return _response(200, {"status": "duplicate", "reason": decision.reason})
        if held is not None:
            logger.warning("replayed ticket delivery ignored", extra=log)
            return _stored_answer(held[1], answer)
        if origin.comment_url and decision.comment:
            _dispatch_best_effort(
                deps, Job(kind="comment", requested_at=at, origin=origin, text=decision.comment)
            )
        logger.info("ticket request invalid", extra={**log, "duplicate": False})
        return _response(200, answer)
    if not config.provision_state_machine_arn:
        raise ConfigurationError("PROVISION_STATE_MACHINE_ARN is not set")
    assert decision.request is not None and decision.request_name is not None
    name = execution_name(system, origin.delivery_id, decision.request_name)
    # Written before the start, so this is the answer for a start that succeeds; one that fails
    # releases both records. (A first delivery that met ExecutionAlreadyExists, its records lost,
    # answered "already started"; its replays are told "started" with the same execution.)
    first_answer = {"status": "started", "execution": name}
    held = _claim_all(
        deps, [(key, name), (body_key, _answer_note(202, first_answer))], now=now, ttl_seconds=ttl
    )
    if held is not None and held[0] == 0:
        logger.info("duplicate delivery", extra=log)
        return _response(200, {"status": "duplicate", "execution": held[1]})
    if held is not None:
        logger.warning("replayed ticket delivery ignored", extra=log)
        return _stored_answer(held[1], {"status": "duplicate"})
    try:
        started = start_named_execution(
            deps.sfn,
            state_machine_arn=config.provision_state_machine_arn,
            name=name,
            payload=provision_input(decision.request, origin),
        )
    except Exception:
        deps.store.release(key)  # let the vendor's retry try again
        deps.store.release(body_key)
        raise
    if not started.already_started and origin.comment_url:
        text = (
            f"Openflow Autopilot started provisioning `{decision.request_name}` "
            f"(execution `{started.name}`). Progress and the result will be posted here."
        )
        _dispatch_best_effort(deps, Job(kind="comment", requested_at=at, origin=origin, text=text))
    logger.info(
        "provisioning started", extra={**log, "execution": started.name, "already": started.already_started}
    )
    return _response(
        202,
        {"status": "already started" if started.already_started else "started", "execution": started.name},
    )


def _dispatch_best_effort(deps: WebhookDeps, job: Job) -> None:
    """A courtesy comment must not fail the delivery (the vendor would retry a started run)."""
    try:
        deps.dispatch(job)
    except Exception as exc:
        logger.warning("could not dispatch a comment", extra={"error": type(exc).__name__})


def lambda_entry(event: Mapping[str, Any], *, config: WebhookConfig, deps: WebhookDeps) -> dict[str, Any]:
    """The whole Lambda handler: an HTTP request, or a Job this function sent itself."""
    if JOB_EVENT_KEY in event:
        from openflow_autopilot.triggers.jobs import run_job

        return run_job(Job.model_validate(event[JOB_EVENT_KEY]), config=config, deps=deps).model_dump(
            mode="json"
        )
    return handle(event, config=config, deps=deps)
