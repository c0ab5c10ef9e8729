"""Ticket webhooks: a labelled GitHub issue, a Jira ticket or a ServiceNow record with a request
document starts provisioning once per delivery; an invalid document gets a comment naming the
fields and starts nothing."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fakes import Opener, webhook_world

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.triggers.config import ServiceNowAuth, WebhookConfig
from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.jobs import run_job
from openflow_autopilot.triggers.models import Job, TicketOrigin
from openflow_autopilot.triggers.sfn import execution_name, start_named_execution
from openflow_autopilot.triggers.store import DynamoDbIdempotencyStore, MemoryIdempotencyStore
from openflow_autopilot.triggers.tickets import comment_payload, find_request_document
from openflow_autopilot.triggers.verify import hub_signature, servicenow_signature
from openflow_autopilot.triggers.webhook import handle

REGION = "us-east-1"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
TABLE = "openflow-webhook-idempotency"
REQUEST_YAML = open("events/provision/request.yaml", encoding="utf-8").read()  # noqa: SIM115
SECRETS = {
    "github_webhook_secret": "gh-secret",
    "jira_webhook_secret": "jira-secret",
    "servicenow_webhook_secret": "snow-secret",
    "github_token": "ghp_token",
    "jira_token": "jira-api-token",
    "jira_user": "bot@example.com",
    "servicenow_token": "snow-password",
    "servicenow_user": "openflow.bot",
}
LABEL = "openflow-provision"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with webhook_world(TABLE, REGION) as world:
        yield world


class Harness:
    def __init__(self, aws: dict[str, Any], *, store: Any = None, sfn: Any = None, **overrides: Any) -> None:
        self.config = WebhookConfig.model_validate(
            {
                "provision_state_machine_arn": aws["arn"],
                "webhook_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",
                "idempotency_table": TABLE,
                "servicenow_instance_url": "https://acme.service-now.com/",
                "jira_base_url": "https://acme.atlassian.net",
            }
            | overrides
        )
        self.jobs: list[Job] = []
        self.opener = Opener()
        self.deps = WebhookDeps(
            self.config,
            sfn=sfn or aws["sfn"],
            dynamodb=aws["dynamodb"],
            store=store,
            secret_provider=lambda _id: SECRETS,
            dispatch=self.jobs.append,
            opener=self.opener,
            clock=lambda: NOW,
        )
        self.sfn = aws["sfn"]
        self.arn = aws["arn"]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        event = {
            "rawPath": path,
            "headers": headers,
            "body": body.decode(),
            "isBase64Encoded": False,
            "requestContext": {"http": {"method": "POST"}},
        }
        response = handle(event, config=self.config, deps=self.deps)
        response["json"] = json.loads(response["body"]) if response["body"] else None
        return response

    def executions(self) -> list[dict[str, Any]]:
        found = self.sfn.list_executions(stateMachineArn=self.arn)["executions"]
        return [self.sfn.describe_execution(executionArn=e["executionArn"]) for e in found]


def issue_body(document: str = REQUEST_YAML) -> str:
    return f"Please set up CDC for the sales database.\r\n\r\n```yaml\r\n{document}\r\n```\r\n\r\nThanks!"


def github_event(
    *,
    action: str = "labeled",
    label: str = LABEL,
    body: str | None = None,
    delivery: str = "72d3162e-cc78-11e3",
) -> tuple[bytes, dict[str, str]]:
    payload = {
        "action": action,
        "label": {"name": label},
        "issue": {
            "number": 42,
            "title": "Provision sales CDC",
            "body": issue_body() if body is None else body,
            "labels": [{"name": label}],
            "html_url": "https://github.com/acme/platform/issues/42",
            "comments_url": "https://api.github.com/repos/acme/platform/issues/42/comments",
        },
        "repository": {"full_name": "acme/platform"},
    }
    raw = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": hub_signature("gh-secret", raw),
        "Content-Type": "application/json",
    }
    return raw, headers


# --- GitHub ----------------------------------------------------------------------------------------
def test_duplicate_github_delivery_starts_one_execution(aws: dict[str, Any]) -> None:
    h = Harness(aws)  # the DynamoDB store (moto)
    body, headers = github_event()
    first = h.post("/github", body, headers)
    second = h.post("/github", body, headers)
    assert first["statusCode"] == 202 and first["json"]["status"] == "started"
    assert second["statusCode"] == 200 and second["json"] == {
        "status": "duplicate",
        "execution": first["json"]["execution"],
    }
    [execution] = h.executions()
    payload = json.loads(execution["input"])
    assert payload["request"]["name"] == "sales-cdc"
    assert payload["origin"] == {
        "system": "github",
        "delivery_id": "72d3162e-cc78-11e3",
        "ref": "acme/platform#42",
        "url": "https://github.com/acme/platform/issues/42",
        "comment_url": "https://api.github.com/repos/acme/platform/issues/42/comments",
    }
    assert [j.kind for j in h.jobs] == ["comment"]  # "started", once


def test_the_execution_name_is_the_second_guard_when_the_record_is_lost(aws: dict[str, Any]) -> None:
    body, headers = github_event()
    # two containers without a shared table: each remembers only its own deliveries
    for _ in range(2):
        assert (
            Harness(aws, store=MemoryIdempotencyStore()).post("/github", body, headers)["statusCode"] == 202
        )
    assert len(Harness(aws).executions()) == 1


def test_execution_already_exists_counts_as_already_started() -> None:
    class Sfn:
        def start_execution(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": "x"}}, "StartExecution")

    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:provision"
    started = start_named_execution(Sfn(), state_machine_arn=arn, name="github-x-1", payload={})
    assert started.already_started
    assert started.execution_arn == "arn:aws:states:us-east-1:123456789012:execution:provision:github-x-1"


def test_a_failed_start_releases_the_delivery_so_the_retry_can_start_it(aws: dict[str, Any]) -> None:
    class Throttled:
        def start_execution(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "slow down"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "StartExecution",
            )

    store = MemoryIdempotencyStore()
    body, headers = github_event()
    assert Harness(aws, store=store, sfn=Throttled()).post("/github", body, headers)["statusCode"] == 503
    assert Harness(aws, store=store).post("/github", body, headers)["statusCode"] == 202
    assert len(Harness(aws).executions()) == 1


def test_a_badly_signed_github_delivery_is_401_and_starts_nothing(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body, headers = github_event()
    headers["X-Hub-Signature-256"] = hub_signature("wrong", body)
    assert h.post("/github", body, headers)["statusCode"] == 401
    tampered = body.replace(b"sales-cdc", b"sales-cdd")
    _, good = github_event()
    assert h.post("/github", tampered, good)["statusCode"] == 401
    assert h.executions() == [] and h.jobs == []


@pytest.mark.parametrize(
    ("action", "label", "reason"),
    [
        ("opened", LABEL, "its labeled event"),  # GitHub sends `labeled` too: one run, not two
        ("labeled", "bug", "another label"),
        ("closed", LABEL, "not handled"),
    ],
)
def test_github_events_that_do_not_start_provisioning(
    aws: dict[str, Any], action: str, label: str, reason: str
) -> None:
    h = Harness(aws)
    body, headers = github_event(action=action, label=label)
    response = h.post("/github", body, headers)
    assert response["statusCode"] == 200 and response["json"]["status"] == "ignored"
    assert reason in response["json"]["reason"]
    assert h.executions() == []


def test_github_ping_is_answered(aws: dict[str, Any]) -> None:
    raw = b'{"zen": "Keep it logically awesome."}'
    headers = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": hub_signature("gh-secret", raw)}
    assert Harness(aws).post("/github", raw, headers)["json"]["status"] == "ignored"


def test_invalid_request_document_comments_with_the_field_names_and_starts_nothing(
    aws: dict[str, Any],
) -> None:
    document = REQUEST_YAML.replace("MYORG-MYACCOUNT", "myaccount").replace("ap-northeast-1\n", "mars-1\n")
    h = Harness(aws)
    body, headers = github_event(body=issue_body(document))
    response = h.post("/github", body, headers)
    assert response["statusCode"] == 200 and response["json"]["status"] == "invalid"
    assert h.executions() == []
    [job] = h.jobs
    assert job.kind == "comment" and job.origin is not None and job.origin.ref == "acme/platform#42"
    assert job.text is not None
    assert "`snowflake.account`" in job.text and "`aws.region`" in job.text
    assert "remove and re-add the label `openflow-provision`" in job.text
    # a redelivery does not comment twice
    assert h.post("/github", body, headers)["json"]["status"] == "duplicate"
    assert len(h.jobs) == 1


def test_an_issue_without_a_request_document_is_told_how_to_add_one(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body, headers = github_event(body="Please provision Openflow for sales, thanks")
    assert h.post("/github", body, headers)["json"]["status"] == "invalid"
    assert h.jobs[0].text is not None and "fenced ```yaml block" in h.jobs[0].text


def test_broken_yaml_names_the_line(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body, headers = github_event(body="```yaml\nname: x\n  bad: [\n```")
    h.post("/github", body, headers)
    assert h.jobs[0].text is not None and re.search(r"not valid YAML at line \d+", h.jobs[0].text)


def test_the_comment_job_posts_on_the_issue_with_the_token(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body, headers = github_event()
    h.post("/github", body, headers)
    result = run_job(h.jobs[0], config=h.config, deps=h.deps)
    assert result.ok and result.posted
    [req] = h.opener.requests
    assert req.full_url == "https://api.github.com/repos/acme/platform/issues/42/comments"
    assert req.get_method() == "POST" and req.get_header("Authorization") == "Bearer ghp_token"
    assert "started provisioning `sales-cdc`" in json.loads(req.data)["body"]


# --- Jira ------------------------------------------------------------------------------------------
def jira_event(
    event: str = "jira:issue_created",
    *,
    labels: list[str] | None = None,
    changelog: list[dict[str, Any]] | None = None,
    description: Any = None,
    fields: dict[str, Any] | None = None,
    delivery: str = "jira-delivery-1",
) -> tuple[bytes, dict[str, str]]:
    payload: dict[str, Any] = {
        "timestamp": 1700000000000,
        "webhookEvent": event,
        "issue": {
            "id": "10002",
            "key": "PLAT-7",
            "self": "https://acme.atlassian.net/rest/api/2/issue/10002",
            "fields": {
                "summary": "Provision sales CDC",
                "labels": [LABEL] if labels is None else labels,
                "description": description
                if description is not None
                else f"Please provision.\n{{code:yaml}}\n{REQUEST_YAML}\n{{code}}",
                **(fields or {}),
            },
        },
    }
    if changelog is not None:
        payload["changelog"] = {"id": "1", "items": changelog}
    raw = json.dumps(payload).encode()
    return raw, {
        "X-Hub-Signature": hub_signature("jira-secret", raw),
        "X-Atlassian-Webhook-Identifier": delivery,
    }


def test_jira_ticket_created_with_the_label_starts_provisioning_once(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body, headers = jira_event()
    assert h.post("/jira", body, headers)["statusCode"] == 202
    assert h.post("/jira", body, headers)["json"]["status"] == "duplicate"
    [execution] = h.executions()
    origin = json.loads(execution["input"])["origin"]
    assert origin["ref"] == "PLAT-7" and origin["url"] == "https://acme.atlassian.net/browse/PLAT-7"
    assert origin["comment_url"] == "https://acme.atlassian.net/rest/api/2/issue/10002/comment"


def test_jira_edit_without_adding_the_label_is_ignored(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body, headers = jira_event(
        "jira:issue_updated", changelog=[{"field": "summary", "fromString": "a", "toString": "b"}]
    )
    assert h.post("/jira", body, headers)["json"]["status"] == "ignored"
    assert h.executions() == []


def test_jira_update_that_adds_the_label_starts_provisioning(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    change = [{"field": "labels", "fromString": "backend", "toString": f"backend {LABEL}"}]
    body, headers = jira_event("jira:issue_updated", labels=["backend", LABEL], changelog=change)
    assert h.post("/jira", body, headers)["json"]["status"] == "started"


def test_jira_trigger_field_instead_of_a_label(aws: dict[str, Any]) -> None:
    h = Harness(aws, jira_label="", jira_trigger_field="customfield_10050")
    body, headers = jira_event(labels=[], fields={"customfield_10050": {"value": "Yes"}})
    assert h.post("/jira", body, headers)["json"]["status"] == "started"
    body, headers = jira_event(labels=[], fields={"customfield_10050": None}, delivery="2")
    assert h.post("/jira", body, headers)["json"]["status"] == "ignored"


def test_jira_document_format_code_block(aws: dict[str, Any]) -> None:
    adf = {
        "type": "doc",
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Please provision."}]},
            {
                "type": "codeBlock",
                "attrs": {"language": "yaml"},
                "content": [{"type": "text", "text": REQUEST_YAML}],
            },
        ],
    }
    h = Harness(aws)
    body, headers = jira_event(description=adf)
    assert h.post("/jira", body, headers)["json"]["status"] == "started"


# --- ServiceNow ------------------------------------------------------------------------------------
def servicenow_event(updated: str = "2026-03-02 09:00:00") -> bytes:
    return json.dumps(
        {
            "number": "RITM0010001",
            "short_description": "Openflow CDC for sales",
            "description": REQUEST_YAML,  # a plain-text field: the whole description is the request
            "sys_id": "9d385017c611228701d22104cc95c371",
            "sys_updated_on": updated,
            "table": "sc_req_item",
        }
    ).encode()


def test_servicenow_hmac_delivery_starts_once_per_record_update(aws: dict[str, Any]) -> None:
    h = Harness(aws)
    body = servicenow_event()
    headers = {"X-ServiceNow-Signature": servicenow_signature("snow-secret", body)}
    assert h.post("/servicenow", body, headers)["statusCode"] == 202
    assert h.post("/servicenow", body, headers)["json"]["status"] == "duplicate"
    later = servicenow_event("2026-03-02 10:00:00")
    assert (
        h.post("/servicenow", later, {"X-ServiceNow-Signature": servicenow_signature("snow-secret", later)})[
            "statusCode"
        ]
        == 202
    )
    assert len(h.executions()) == 2
    origin = json.loads(h.executions()[0]["input"])["origin"]
    assert origin["comment_url"] == (
        "https://acme.service-now.com/api/now/table/sc_req_item/9d385017c611228701d22104cc95c371"
    )


def test_servicenow_bearer_mode(aws: dict[str, Any]) -> None:
    h = Harness(aws, servicenow=ServiceNowAuth(mode="bearer"))
    body = servicenow_event()
    assert h.post("/servicenow", body, {"Authorization": "Bearer nope"})["statusCode"] == 401
    assert h.post("/servicenow", body, {"Authorization": "Bearer snow-secret"})["statusCode"] == 202


# --- comment payloads ------------------------------------------------------------------------------
def origin(system: str, url: str) -> TicketOrigin:
    return TicketOrigin.model_validate(
        {"system": system, "delivery_id": "d", "ref": "X-1", "comment_url": url}
    )


def test_comment_payloads_for_each_system() -> None:
    gh = comment_payload(
        origin("github", "https://api.github.com/repos/a/b/issues/1/comments"), "done", token="t"
    )
    assert (gh.method, gh.headers["Authorization"], json.loads(gh.body)) == (
        "POST",
        "Bearer t",
        {"body": "done"},
    )
    assert gh.headers["X-GitHub-Api-Version"] == "2022-11-28" and gh.headers["User-Agent"]

    jira_url = "https://acme.atlassian.net/rest/api/2/issue/10002/comment"
    site = "https://acme.atlassian.net"
    jira = comment_payload(
        origin("jira", jira_url), "done", token="tok", user="bot@example.com", jira_base_url=site
    )
    assert jira.headers["Authorization"] == "Basic " + base64.b64encode(b"bot@example.com:tok").decode()
    assert json.loads(jira.body) == {"body": "done"}
    assert (
        comment_payload(origin("jira", jira_url), "x", token="pat", jira_base_url=site).headers[
            "Authorization"
        ]
        == "Bearer pat"
    )
    # the Jira token never goes to a URL outside the configured site, nor anywhere when none is set
    for base in (None, "https://other.atlassian.net", "https://acme.atlassian.net.evil.example"):
        with pytest.raises(InvalidRequest) as caught:
            comment_payload(origin("jira", jira_url), "x", token="pat", jira_base_url=base)
        assert "JIRA_BASE_URL" in (caught.value.fix or "")

    snow_url = "https://acme.service-now.com/api/now/table/incident/abc"
    snow = comment_payload(origin("servicenow", snow_url), "done", token="pw", user="bot")
    assert (snow.method, json.loads(snow.body)) == ("PATCH", {"work_notes": "done"})
    url, headers, body, method = snow  # also unpacks as a tuple
    assert (url, headers["Authorization"], body, method) == (
        snow_url,
        "Basic " + base64.b64encode(b"bot:pw").decode(),
        snow.body,
        "PATCH",
    )


def test_comment_payload_refuses_a_non_https_url() -> None:
    from openflow_autopilot.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        comment_payload(origin("github", "http://api.github.com/x"), "x", token="t")


# --- pieces ----------------------------------------------------------------------------------------
def test_execution_names_are_stable_short_and_safe() -> None:
    a = execution_name("github", "72d3162e-cc78-11e3", "sales-cdc")
    assert a == execution_name("github", "72d3162e-cc78-11e3", "sales-cdc")
    assert a != execution_name("github", "72d3162e-cc78-11e4", "sales-cdc")
    assert a != execution_name("jira", "72d3162e-cc78-11e3", "sales-cdc")
    long = execution_name("servicenow", "x" * 500, "n" * 63)
    for name in (a, long, execution_name("slack", "a b/c:d", "")):
        assert len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", name)


def test_find_request_document_prefers_yaml_blocks() -> None:
    text = "```\nnot this\n```\n```yaml\nname: this\n```\n{code:yaml}\nname: jira\n{code}"
    assert find_request_document(text) == "name: this"
    assert find_request_document("{code:yaml|title=req}\nname: jira\n{code}") == "name: jira\n"
    assert find_request_document("no blocks") is None


def test_dynamodb_store_claims_once_until_expiry(aws: dict[str, Any]) -> None:
    store = DynamoDbIdempotencyStore(aws["dynamodb"], TABLE)
    assert store.claim("k", now=1000, ttl_seconds=60, note="exec-1").first
    second = store.claim("k", now=1010, ttl_seconds=60, note="exec-2")
    assert not second.first and second.note == "exec-1"
    assert store.claim("k", now=2000, ttl_seconds=60, note="exec-3").first  # expired: free again
    store.release("k")
    assert store.claim("k", now=2001, ttl_seconds=60).first


def test_dynamodb_store_maps_a_missing_table_to_a_configuration_error(aws: dict[str, Any]) -> None:
    from openflow_autopilot.errors import ConfigurationError

    store = DynamoDbIdempotencyStore(aws["dynamodb"], "no-such-table")
    with pytest.raises(ConfigurationError, match="idempotency table does not exist"):
        store.claim("k", now=0, ttl_seconds=60)


def test_a_jira_issue_outside_the_configured_site_starts_but_gets_no_comment_url(aws: dict[str, Any]) -> None:
    h = Harness(aws, jira_base_url="https://other.atlassian.net")
    body, headers = jira_event()
    assert h.post("/jira", body, headers)["json"]["status"] == "started"
    [execution] = h.executions()
    assert json.loads(execution["input"])["origin"]["comment_url"] is None
