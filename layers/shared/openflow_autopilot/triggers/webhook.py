"""The webhook function: one Lambda Function URL (payload format 2.0) serving Slack and the ticket
systems, plus the asynchronous jobs it hands to itself.

Every request is routed by path, size-checked and verified before its body is parsed: a bad
signature, a stale Slack timestamp or an oversized body gets 401/413 and starts nothing. Slack gets
its acknowledgement at once; slow work runs as a Job (an `InvocationType=Event` invocation of this
same function) that posts its result to Slack's response_url.

Replays. The signatures cover the body only (Slack: the timestamp and the body), not the delivery
id header, so a captured signed request could come back under a new `X-GitHub-Delivery` (or, for
Slack, within the 5-minute window). Besides the delivery id (or Slack's trigger_id), every request
that would start something also claims a digest of what was signed; a request whose digest was
claimed before is a replay: it gets the answer the first one got and starts nothing.

Routes (POST only): /slack/commands, /slack/interactions, /github, /jira, /servicenow.

Nothing on this path imports the Snowflake connector or psycopg (a test checks it), so cold start
stays small whatever the dependency layer carries. AWS clients are created on first use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
from openflow_autopilot.triggers.verify import SLACK_MAX_AGE_SECONDS, Source, lower_headers, verify_request

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

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

# How long a Slack command's replay keys are kept. verify_slack accepts a timestamp up to 5 minutes
# either side of the clock, so one signed request stays acceptable for 10 minutes in all; keys kept
# for 10 minutes from the first sighting outlive that whole span (plus a minute for whole-second
# rounding and clock skew between containers). Past it the timestamp check refuses the request
# before it gets here, and trigger_id is inside the signed body, so it cannot come back later with
# a fresh timestamp either. The configured TTL (30 days, sized for GitHub's redeliveries) would
# only fill the table.
SLACK_REPLAY_TTL_SECONDS = 2 * SLACK_MAX_AGE_SECONDS + 60


class WebhookDeps:
    """Everything `handle` and the jobs talk to. Anything not passed in is built on first use from
    the real AWS SDK (boto3 honours AWS_ENDPOINT_URL, which is how the sandbox redirects it)."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        sfn: SFNClient | None = None,
        lambda_client: Any = None,
        s3: S3Client | None = None,
        dynamodb: DynamoDBClient | None = None,
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


# --- replays ------------------------------------------------------------------------------------
def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _answer_note(status: int, body: Mapping[str, Any]) -> str:
    """The first answer, kept with the claim so a replay gets the same status and body."""
    return json.dumps({"statusCode": status, "body": body}, separators=(",", ":"), sort_keys=True)


def _stored_answer(note: str, fallback: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(note)
    except (TypeError, ValueError):
        data = None
    if (
        isinstance(data, dict)
        and isinstance(data.get("statusCode"), int)
        and isinstance(data.get("body"), dict)
    ):
        return _response(data["statusCode"], data["body"])
    return _response(200, fallback)  # a record written by an older version, or without an answer


def _release_quietly(deps: WebhookDeps, keys: list[str]) -> None:
    for key in keys:
        try:
            deps.store.release(key)
        except Exception as exc:  # the record then expires through its TTL
            logger.warning("could not release an idempotency key", extra={"error": type(exc).__name__})


def _claim_all(
    deps: WebhookDeps, claims: list[tuple[str, str]], *, now: float, ttl_seconds: int
) -> tuple[int, str] | None:
    """Claim every (key, note) in order (each a conditional put). None when all were free; else
    (index, note) of the first key held already, after releasing the keys this call did claim:
    a request that starts nothing leaves no record of its own."""
    claimed: list[str] = []
    for index, (key, note) in enumerate(claims):
        claim = deps.store.claim(key, now=now, ttl_seconds=ttl_seconds, note=note)
        if not claim.first:
            _release_quietly(deps, claimed)
            return index, claim.note
        claimed.append(key)
    return None


def _slack_keys(trigger_id: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    # trigger_id is unique per command invocation; the signed base string catches a replay of a
    # command sent without one. Both come from verified input only.
    signed = b"v0:" + headers.get("x-slack-request-timestamp", "").encode() + b":" + body
    keys = [f"slack:signed:{_digest(signed)}"]
    if trigger_id:
        keys.insert(0, f"slack:trigger:{_digest(trigger_id.encode())}")
    return keys


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
