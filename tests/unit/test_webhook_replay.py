"""Replays: the signatures cover the body (Slack: the timestamp and the body) but not the delivery id
header, so a captured signed request can come back under a new `X-GitHub-Delivery` (or within
Slack's 5-minute window). Such a request gets the first request's answer and starts nothing; a
genuinely new event still starts its own run. Also: what is posted back on a ticket never quotes a
credential."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fakes import webhook_world

from openflow_autopilot.core.masking import mask_credentials
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.models import Job, TicketOrigin
from openflow_autopilot.triggers.replays import SLACK_REPLAY_TTL_SECONDS
from openflow_autopilot.triggers.replies import console_url
from openflow_autopilot.triggers.store import (
    DynamoDbIdempotencyStore,
    IdempotencyStore,
    MemoryIdempotencyStore,
)
from openflow_autopilot.triggers.tickets import comment_payload
from openflow_autopilot.triggers.verify import hub_signature, slack_signature
from openflow_autopilot.triggers.webhook import handle

REGION = "us-east-1"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
TABLE = "openflow-webhook-idempotency"
REQUEST_YAML = open("events/provision/request.yaml", encoding="utf-8").read()  # noqa: SIM115
LABEL = "openflow-provision"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SECRETS = {
    "github_webhook_secret": "gh-secret",
    "jira_webhook_secret": "jira-secret",
    "slack_signing_secret": SLACK_SECRET,
    "github_token": "ghp_token",
}
ADMIN = "U0ADMIN"
RESPONSE_URL = "https://hooks.slack.com/commands/T1/2/abc"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with webhook_world(TABLE, REGION) as world:
        yield world


class Harness:
    """The webhook with moto's Step Functions and either store (DynamoDB through moto by default)."""

    def __init__(self, aws: dict[str, Any], *, store: Any = None, sfn: Any = None, **overrides: Any) -> None:
        self.config = WebhookConfig.model_validate(
            {
                "provision_state_machine_arn": aws["arn"],
                "power_state_machine_arn": aws["arn"].replace("provision", "power"),
                "webhook_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",
                "idempotency_table": TABLE,
                "jira_base_url": "https://acme.atlassian.net",
                "slack_allowed_users": ADMIN,
                "default_deployment": "SALES_CDC_DEPLOYMENT",
            }
            | overrides
        )
        self.jobs: list[Job] = []
        self.now = NOW
        self.deps = WebhookDeps(
            self.config,
            sfn=sfn or aws["sfn"],
            dynamodb=aws["dynamodb"],
            store=store,
            secret_provider=lambda _id: SECRETS,
            dispatch=self.jobs.append,
            clock=lambda: self.now,
        )
        self.sfn, self.arn = aws["sfn"], aws["arn"]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        event = {
            "rawPath": path,
            "headers": headers,
            "body": body.decode(),
            "isBase64Encoded": False,
            "requestContext": {"http": {"method": "POST"}},
        }
        response = handle(event, config=self.config, deps=self.deps)
        return response["statusCode"], json.loads(response["body"]) if response["body"] else None

    def executions(self) -> list[str]:
        return [e["name"] for e in self.sfn.list_executions(stateMachineArn=self.arn)["executions"]]


STORES = ["dynamodb", "memory"]


def harness(aws: dict[str, Any], store: str, **kwargs: Any) -> Harness:
    return Harness(aws, store=MemoryIdempotencyStore() if store == "memory" else None, **kwargs)


def github_event(*, number: int = 42, document: str = REQUEST_YAML) -> bytes:
    payload = {
        "action": "labeled",
        "label": {"name": LABEL},
        "issue": {
            "number": number,
            "body": f"Please provision.\r\n\r\n```yaml\r\n{document}\r\n```",
            "html_url": f"https://github.com/acme/platform/issues/{number}",
            "comments_url": f"https://api.github.com/repos/acme/platform/issues/{number}/comments",
        },
        "repository": {"full_name": "acme/platform"},
    }
    return json.dumps(payload).encode()


def github_headers(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,  # not covered by the signature
        "X-Hub-Signature-256": hub_signature("gh-secret", body),
    }


# --- GitHub (and Jira) -----------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
def test_a_signed_delivery_replayed_under_a_new_delivery_id_gets_the_first_answer(
    aws: dict[str, Any], store: str
) -> None:
    h = harness(aws, store)
    body = github_event()
    first = h.post("/github", body, github_headers(body, "72d3162e-cc78-11e3"))
    replay = h.post("/github", body, github_headers(body, "00000000-forged-id"))
    again = h.post("/github", body, github_headers(body, "11111111-forged-id"))
    assert first[0] == 202 and first[1]["status"] == "started"
    assert replay == first and again == first
    assert h.executions() == [first[1]["execution"]]
    assert [j.kind for j in h.jobs] == ["comment"]  # the "started" comment, once


@pytest.mark.parametrize("store", STORES)
def test_a_true_redelivery_is_answered_as_before_and_starts_nothing(aws: dict[str, Any], store: str) -> None:
    h = harness(aws, store)
    body = github_event()
    headers = github_headers(body, "72d3162e-cc78-11e3")
    status, first = h.post("/github", body, headers)
    # GitHub's "Redeliver" resends the same id and bytes: the answer names the first execution
    assert h.post("/github", body, headers) == (200, {"status": "duplicate", "execution": first["execution"]})
    # a replay of the same request under a new id, after the redelivery, still gets the first answer
    assert h.post("/github", body, github_headers(body, "forged")) == (status, first)
    assert h.executions() == [first["execution"]] and len(h.jobs) == 1


@pytest.mark.parametrize("store", STORES)
def test_a_different_body_is_a_new_event_and_starts_its_own_run(aws: dict[str, Any], store: str) -> None:
    h = harness(aws, store)
    one, two = github_event(number=42), github_event(number=43)
    first = h.post("/github", one, github_headers(one, "delivery-1"))
    second = h.post("/github", two, github_headers(two, "delivery-2"))
    assert first[0] == second[0] == 202 and first[1]["execution"] != second[1]["execution"]
    assert sorted(h.executions()) == sorted([first[1]["execution"], second[1]["execution"]])


def test_a_replayed_invalid_document_gets_the_first_answer_and_no_second_comment(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body = github_event(document=REQUEST_YAML.replace("MYORG-MYACCOUNT", "myaccount"))
    first = h.post("/github", body, github_headers(body, "d-1"))
    assert first[0] == 200 and first[1]["status"] == "invalid"
    assert h.post("/github", body, github_headers(body, "d-2")) == first
    assert h.executions() == [] and [j.kind for j in h.jobs] == ["comment"]


def test_a_failed_start_releases_both_keys_so_a_retry_under_any_id_can_start(aws: dict[str, Any]) -> None:
    class Throttled:
        def start_execution(self, **kwargs: Any) -> dict[str, Any]:
            error: Any = {
                "Error": {"Code": "ThrottlingException"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(error, "StartExecution")

    store = MemoryIdempotencyStore()
    body = github_event()
    assert (
        Harness(aws, store=store, sfn=Throttled()).post("/github", body, github_headers(body, "a"))[0] == 503
    )
    h = Harness(aws, store=store)
    assert h.post("/github", body, github_headers(body, "b"))[0] == 202
    assert len(h.executions()) == 1


def test_a_jira_delivery_replayed_under_a_new_identifier_starts_nothing(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    payload = {
        "webhookEvent": "jira:issue_created",
        "issue": {
            "key": "PLAT-7",
            "self": "https://acme.atlassian.net/rest/api/2/issue/10002",
            "fields": {"labels": [LABEL], "description": f"{{code:yaml}}\n{REQUEST_YAML}\n{{code}}"},
        },
    }
    body = json.dumps(payload).encode()

    def headers(delivery: str) -> dict[str, str]:
        return {
            "X-Hub-Signature": hub_signature("jira-secret", body),
            "X-Atlassian-Webhook-Identifier": delivery,
        }

    first = h.post("/jira", body, headers("jira-1"))
    assert first[0] == 202
    assert h.post("/jira", body, headers("jira-forged")) == first
    assert len(h.executions()) == 1


# --- Slack -----------------------------------------------------------------------------------------
TRIGGER = "13345224609.738474920.8088930838d88f008e0"


def command_body(text: str = "stop", trigger: str | None = TRIGGER) -> bytes:
    fields = {
        "team_id": "T0001",
        "user_id": ADMIN,
        "command": "/openflow",
        "text": text,
        "response_url": RESPONSE_URL,
        **({"trigger_id": trigger} if trigger is not None else {}),
    }
    return urllib.parse.urlencode(fields).encode()


def slack_headers(body: bytes, ts: float) -> dict[str, str]:
    stamp = str(int(ts))
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(SLACK_SECRET, stamp, body),
    }


@pytest.mark.parametrize("store", STORES)
def test_the_same_signed_stop_command_twice_dispatches_once(aws: dict[str, Any], store: str) -> None:
    h = harness(aws, store)
    body = command_body("stop")
    headers = slack_headers(body, NOW)
    first = h.post("/slack/commands", body, headers)
    h.now = NOW + 120  # still inside Slack's 5-minute window
    replay = h.post("/slack/commands", body, headers)
    assert first[0] == 200 and "Stopping `SALES_CDC_DEPLOYMENT`" in first[1]["text"]
    assert replay == first
    assert [j.kind for j in h.jobs] == ["stop"]


def test_the_same_trigger_id_under_a_new_timestamp_is_still_a_replay(aws: dict[str, Any]) -> None:
    # trigger_id is inside the signed body: only someone holding the signing secret could re-sign
    # it with a fresh timestamp, but the command it names has been dispatched once already.
    h = Harness(aws)
    body = command_body("stop")
    first = h.post("/slack/commands", body, slack_headers(body, NOW))
    assert h.post("/slack/commands", body, slack_headers(body, NOW + 1)) == first
    assert len(h.jobs) == 1


def test_identical_timestamp_and_body_without_a_trigger_id_is_still_a_replay(aws: dict[str, Any]) -> None:
    # A different trigger_id makes a different body (and signature), so the signed-base key is what
    # catches a replay that has no trigger_id to go by.
    h = Harness(aws)
    body = command_body("stop", trigger=None)
    headers = slack_headers(body, NOW)
    first = h.post("/slack/commands", body, headers)
    assert h.post("/slack/commands", body, headers) == first
    assert len(h.jobs) == 1


@pytest.mark.parametrize("store", STORES)
def test_a_new_command_dispatches_again(aws: dict[str, Any], store: str) -> None:
    h = harness(aws, store)
    one = command_body("stop", trigger="1.1.a")
    two = command_body("stop", trigger="2.2.b")  # Slack: a new invocation, a new trigger_id
    h.post("/slack/commands", one, slack_headers(one, NOW))
    h.now = NOW + 30
    h.post("/slack/commands", two, slack_headers(two, NOW + 30))
    without = command_body("stop", trigger=None)
    h.post("/slack/commands", without, slack_headers(without, NOW + 30))
    h.post("/slack/commands", without, slack_headers(without, NOW + 31))  # a new timestamp: a new command
    assert [j.kind for j in h.jobs] == ["stop"] * 4


def test_slack_keys_outlive_every_moment_the_timestamp_is_accepted(aws: dict[str, Any]) -> None:
    # A timestamp 5 minutes ahead of the clock is accepted, and still 5 minutes after it: first seen
    # at the earliest moment, the keys must still be held at the latest.
    assert SLACK_REPLAY_TTL_SECONDS >= 600
    h = Harness(aws)
    ts = NOW + 300
    body = command_body("stop")
    first = h.post("/slack/commands", body, slack_headers(body, ts))
    assert first[0] == 200
    h.now = ts + 300
    assert h.post("/slack/commands", body, slack_headers(body, ts)) == first
    h.now = ts + 301
    assert h.post("/slack/commands", body, slack_headers(body, ts))[0] == 401  # stale: refused anyway
    assert len(h.jobs) == 1


def test_a_failed_dispatch_leaves_no_claim_behind(aws: dict[str, Any]) -> None:
    calls: list[Job] = []

    def flaky(job: Job) -> None:
        calls.append(job)
        if len(calls) == 1:
            raise RuntimeError("lambda unavailable")

    h = Harness(aws)
    h.deps._dispatch = flaky
    body = command_body("stop")
    assert "Could not start" in h.post("/slack/commands", body, slack_headers(body, NOW))[1]["text"]
    assert "Stopping" in h.post("/slack/commands", body, slack_headers(body, NOW))[1]["text"]
    assert len(calls) == 2


def test_commands_that_dispatch_nothing_write_no_records(aws: dict[str, Any]) -> None:
    class Refusing:
        def claim(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("help needs no record")

        def release(self, key: str) -> None:
            raise AssertionError("help needs no record")

    h = Harness(aws, store=Refusing())
    body = command_body("help")
    assert h.post("/slack/commands", body, slack_headers(body, NOW))[0] == 200


# --- the stores decide alike ---------------------------------------------------------------------
def test_memory_and_dynamodb_stores_agree_at_the_expiry_second(aws: dict[str, Any]) -> None:
    stores: list[IdempotencyStore] = [
        MemoryIdempotencyStore(),
        DynamoDbIdempotencyStore(aws["dynamodb"], TABLE),
    ]
    for store in stores:
        assert store.claim("k", now=1000.7, ttl_seconds=60, note="a").first
    for now, first in ((1059.9, False), (1060.0, False), (1060.9, False), (1061.0, True)):
        results = [store.claim("k", now=now, ttl_seconds=60, note="b") for store in stores]
        assert [r.first for r in results] == [first, first], now
        assert len({r.note for r in results}) == 1


# --- credentials in what is posted back ----------------------------------------------------------
def test_mask_credentials_hides_url_userinfo_and_query() -> None:
    masked = mask_credentials("https://user:pw@host/x?token=abc")
    assert "pw" not in masked and "abc" not in masked and "user" not in masked
    assert masked.startswith("https://") and "host/x" in masked


def test_mask_credentials_hides_slack_webhook_urls() -> None:
    masked = mask_credentials("post to https://hooks.slack.com/services/T0/B0/SECRETX, then retry")
    assert "SECRETX" not in masked and "hooks.slack.com" in masked and masked.endswith(", then retry")


@pytest.mark.parametrize(
    "secret",
    [
        "xoxb-123456789012-abcdefSECRET",
        "ghp_abcdefghijklmnopqrstuvwxyz0123",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ],
)
def test_mask_credentials_hides_token_shapes(secret: str) -> None:
    assert secret not in mask_credentials(f"the value {secret} was rejected")


def test_mask_credentials_hides_assignments_and_keeps_plain_text() -> None:
    masked = mask_credentials("password=hunter2; Authorization: Bearer abcdef123456")
    assert "hunter2" not in masked and "abcdef123456" not in masked
    plain = "- `runtime.nifi_url`: nifi_url and nifi_token_secret_arn go together; see https://docs.example/x"
    assert mask_credentials(plain) == plain
    once = mask_credentials("https://u:p@h/x?q=1 https://hooks.slack.com/services/a/b/c password=x")
    assert mask_credentials(once) == once  # idempotent


def test_our_console_links_keep_their_query_and_fragment() -> None:
    link = console_url("arn:aws:states:us-east-1:123456789012:execution:provision:github-x-1")
    assert link is not None and mask_credentials(f"Execution: {link}") == f"Execution: {link}"


def test_a_validation_error_posted_on_the_issue_quotes_no_credential(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    url = "https://admin:hunter2@runtime.example/nifi-api?token=abc123"
    document = REQUEST_YAML.replace(
        "  size: SMALL\n",
        f"  size: SMALL\n  nifi_url: {url}\n"
        "  nifi_token_secret_arn: "
        "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:openflow-autopilot/nifi-AbCdEf\n",
    )
    assert document != REQUEST_YAML
    body = github_event(document=document)
    status, answer = h.post("/github", body, github_headers(body, "d-1"))
    assert (status, answer["status"]) == (200, "invalid")
    [job] = h.jobs
    assert job.text is not None and "`runtime.nifi_url`" in job.text
    assert "hunter2" not in job.text and "abc123" not in job.text
    # and the comment itself, whatever text it is given
    assert job.origin is not None
    request = comment_payload(job.origin, f"{job.text}\n{url}", token="t")
    posted = json.loads(request.body)["body"]
    assert "hunter2" not in posted and "abc123" not in posted


def test_comment_payload_masks_a_webhook_url_in_a_failure_text() -> None:
    origin = TicketOrigin(
        system="github",
        delivery_id="d",
        ref="a/b#1",
        comment_url="https://api.github.com/repos/a/b/issues/1/comments",
    )
    request = comment_payload(
        origin, "failed posting to https://hooks.slack.com/services/T0/B0/SECRETX", token="t"
    )
    assert "SECRETX" not in json.loads(request.body)["body"]
