"""The Slack side of the webhook: signed slash commands get an immediate acknowledgement and at most
one asynchronous job; approval buttons resume a paused execution once, and only for approvers."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from fakes import Opener
from moto import mock_aws

from openflow_autopilot.approvals import create_approval
from openflow_autopilot.cost.records import PowerRecord, append_record
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.jobs import run_job
from openflow_autopilot.triggers.models import JOB_EVENT_KEY, Job
from openflow_autopilot.triggers.slack import (
    APPROVE_ACTION,
    REJECT_ACTION,
    approval_blocks,
    post_to_response_url,
)
from openflow_autopilot.triggers.store import MemoryIdempotencyStore
from openflow_autopilot.triggers.verify import slack_signature
from openflow_autopilot.triggers.webhook import handle, lambda_entry

REGION = "us-east-1"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TS = NOW.timestamp()
ADMIN, STRANGER = "U0ADMIN", "U0STRANGER"
RESPONSE_URL = "https://hooks.slack.com/commands/T1/2/abc"
BUCKET = "artifacts-bucket"
DEPLOYMENT = "SALES_CDC_DEPLOYMENT"
REQUEST_YAML = open("events/provision/request.yaml", encoding="utf-8").read()  # noqa: SIM115
PASS = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})


def config(**overrides: Any) -> WebhookConfig:
    values: dict[str, Any] = {
        "provision_state_machine_arn": f"arn:aws:states:{REGION}:123456789012:stateMachine:provision",
        "power_state_machine_arn": f"arn:aws:states:{REGION}:123456789012:stateMachine:power",
        "artifact_bucket": BUCKET,
        "webhook_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",
        "slack_allowed_users": ADMIN,
        "default_deployment": DEPLOYMENT,
        "function_name": "webhook",
    }
    return WebhookConfig.model_validate(values | overrides)


class Secrets:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, secret_id: str) -> dict[str, str]:
        self.calls += 1
        return {"slack_signing_secret": SECRET}


class Harness:
    def __init__(self, cfg: WebhookConfig | None = None, **deps: Any) -> None:
        self.config = cfg or config()
        self.jobs: list[Job] = []
        self.secrets = Secrets()
        self.opener = Opener(status=200, body=b"ok")
        defaults: dict[str, Any] = {
            "secret_provider": self.secrets,
            "dispatch": self.jobs.append,
            "store": MemoryIdempotencyStore(),
            "opener": self.opener,
            "clock": lambda: TS,
        }
        self.deps = WebhookDeps(self.config, **(defaults | deps))
        self.commands = 0

    def post(
        self, path: str, body: bytes, *, headers: dict[str, str] | None = None, b64: bool = False
    ) -> dict[str, Any]:
        event = {
            "rawPath": path,
            "headers": headers if headers is not None else signed(body),
            "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8", "surrogateescape"),
            "isBase64Encoded": b64,
            "requestContext": {"http": {"method": "POST"}},
        }
        return handle(event, config=self.config, deps=self.deps)

    def command(self, text: str, user: str = ADMIN) -> dict[str, Any]:
        # Slack gives every invocation its own trigger_id (a repeated one is a replay).
        self.commands += 1
        trigger = f"13345224609.738474920.{self.commands:031d}"
        return self.post("/slack/commands", command_body(text, user, trigger=trigger))

    def run(self, job: Job) -> Any:
        return run_job(job, config=self.config, deps=self.deps)


def signed(body: bytes, secret: str = SECRET, ts: float = TS) -> dict[str, str]:
    stamp = str(int(ts))
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": slack_signature(secret, stamp, body),
    }


def command_body(
    text: str, user: str = ADMIN, trigger: str = "13345224609.738474920.8088930838d88f008e0"
) -> bytes:
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0001",
        "channel_id": "C2147483705",
        "user_id": user,
        "user_name": "steve",
        "command": "/openflow",
        "text": text,
        "response_url": RESPONSE_URL,
        "trigger_id": trigger,
    }
    return urllib.parse.urlencode(fields).encode()


def ack_text(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


# --- verification through the handler ----------------------------------------------------------
def test_the_documented_slack_example_is_accepted_end_to_end() -> None:
    # The body of Slack's own example, verified at its own time: an empty text means help.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    h = Harness()
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    event = {
        "rawPath": "/slack/commands",
        "headers": headers,
        "body": body.decode(),
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST"}},
    }
    response = handle(event, config=h.config, deps=h.deps, now=1531420618 + 5)
    assert "`/webhook-collect setup <request-name>`" in ack_text(response)
    assert h.jobs == []


def test_wrong_secret_is_401_and_starts_nothing(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    body = command_body("stop")
    with caplog.at_level(logging.WARNING, logger="openflow_autopilot.triggers"):
        response = h.post("/slack/commands", body, headers=signed(body, secret="not-the-secret"))
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"error": "unauthorized"}
    assert h.jobs == []
    record = next(r for r in caplog.records if r.getMessage() == "webhook request rejected")
    assert record.reason == "bad signature"  # type: ignore[attr-defined]
    logged = " ".join(f"{k}={v}" for k, v in record.__dict__.items())
    assert SECRET not in logged and "not-the-secret" not in logged and "response_url" not in logged


def test_stale_timestamp_is_401() -> None:
    h = Harness()
    body = command_body("stop")
    response = h.post("/slack/commands", body, headers=signed(body, ts=TS - 301))
    assert response["statusCode"] == 401 and h.jobs == []


def test_missing_headers_are_401() -> None:
    h = Harness()
    assert h.post("/slack/commands", command_body("stop"), headers={})["statusCode"] == 401
    assert h.jobs == []


def test_body_altered_by_one_byte_is_401() -> None:
    h = Harness()
    body = command_body("status")
    headers = signed(body)
    tampered = body.replace(b"status", b"statuz")
    assert h.post("/slack/commands", tampered, headers=headers)["statusCode"] == 401


def test_one_megabyte_body_is_413_without_reading_the_secret() -> None:
    h = Harness()
    body = b"text=" + b"a" * (1024 * 1024)
    assert h.post("/slack/commands", body, headers=signed(body))["statusCode"] == 413
    assert h.post("/slack/commands", body, headers=signed(body), b64=True)["statusCode"] == 413
    assert h.secrets.calls == 0 and h.jobs == []


def test_non_utf8_body_is_401_unsigned_and_400_signed_never_500() -> None:
    h = Harness()
    body = b"command=%2Fopenflow&text=\xff\xfe&user_id=U0ADMIN"
    assert h.post("/slack/commands", body, headers=signed(b"other"), b64=True)["statusCode"] == 401
    response = h.post("/slack/commands", body, b64=True)
    assert response["statusCode"] == 400 and h.jobs == []


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes() -> None:
    h = Harness()
    assert "Stopping" in ack_text(h.post("/slack/commands", command_body("stop"), b64=True))


def test_unknown_path_and_wrong_method() -> None:
    h = Harness()
    assert h.post("/admin", b"")["statusCode"] == 404
    event = {"rawPath": "/github", "headers": {}, "body": "", "requestContext": {"http": {"method": "GET"}}}
    assert handle(event, config=h.config, deps=h.deps)["statusCode"] == 405
    assert h.secrets.calls == 0


def test_an_unavailable_secret_is_503_and_nothing_starts() -> None:
    def broken(_: str) -> dict[str, str]:
        raise RuntimeError("secretsmanager down: value=hunter2")

    h = Harness(secret_provider=broken)
    response = h.command("stop")
    assert response["statusCode"] == 503 and "hunter2" not in response["body"] and h.jobs == []


# --- commands -----------------------------------------------------------------------------------
def test_unknown_command_answers_with_an_error_line_and_the_help() -> None:
    h = Harness()
    text = ack_text(h.command("frobnicate now"))
    assert text.startswith(":warning: Unknown command `frobnicate`.")
    assert "`/openflow extend <hours> [deployment]`" in text
    assert h.jobs == []


def test_help_and_empty_text_show_the_help() -> None:
    h = Harness()
    for text in ("help", ""):
        assert "`/openflow status [deployment]`" in ack_text(h.command(text))
    assert h.jobs == []


def test_user_text_echoed_back_is_escaped() -> None:
    h = Harness()
    assert "&lt;!channel&gt;" in ack_text(h.command("<!channel>"))


def test_setup_acknowledges_and_hands_the_work_to_a_job() -> None:
    h = Harness()
    text = ack_text(h.command("setup sales-cdc"))
    assert "`requests/sales-cdc.yaml`" in text
    [job] = h.jobs
    assert (job.kind, job.request_name, job.user_id, job.response_url) == (
        "setup",
        "sales-cdc",
        ADMIN,
        RESPONSE_URL,
    )
    assert job.requested_at == NOW


@pytest.mark.parametrize("text", ["setup", "setup Sales_CDC", "setup a b"])
def test_setup_needs_one_valid_request_name(text: str) -> None:
    h = Harness()
    assert "`setup` needs one request name" in ack_text(h.command(text))
    assert h.jobs == []


@pytest.mark.parametrize("text", ["setup sales-cdc", "stop", "start", "extend 2"])
def test_changing_commands_are_refused_for_users_off_the_allow_list(text: str) -> None:
    h = Harness()
    assert "not on the allow-list" in ack_text(h.command(text, user=STRANGER))
    assert h.jobs == []


def test_read_only_commands_are_open_to_everyone() -> None:
    h = Harness()
    ack_text(h.command("status", user=STRANGER))
    ack_text(h.command("cost", user=STRANGER))
    assert [j.kind for j in h.jobs] == ["status", "cost"]


@pytest.mark.parametrize("hours", ["abc", "0", "-1", "500", "2 days", ""])
def test_extend_with_bad_hours_says_what_it_needs(hours: str) -> None:
    h = Harness()
    text = ack_text(h.command(f"extend {hours}".strip()))
    assert "`extend` needs a number of hours between 0.25 and 168" in text
    assert "e.g. `/openflow extend 2`" in text
    assert h.jobs == []


def test_extend_uses_the_default_deployment_or_the_named_one() -> None:
    h = Harness()
    ack_text(h.command("extend 2"))
    ack_text(h.command("extend 1.5h other_dep"))
    ack_text(h.command("extend 3 hours other_dep"))
    assert [(j.kind, j.hours, j.deployment) for j in h.jobs] == [
        ("extend", 2.0, DEPLOYMENT),
        ("extend", 1.5, "OTHER_DEP"),
        ("extend", 3.0, "OTHER_DEP"),
    ]


def test_a_bad_deployment_name_is_refused() -> None:
    h = Harness()
    assert "is not a deployment name" in ack_text(h.command("stop x;drop"))
    assert h.jobs == []


def test_without_a_default_deployment_stop_asks_for_one_and_status_covers_all() -> None:
    h = Harness(config(default_deployment=None))
    assert "name the deployment" in ack_text(h.command("stop"))
    ack_text(h.command("status"))
    assert [(j.kind, j.deployment) for j in h.jobs] == [("status", None)]


def test_a_failed_dispatch_still_answers_slack_in_time() -> None:
    def broken(job: Job) -> None:
        raise RuntimeError("lambda unavailable")

    h = Harness(dispatch=broken)
    assert "Could not start" in ack_text(h.command("stop"))


def test_the_default_dispatch_invokes_this_function_asynchronously() -> None:
    class FakeLambda:
        calls: list[dict[str, Any]] = []

        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return {"StatusCode": 202}

    fake = FakeLambda()
    h = Harness(lambda_client=fake, dispatch=None)
    ack_text(h.command("stop"))
    [call] = fake.calls
    assert call["FunctionName"] == "webhook" and call["InvocationType"] == "Event"
    job = json.loads(call["Payload"])[JOB_EVENT_KEY]
    assert job["kind"] == "stop" and job["deployment"] == DEPLOYMENT


# --- jobs (the asynchronous side) ---------------------------------------------------------------
@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = "arn:aws:iam::123456789012:role/sfn"
        arns = {
            name: sfn.create_state_machine(name=name, definition=PASS, roleArn=role)["stateMachineArn"]
            for name in ("provision", "power")
        }
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield {"sfn": sfn, "s3": s3, **arns}


def executions(sfn: Any, arn: str) -> list[dict[str, Any]]:
    found = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in found]


def slack_job(kind: str, **fields: Any) -> Job:
    base = {"requested_at": NOW, "response_url": RESPONSE_URL, "user_id": ADMIN, "trigger_id": "trig-1"}
    return Job.model_validate(base | {"kind": kind} | fields)


@pytest.mark.parametrize("action", ["stop", "start"])
def test_stop_and_start_run_the_power_workflow_once_per_command(aws: dict[str, Any], action: str) -> None:
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    job = slack_job(action, deployment=DEPLOYMENT)
    result = h.run(job)
    h.run(job)  # a retried invocation of the same job
    [execution] = executions(aws["sfn"], aws["power"])
    assert json.loads(execution["input"]) == {
        "deployment": DEPLOYMENT,
        "action": action,
        "now": "2026-03-02T09:00:00Z",
        "reason": f"slack:{ADMIN}",
    }
    assert result.ok and result.posted
    assert h.opener.posts[0][0] == RESPONSE_URL and DEPLOYMENT in h.opener.posts[0][1]["text"]


def test_extend_asks_the_power_workflow_to_keep_running_until_a_time(aws: dict[str, Any]) -> None:
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    h.run(slack_job("extend", deployment=DEPLOYMENT, hours=2.5))
    [execution] = executions(aws["sfn"], aws["power"])
    payload = json.loads(execution["input"])
    assert payload["action"] == "extend" and payload["hours"] == 2.5
    assert payload["until"] == "2026-03-02T11:30:00Z"
    assert "until 2026-03-02T11:30:00Z" in h.opener.posts[0][1]["text"]


def test_setup_loads_the_request_by_name_and_starts_provisioning(aws: dict[str, Any]) -> None:
    aws["s3"].put_object(Bucket=BUCKET, Key="requests/sales-cdc.yaml", Body=REQUEST_YAML.encode())
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    result = h.run(slack_job("setup", request_name="sales-cdc"))
    [execution] = executions(aws["sfn"], aws["provision"])
    payload = json.loads(execution["input"])
    assert payload["request"]["name"] == "sales-cdc"
    assert payload["origin"] == {
        "system": "slack",
        "ref": f"slack:{ADMIN}",
        "user_id": ADMIN,
        "response_url": RESPONSE_URL,
    }
    assert execution["name"].startswith("slack-sales-cdc-") and len(execution["name"]) <= 80
    assert result.ok and ":rocket:" in result.text


def test_setup_with_a_missing_request_file_says_where_to_upload_it(aws: dict[str, Any]) -> None:
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    result = h.run(slack_job("setup", request_name="nope"))
    assert not result.ok and "no `requests/nope.yaml`" in result.text and "aws s3 cp" in result.text
    assert executions(aws["sfn"], aws["provision"]) == []


def test_setup_with_an_invalid_request_names_the_fields_and_starts_nothing(aws: dict[str, Any]) -> None:
    def loader(name: str) -> dict[str, Any]:
        return {"name": name, "snowflake": {"account": "nodash"}, "aws": {"region": "mars-1"}}

    h = Harness(sfn=aws["sfn"], s3=aws["s3"], request_loader=loader)
    result = h.run(slack_job("setup", request_name="broken"))
    for field in ("`snowflake.account`", "`aws.region`", "`openflow`", "`source`"):
        assert field in result.text
    assert executions(aws["sfn"], aws["provision"]) == []


def test_status_describes_the_latest_runs_of_the_deployment(aws: dict[str, Any]) -> None:
    sfn = aws["sfn"]
    sfn.start_execution(stateMachineArn=aws["power"], name="other", input=json.dumps({"deployment": "OTHER"}))
    sfn.start_execution(
        stateMachineArn=aws["power"], name="mine", input=json.dumps({"deployment": DEPLOYMENT})
    )
    h = Harness(sfn=sfn, s3=aws["s3"])
    result = h.run(slack_job("status", deployment=DEPLOYMENT))
    assert f"*Latest runs for `{DEPLOYMENT}`*" in result.text
    assert "power `mine`" in result.text and "`other`" not in result.text
    assert "No provisioning or power runs" in h.run(slack_job("status", deployment="NOBODY")).text


def test_status_adds_the_watchs_last_runs(aws: dict[str, Any]) -> None:
    from openflow_autopilot.watch import store
    from openflow_autopilot.watch.models import Finding, WatchRun

    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    assert "the watch has not run yet" in h.run(slack_job("status", deployment=DEPLOYMENT)).text
    stalled = Finding(kind="slot_stalled", severity="warning", message="slot s has not advanced")
    store.save_run(
        aws["s3"],
        BUCKET,
        WatchRun(deployment=DEPLOYMENT, at=NOW, mode="on", findings=[stalled], severity="warning"),
    )
    text = h.run(slack_job("status", deployment=DEPLOYMENT)).text
    assert "*Watch*" in text and f"{DEPLOYMENT}: warning" in text and "slot s has not advanced" in text


def test_cost_reports_the_month_so_far_from_power_records(aws: dict[str, Any]) -> None:
    for at, action in ((NOW - timedelta(days=5), "start"), (NOW - timedelta(days=4), "stop")):
        append_record(
            aws["s3"], BUCKET, "power-records", PowerRecord(deployment=DEPLOYMENT, action=action, at=at)
        )
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    text = h.run(slack_job("cost", deployment=DEPLOYMENT)).text
    assert f"*Cost of `{DEPLOYMENT}`, 2026-03 so far*" in text and "saved $" in text


def test_cost_without_records_gives_the_always_on_estimate(aws: dict[str, Any]) -> None:
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    text = h.run(slack_job("cost", deployment=DEPLOYMENT)).text
    assert "No on/off records" in text and "$774.249" in text


def test_lambda_entry_runs_a_job_event(aws: dict[str, Any]) -> None:
    h = Harness(sfn=aws["sfn"], s3=aws["s3"])
    event = {JOB_EVENT_KEY: slack_job("reply", text="hello").model_dump(mode="json")}
    result = lambda_entry(event, config=h.config, deps=h.deps)
    assert result["posted"] and h.opener.posts == [
        (RESPONSE_URL, {"response_type": "ephemeral", "text": "hello"})
    ]


def test_response_url_must_be_slack() -> None:
    opener = Opener(status=200, body=b"ok")
    with pytest.raises(InvalidRequest):
        post_to_response_url("https://attacker.example/x", {"text": "hi"}, opener=opener)
    assert post_to_response_url(RESPONSE_URL, {"text": "hi"}, opener=opener) == 200
    assert opener.posts == [(RESPONSE_URL, {"text": "hi"})]


# --- approval buttons -----------------------------------------------------------------------------
class RecordingSfn:
    """Counts task-token calls (the real client's exceptions are attached for the except clauses)."""

    def __init__(self) -> None:
        self.exceptions = boto3.client("stepfunctions", region_name=REGION).exceptions
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send_task_success(self, **kwargs: Any) -> None:
        self.calls.append(("success", kwargs))

    def send_task_failure(self, **kwargs: Any) -> None:
        self.calls.append(("failure", kwargs))


def interaction_body(approval_id: str, user: str, action: str = APPROVE_ACTION) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone"},
        "response_url": "https://hooks.slack.com/actions/T1/1/xyz",
        "actions": [{"action_id": action, "value": approval_id, "type": "button"}],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture
def approval(aws: dict[str, Any]) -> str:
    created = create_approval(
        aws["s3"],
        bucket=BUCKET,
        kind="reboot",
        request_name="sales-cdc",
        execution="arn:aws:states:us-east-1:123456789012:execution:provision:run-1",
        task_token="TASK-TOKEN-NEVER-IN-SLACK",
        text="Reboot sales-db to apply wal_level=logical?",
    )
    return created.id


def press(h: Harness, approval_id: str, user: str, action: str = APPROVE_ACTION) -> Any:
    response = h.post("/slack/interactions", interaction_body(approval_id, user, action))
    assert response["statusCode"] == 200 and response["body"] == ""
    job = h.jobs[-1]
    return h.run(job)


def test_a_user_off_the_allow_list_pressing_approve_resumes_nothing(
    aws: dict[str, Any], approval: str
) -> None:
    sfn = RecordingSfn()
    h = Harness(sfn=sfn, s3=aws["s3"])
    result = press(h, approval, STRANGER)
    assert sfn.calls == []
    assert "not on the approvers list" in result.text
    assert h.jobs[-1].kind == "reply"
    # nothing was resolved: an approver can still decide
    assert "Approved" in press(h, approval, ADMIN).text


def test_an_approval_sends_the_task_token_once_and_the_second_click_is_told(
    aws: dict[str, Any], approval: str
) -> None:
    sfn = RecordingSfn()
    h = Harness(sfn=sfn, s3=aws["s3"])
    first = press(h, approval, ADMIN)
    second = press(h, approval, ADMIN, REJECT_ACTION)
    assert [c[0] for c in sfn.calls] == ["success"]
    assert sfn.calls[0][1]["taskToken"] == "TASK-TOKEN-NEVER-IN-SLACK"
    assert first.text.startswith(":white_check_mark: Approved by <@U0ADMIN>")
    assert h.opener.posts[0][1]["replace_original"] is True
    assert "already handled" in second.text and f"approved by slack:{ADMIN}" in second.text
    assert h.opener.posts[1][1]["response_type"] == "ephemeral"
    for job in h.jobs:
        assert "TASK-TOKEN" not in job.model_dump_json()


def test_reject_fails_the_paused_task(aws: dict[str, Any], approval: str) -> None:
    sfn = RecordingSfn()
    h = Harness(sfn=sfn, s3=aws["s3"])
    assert "Rejected" in press(h, approval, ADMIN, REJECT_ACTION).text
    assert [c[0] for c in sfn.calls] == ["failure"]


def test_an_unknown_approval_id_is_explained(aws: dict[str, Any]) -> None:
    h = Harness(sfn=RecordingSfn(), s3=aws["s3"])
    assert "no approval abc123 is waiting" in press(h, "abc123", ADMIN).text


def test_other_interactions_are_acknowledged_and_ignored() -> None:
    h = Harness()
    payload = {"type": "view_submission", "user": {"id": ADMIN}}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    assert h.post("/slack/interactions", body)["statusCode"] == 200
    assert h.jobs == []


def test_approval_buttons_carry_the_id_not_the_token() -> None:
    blocks = approval_blocks("abc123", "Reboot sales-db?")
    buttons = blocks[1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (APPROVE_ACTION, "abc123"),
        (REJECT_ACTION, "abc123"),
    ]


def test_slacks_certificate_check_is_answered_with_an_empty_200() -> None:
    h = Harness()
    response = h.post("/slack/commands", b"ssl_check=1&token=abc")
    assert (response["statusCode"], response["body"]) == (200, "") and h.jobs == []
