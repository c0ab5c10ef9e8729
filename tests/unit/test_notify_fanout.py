"""The notifier's fan-out beyond the topics: the run's origin (a ticket comment, a Slack
response_url) hears the outcome, approvals reach Slack with buttons, and a target that fails
never fails the run."""

from __future__ import annotations

import json
import logging
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from fakes import Opener
from moto import mock_aws

from openflow_autopilot import notify
from openflow_autopilot.config import parse_request
from openflow_autopilot.steps.provision import validate
from openflow_autopilot.triggers.replies import OriginSettings, console_url
from openflow_autopilot.triggers.slack import APPROVE_ACTION, REJECT_ACTION

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:openflow-autopilot-Provision:github-sales-cdc-1"
CONSOLE = (
    "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
    f"#/v2/executions/details/{EXECUTION}"
)
WEBHOOK_SECRET = "openflow-autopilot/webhook"
GITHUB_ORIGIN = {
    "system": "github",
    "delivery_id": "72d3162e-cc78-11e3",
    "ref": "acme/platform#42",
    "url": "https://github.com/acme/platform/issues/42",
    "comment_url": "https://api.github.com/repos/acme/platform/issues/42/comments",
}
RESPONSE_URL = "https://hooks.slack.com/commands/T1/2/abc"
SLACK_ORIGIN = {"system": "slack", "ref": "slack:U0ADMIN", "user_id": "U0ADMIN", "response_url": RESPONSE_URL}


@pytest.fixture
def request_dict() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "events/provision/request.yaml").read_text())
    data["aws"]["region"] = REGION
    data["notifications"] = []
    return data


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        client.create_secret(
            Name=WEBHOOK_SECRET,
            SecretString=json.dumps(
                {"github_token": "ghp_token", "jira_token": "jira-api-token", "jira_user": "bot@acme.example"}
            ),
        )
        yield client


SETTINGS = OriginSettings(webhook_secret_id=WEBHOOK_SECRET, jira_base_url="https://acme.atlassian.net")


def succeeded(request: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    return {"state": {"request": request, "phases": {}, "origin": origin}, "execution": EXECUTION}


def failed(request: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    cause = json.dumps(
        {"errorMessage": "RDS instance sales-db is not available (call: rds) Fix: start it", "errorType": "X"}
    )
    state = {
        "request": request,
        "phases": {"SnowflakePrerequisites": {"status": "unchanged", "actions": []}},
        "origin": origin,
        "error": {"Error": "SourceNotReady", "Cause": cause},
    }
    return {"state": state, "execution": "manual-run"}


# --- outcomes back where the run came from ---------------------------------------------------------
def test_a_ticket_started_run_gets_its_outcome_as_a_comment_with_a_console_link(
    request_dict: dict[str, Any], secrets: Any
) -> None:
    opener = Opener()
    note = notify.send(
        succeeded(request_dict, GITHUB_ORIGIN),
        default_topic_arn=None,
        secrets=secrets,
        settings=SETTINGS,
        opener=opener,
    )
    [req] = opener.requests
    assert req.full_url == GITHUB_ORIGIN["comment_url"]
    assert req.get_header("Authorization") == "Bearer ghp_token"
    body = json.loads(req.data)["body"]
    assert body.startswith("**Openflow Autopilot: sales-cdc SUCCEEDED**")
    assert f"Console: {CONSOLE}" in body and "What next:" in body
    assert note.delivered_to == ["github comment (acme/platform#42)"]


def test_a_failure_comment_on_jira_carries_the_diagnosis_and_what_to_do(
    request_dict: dict[str, Any], secrets: Any
) -> None:
    jira = {
        "system": "jira",
        "delivery_id": "d-1",
        "ref": "PLAT-7",
        "comment_url": "https://acme.atlassian.net/rest/api/2/issue/10002/comment",
    }
    opener = Opener()
    notify.send(
        failed(request_dict, jira), default_topic_arn=None, secrets=secrets, settings=SETTINGS, opener=opener
    )
    [req] = opener.requests
    assert req.get_header("Authorization").startswith("Basic ")  # the API token with the account's e-mail
    body = json.loads(req.data)["body"]
    assert body.startswith("*Openflow Autopilot: sales-cdc FAILED in Deployment*")  # Jira's bold
    assert "RDS instance sales-db is not available" in body and "Fix: start it" in body
    assert "start the workflow again" in body


def test_a_slack_started_run_hears_back_on_its_response_url(request_dict: dict[str, Any]) -> None:
    opener = Opener()
    note = notify.send(
        succeeded(request_dict, SLACK_ORIGIN), default_topic_arn=None, settings=SETTINGS, opener=opener
    )
    [req] = opener.requests
    assert req.full_url == RESPONSE_URL
    payload = json.loads(req.data)
    assert payload["response_type"] == "ephemeral"
    assert payload["text"].startswith("*Openflow Autopilot: sales-cdc SUCCEEDED*")
    assert CONSOLE in payload["text"]
    assert note.delivered_to == ["slack response_url (slack:U0ADMIN)"]


def test_a_github_token_never_goes_outside_the_configured_api(
    request_dict: dict[str, Any], secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    forged = {**GITHUB_ORIGIN, "comment_url": "https://collector.example/repos/acme/platform/issues/42"}
    opener = Opener()
    with caplog.at_level(logging.WARNING, logger="openflow_autopilot.triggers"):
        note = notify.send(
            succeeded(request_dict, forged),
            default_topic_arn=None,
            secrets=secrets,
            settings=SETTINGS,
            opener=opener,
        )
    assert opener.requests == [] and note.delivered_to == []
    assert any(r.getMessage() == "could not report back to the run's origin" for r in caplog.records)


def test_a_local_github_api_is_accepted_only_when_configured(
    request_dict: dict[str, Any], secrets: Any
) -> None:
    local = {
        **GITHUB_ORIGIN,
        "comment_url": "http://127.0.0.1:8080/gh/repos/acme/platform/issues/42/comments",
    }
    opener = Opener()
    notify.send(
        succeeded(request_dict, local),
        default_topic_arn=None,
        secrets=secrets,
        settings=SETTINGS,
        opener=opener,
    )
    assert opener.requests == []  # plain http is refused by default
    settings = OriginSettings(webhook_secret_id=WEBHOOK_SECRET, github_api_url="http://127.0.0.1:8080/gh")
    notify.send(
        succeeded(request_dict, local),
        default_topic_arn=None,
        secrets=secrets,
        settings=settings,
        opener=opener,
    )
    assert [r.full_url for r in opener.requests] == [local["comment_url"]]


def test_an_unreachable_ticket_system_does_not_fail_the_notification(
    request_dict: dict[str, Any], secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    opener = Opener(fail=urllib.error.URLError("connection refused"))
    with caplog.at_level(logging.WARNING, logger="openflow_autopilot.triggers"):
        note = notify.send(
            succeeded(request_dict, GITHUB_ORIGIN),
            default_topic_arn=None,
            secrets=secrets,
            settings=SETTINGS,
            opener=opener,
        )
    assert note.status == "SUCCEEDED" and note.delivered_to == []
    [record] = [r for r in caplog.records if r.getMessage() == "could not report back to the run's origin"]
    assert record.__dict__["error"] == "URLError" and "sales-cdc" not in str(record.__dict__)


def test_a_missing_token_skips_the_comment(request_dict: dict[str, Any], secrets: Any) -> None:
    snow = {
        "system": "servicenow",
        "delivery_id": "x@1",
        "ref": "INC0010001",
        "comment_url": "https://acme.service-now.com/api/now/table/incident/abc",
    }
    opener = Opener()
    note = notify.send(
        succeeded(request_dict, snow),
        default_topic_arn=None,
        secrets=secrets,
        settings=SETTINGS,
        opener=opener,
    )
    assert opener.requests == [] and note.delivered_to == []


def test_a_response_url_that_is_not_slack_gets_nothing(request_dict: dict[str, Any]) -> None:
    forged = {**SLACK_ORIGIN, "response_url": "https://collector.example/x"}
    opener = Opener()
    note = notify.send(
        succeeded(request_dict, forged), default_topic_arn=None, settings=SETTINGS, opener=opener
    )
    assert opener.requests == [] and note.delivered_to == []


def test_a_run_without_an_origin_posts_nowhere_else(request_dict: dict[str, Any]) -> None:
    opener = Opener()
    event = {"state": {"request": request_dict, "phases": {}}, "execution": EXECUTION}
    note = notify.send(event, default_topic_arn=None, settings=SETTINGS, opener=opener)
    assert opener.requests == [] and note.delivered_to == []
    assert f"Console: {CONSOLE}" in note.text


# --- a pause that needs a human ---------------------------------------------------------------------
def test_an_approval_reaches_slack_with_approve_and_reject_buttons(
    request_dict: dict[str, Any], secrets: Any
) -> None:
    hook = secrets.create_secret(
        Name="openflow-autopilot/team-slack", SecretString="https://hooks.slack.com/services/T1/B2/xyz"
    )["ARN"]
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="stack")["TopicArn"]
    request_dict["notifications"] = [{"slack_webhook_secret_arn": hook}]
    opener = Opener()
    delivered = notify.send_action_needed(
        parse_request(request_dict),
        subject="Openflow Autopilot: sales-cdc is waiting for your approval (reboot)",
        text="RDS instance sales-db must reboot.",
        default_topic_arn=topic,
        sns=sns,
        approval_id="AbC123",
        secrets=secrets,
        origin=SLACK_ORIGIN,
        settings=SETTINGS,
        opener=opener,
    )
    assert delivered == [topic, f"slack webhook ({hook})", "slack response_url (slack:U0ADMIN)"]
    assert [r.full_url for r in opener.requests] == [
        "https://hooks.slack.com/services/T1/B2/xyz",
        RESPONSE_URL,
    ]
    for body in opener.bodies():
        buttons = body["blocks"][1]["elements"]
        assert [(b["action_id"], b["value"]) for b in buttons] == [
            (APPROVE_ACTION, "AbC123"),
            (REJECT_ACTION, "AbC123"),
        ]
        assert "must reboot" in body["blocks"][0]["text"]["text"] and "must reboot" in body["text"]


def test_a_template_request_reaches_slack_as_plain_text(request_dict: dict[str, Any], secrets: Any) -> None:
    opener = Opener()
    notify.send_action_needed(
        parse_request(request_dict),
        subject="Openflow Autopilot: sales-cdc needs the deployment template",
        text="Upload it to s3://bucket/templates/X.yaml",
        default_topic_arn=None,
        origin=SLACK_ORIGIN,
        settings=SETTINGS,
        opener=opener,
    )
    [body] = opener.bodies()
    assert "blocks" not in body and "Upload it" in body["text"]


def test_a_slack_webhook_that_cannot_be_read_does_not_stop_the_pause(
    request_dict: dict[str, Any], secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/gone-AbCdEf"
    request_dict["notifications"] = [{"slack_webhook_secret_arn": missing}]
    with caplog.at_level(logging.WARNING):
        delivered = notify.send_action_needed(
            parse_request(request_dict),
            subject="s",
            text="t",
            default_topic_arn=None,
            approval_id="AbC123",
            secrets=secrets,
            opener=Opener(),
        )
    assert delivered == []
    assert any(r.getMessage() == "could not post to the Slack webhook" for r in caplog.records)


# --- pieces --------------------------------------------------------------------------------------------
def test_the_console_link_follows_the_execution_arn() -> None:
    assert console_url(EXECUTION) == CONSOLE
    cn = "arn:aws-cn:states:cn-north-1:123456789012:execution:m:e"
    assert console_url(cn) == (
        f"https://cn-north-1.console.amazonaws.cn/states/home?region=cn-north-1#/v2/executions/details/{cn}"
    )
    assert console_url("manual-run") is None and console_url(None) is None


def test_settings_default_to_the_webhook_secret_under_the_secrets_prefix() -> None:
    settings = OriginSettings.from_environ({"SECRETS_PREFIX": "team-a/"})
    assert settings.webhook_secret_id == "team-a/webhook"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.slack_response_url_prefixes == ("https://hooks.slack.com/",)
    custom = OriginSettings.from_environ(
        {
            "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hooks-AbCdEf",
            "GITHUB_API_URL": "https://ghe.acme.example/api/v3/",
            "SLACK_RESPONSE_URL_PREFIXES": "https://hooks.slack.com/, http://127.0.0.1:9/fake/slack/",
        }
    )
    assert custom.webhook_secret_id.endswith("hooks-AbCdEf")
    assert custom.github_api_url == "https://ghe.acme.example/api/v3"
    assert custom.slack_response_url_prefixes == (
        "https://hooks.slack.com/",
        "http://127.0.0.1:9/fake/slack/",
    )


def test_validate_keeps_the_origin_for_the_notifier(request_dict: dict[str, Any]) -> None:
    assert validate({"request": request_dict, "origin": GITHUB_ORIGIN})["origin"] == GITHUB_ORIGIN
    assert "origin" not in validate({"request": request_dict})


def test_without_a_configured_jira_site_the_jira_token_is_never_sent(
    request_dict: dict[str, Any], secrets: Any
) -> None:
    jira = {
        "system": "jira",
        "delivery_id": "d-1",
        "ref": "PLAT-7",
        "comment_url": "https://attacker.example/rest/api/2/issue/10002/comment",
    }
    opener = Opener()
    for settings in (OriginSettings(webhook_secret_id=WEBHOOK_SECRET), SETTINGS):
        notify.send(
            failed(request_dict, jira),
            default_topic_arn=None,
            secrets=secrets,
            settings=settings,
            opener=opener,
        )
    assert opener.requests == []
