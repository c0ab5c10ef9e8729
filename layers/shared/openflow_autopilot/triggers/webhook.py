"""The webhook function: one Lambda Function URL (payload format 2.0) serving Slack and the ticket
systems, plus the asynchronous jobs it hands to itself.

Every request is routed by path, size-checked and verified before its body is parsed: a bad
signature, a replay or an oversized body gets 401/413 and starts nothing. Slack gets its
acknowledgement at once; slow work runs as a Job (an `InvocationType=Event` invocation of this
same function) that posts its result to Slack's response_url.

Routes (POST only): /slack/commands, /slack/interactions, /github, /jira, /servicenow.

Nothing on this path imports the Snowflake connector or psycopg (a test checks it), so cold start
stays small whatever the dependency layer carries. AWS clients are created on first use.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from openflow_autopilot.errors import AutopilotError, ConfigurationError, InvalidRequest, RetryableError
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.models import JOB_EVENT_KEY, Job, TicketSystem
from openflow_autopilot.triggers.secrets import (
    SecretProvider,
    SigningSecrets,
    load_signing_secrets,
    powertools_provider,
)
from openflow_autopilot.triggers.slack import (
    Opener,
    ephemeral,
    form_fields,
    parse_command,
    parse_interaction,
    plan_command,
    plan_interaction,
)
from openflow_autopilot.triggers.store import (
    DynamoDbIdempotencyStore,
    IdempotencyStore,
    MemoryIdempotencyStore,
)
from openflow_autopilot.triggers.verify import Source, lower_headers, verify_request

__all__ = ["ROUTES", "WebhookConfig", "WebhookDeps", "handle", "lambda_entry"]

logger = logging.getLogger("openflow_autopilot.triggers")

ROUTES: dict[str, Source] = {
    "/slack/commands": "slack",
    "/slack/interactions": "slack",
    "/github": "github",
    "/jira": "jira",
    "/servicenow": "servicenow",
}
RequestLoader = Callable[[str], Any]  # request name -> the parsed YAML/JSON document


class WebhookDeps:
    """Everything `handle` and the jobs talk to. Anything not passed in is built on first use from
    the real AWS SDK (boto3 honours AWS_ENDPOINT_URL, which is how the sandbox redirects it)."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        sfn: Any = None,
        lambda_client: Any = None,
        s3: Any = None,
        dynamodb: Any = None,
        store: IdempotencyStore | None = None,
        secret_provider: SecretProvider | None = None,
        dispatch: Callable[[Job], None] | None = None,
        opener: Opener | None = None,
        request_loader: RequestLoader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clients: dict[str, Any] = {
            k: v
            for k, v in {
                "stepfunctions": sfn,
                "lambda": lambda_client,
                "s3": s3,
                "dynamodb": dynamodb,
            }.items()
            if v is not None
        }
        self._store = store
        self._secret_provider = secret_provider
        self._dispatch = dispatch
        self._opener = opener
        self._request_loader = request_loader
        self.clock = clock

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            from openflow_autopilot.aws.clients import client  # boto3 is imported on first use

            self._clients[service] = client(service)
        return self._clients[service]

    @property
    def sfn(self) -> Any:
        return self._client("stepfunctions")

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def store(self) -> IdempotencyStore:
        if self._store is None:
            if self.config.idempotency_table:
                self._store = DynamoDbIdempotencyStore(
                    self._client("dynamodb"), self.config.idempotency_table
                )
            else:
                # Without a table, duplicates are still caught by the deterministic execution name.
                logger.warning("IDEMPOTENCY_TABLE is not set: delivery ids are remembered per container only")
                self._store = MemoryIdempotencyStore()
        return self._store

    def secrets(self) -> SigningSecrets:
        provider = self._secret_provider or powertools_provider(self.config.secret_max_age_seconds)
        self._secret_provider = provider
        return load_signing_secrets(self.config.webhook_secret_arn, provider)

    @property
    def opener(self) -> Opener:
        if self._opener is None:
            import urllib.request

            self._opener = urllib.request.urlopen
        return self._opener

    def load_request(self, name: str) -> Any:
        """requests/<name>.yaml from the artifact bucket, parsed (YAML is a superset of JSON)."""
        if self._request_loader is not None:
            return self._request_loader(name)
        import yaml

        if not self.config.artifact_bucket:
            raise ConfigurationError("ARTIFACT_BUCKET is not set", fix="set it in template.yaml")
        key = f"requests/{name}.yaml"
        try:
            body = self.s3.get_object(Bucket=self.config.artifact_bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise InvalidRequest(
                f"there is no `{key}` in the artifact bucket",
                fix=f"upload it: aws s3 cp {name}.yaml s3://{self.config.artifact_bucket}/{key}",
            ) from None
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError:
            raise InvalidRequest(f"`{key}` is not valid YAML") from None

    def dispatch(self, job: Job) -> None:
        """Run `job` asynchronously: an Event invocation of this function (or the injected runner)."""
        if self._dispatch is not None:
            self._dispatch(job)
            return
        if not self.config.function_name:
            raise ConfigurationError("the function's own name is unknown (AWS_LAMBDA_FUNCTION_NAME)")
        self._client("lambda").invoke(
            FunctionName=self.config.function_name,
            InvocationType="Event",
            Payload=json.dumps({JOB_EVENT_KEY: job.model_dump(mode="json")}).encode(),
        )


# --- HTTP plumbing -----------------------------------------------------------------------------
def _response(status: int, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body) if body is not None else "",
    }


class _TooLarge(Exception):
    pass


def _raw_body(event: Mapping[str, Any], limit: int) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InvalidRequest("the event body is not text")
    if event.get("isBase64Encoded"):
        if len(body) // 4 * 3 > limit + 3:  # decide before decoding a huge body
            raise _TooLarge
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogateescape")
    if len(raw) > limit:
        raise _TooLarge
    return raw


def _path(event: Mapping[str, Any]) -> str:
    path = str(event.get("rawPath") or event.get("path") or "/")
    return path.rstrip("/") or "/"


def _method(event: Mapping[str, Any]) -> str:
    http = ((event.get("requestContext") or {}).get("http")) or {}
    return str(http.get("method") or event.get("httpMethod") or "").upper()


def _rejected(route: str, source: str, status: int, reason: str) -> dict[str, Any]:
    logger.warning(
        "webhook request rejected",
        extra={"route": route[:100], "source": source, "status": status, "reason": reason},
    )
    messages = {
        400: "bad request",
        401: "unauthorized",
        404: "not found",
        405: "method not allowed",
        413: "payload too large",
    }
    return _response(status, {"error": messages.get(status, "error")})


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
            return _slack_command(body, config, deps, at)
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


def _slack_command(body: bytes, config: WebhookConfig, deps: WebhookDeps, at: datetime) -> dict[str, Any]:
    fields = form_fields(body)
    if fields.get("ssl_check") == "1":  # Slack's periodic certificate check
        return _response(200)
    plan = plan_command(parse_command(fields), config=config, now=at)
    ack = plan.ack
    if plan.job is not None:
        try:
            deps.dispatch(plan.job)
        except Exception as exc:  # Slack still gets an answer in time, saying the work did not start
            logger.error(
                "could not dispatch a Slack job", extra={"kind": plan.job.kind, "error": type(exc).__name__}
            )
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
    key = f"delivery:{system}:{origin.delivery_id}"
    if decision.action == "invalid":
        claim = deps.store.claim(
            key, now=now, ttl_seconds=config.idempotency_ttl_seconds, note="invalid request"
        )
        if claim.first and origin.comment_url and decision.comment:
            _dispatch_best_effort(
                deps, Job(kind="comment", requested_at=at, origin=origin, text=decision.comment)
            )
        logger.info("ticket request invalid", extra={**log, "duplicate": not claim.first})
        return _response(
            200, {"status": "invalid" if claim.first else "duplicate", "reason": decision.reason}
        )
    if not config.provision_state_machine_arn:
        raise ConfigurationError("PROVISION_STATE_MACHINE_ARN is not set")
    assert decision.request is not None and decision.request_name is not None
    name = execution_name(system, origin.delivery_id, decision.request_name)
    claim = deps.store.claim(key, now=now, ttl_seconds=config.idempotency_ttl_seconds, note=name)
    if not claim.first:
        logger.info("duplicate delivery", extra=log)
        return _response(200, {"status": "duplicate", "execution": claim.note})
    try:
        started = start_named_execution(
            deps.sfn,
            state_machine_arn=config.provision_state_machine_arn,
            name=name,
            payload=provision_input(decision.request, origin),
        )
    except Exception:
        deps.store.release(key)  # let the vendor's retry try again
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
