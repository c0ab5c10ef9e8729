"""The webhook function served on a local HTTP port (`openflow-autopilot sandbox serve`), driven by
real HTTP clients: signed Slack commands start provisioning, unsigned ones start nothing, an
approver's button resumes a paused run exactly once, a GitHub delivery sent twice starts one run
whose result is commented back on the issue.

One sandbox for the module (starting one takes seconds). The simulated engineer does not approve,
so a run that needs the source database rebooted waits at AwaitRebootApproval for the button.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from openflow_sandbox.environment import REGION, Sandbox
from openflow_sandbox.webhook_server import APPROVER, REQUEST_NAME, WebhookServer

pytestmark = pytest.mark.sandbox

STRANGER = "U0STRANGER"
RUN_SECONDS = 300  # a whole provisioning run in the sandbox takes well under a minute


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(human_approves=False) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def server(sb: Sandbox) -> Iterator[WebhookServer]:
    with WebhookServer(sb) as srv:
        yield srv


def sfn() -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


def executions(sb: Sandbox) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = sfn().list_executions(stateMachineArn=sb.provision_arn)["executions"]
    return listed


def replies(server: WebhookServer, path: str) -> list[str]:
    return [m["payload"]["text"] for m in server.slack_messages if m["path"] == path]


def entered(arn: str) -> list[str]:
    events = sfn().get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def finished(arn: str) -> str | None:
    status = str(sfn().describe_execution(executionArn=arn)["status"])
    return None if status == "RUNNING" else status


def response_path(body: bytes) -> str:
    """Where the server records what the function posts to this request's response_url."""
    fields = urllib.parse.parse_qs(body.decode())
    url = (
        fields["response_url"][0]
        if "response_url" in fields
        else json.loads(fields["payload"][0])["response_url"]
    )
    return urllib.parse.urlsplit(url).path


@pytest.fixture(scope="module")
def slack_setup(sb: Sandbox, server: WebhookServer) -> dict[str, Any]:
    """`/openflow setup sales-cdc` from the approver, over HTTP; the run it starts."""
    body, headers = server.slack_command(f"setup {REQUEST_NAME}")
    status, ack = server.post("/slack/commands", body, headers)
    path = response_path(body)
    [started] = wait_for("the setup job's reply", lambda: replies(server, path))
    [run] = wait_for("the execution", lambda: executions(sb))
    return {"status": status, "ack": ack, "reply": started, "run": run, "response_path": path}


def test_a_signed_slack_command_over_http_starts_provisioning(slack_setup: dict[str, Any]) -> None:
    assert slack_setup["status"] == 200
    assert slack_setup["ack"]["text"] == f"Reading `requests/{REQUEST_NAME}.yaml` and starting provisioning…"
    run = slack_setup["run"]
    assert slack_setup["reply"].startswith(":rocket: Provisioning `sales-cdc`")
    assert f"execution `{run['name']}`" in slack_setup["reply"]
    payload = json.loads(sfn().describe_execution(executionArn=run["executionArn"])["input"])
    assert payload["request"]["name"] == REQUEST_NAME
    assert payload["origin"]["system"] == "slack" and payload["origin"]["user_id"] == APPROVER


def test_unsigned_and_badly_signed_requests_get_401_and_start_nothing(
    sb: Sandbox, server: WebhookServer, slack_setup: dict[str, Any]
) -> None:
    before = {e["name"] for e in executions(sb)}
    body, headers = server.slack_command(f"setup {REQUEST_NAME}")
    unsigned = {"Content-Type": headers["Content-Type"]}
    wrong_secret = server.slack_command(f"setup {REQUEST_NAME}", secret="not-the-secret")[1]
    stale = server.slack_command(f"setup {REQUEST_NAME}", at=time.time() - 600)[1]
    for label, (sent, hdrs) in {
        "unsigned": (body, unsigned),
        "wrong secret": (body, wrong_secret),
        "stale timestamp": (body, stale),
        "body altered by one byte": (body.replace(b"setup", b"setuq"), headers),
    }.items():
        status, answer = server.post("/slack/commands", sent, hdrs)
        assert (status, answer) == (401, {"error": "unauthorized"}), label
    gh_body, gh_headers = server.github_issue_labeled(sb.request(), delivery_id="forged-1")
    forged = {**gh_headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert server.post("/github", gh_body, forged)[0] == 401
    time.sleep(1)  # a job, had one been dispatched, would have started by now
    assert {e["name"] for e in executions(sb)} == before
    assert replies(server, response_path(body)) == []


def test_an_approvers_button_resumes_the_paused_run_exactly_once(
    sb: Sandbox, server: WebhookServer, slack_setup: dict[str, Any]
) -> None:
    assert sb.human is not None
    arn = slack_setup["run"]["executionArn"]
    note = wait_for(
        "the approval request",
        lambda: next((m for m in sb.human.messages if m.get("approval_id")), None),  # type: ignore[union-attr]
        timeout=RUN_SECONDS,
    )
    approval_id = note["approval_id"]
    assert "AwaitRebootApproval" in entered(arn) and finished(arn) is None

    # Someone not on the allow-list: told so, nothing resumes.
    body, headers = server.slack_button(approval_id, user=STRANGER)
    assert server.post("/slack/interactions", body, headers)[0] == 200
    [refused] = wait_for("the refusal", lambda: replies(server, response_path(body)))
    assert "not on the approvers list" in refused
    assert "RebootSource" not in entered(arn)

    body, headers = server.slack_button(approval_id)
    assert server.post("/slack/interactions", body, headers)[0] == 200
    [approved] = wait_for("the approval reply", lambda: replies(server, response_path(body)))
    assert approved.startswith(f":white_check_mark: Approved by <@{APPROVER}>")
    wait_for("the run to resume", lambda: "RebootSource" in entered(arn))

    body, headers = server.slack_button(approval_id)
    assert server.post("/slack/interactions", body, headers)[0] == 200
    [again] = wait_for("the second click's reply", lambda: replies(server, response_path(body)))
    assert "already handled" in again and f"slack:{APPROVER}" in again
    assert entered(arn).count("RebootSource") == 1

    # The outcome goes back to the Slack command that started the run.
    status = wait_for("the run to end", lambda: finished(arn), timeout=RUN_SECONDS)
    outcome = wait_for(
        "the outcome on the command's response_url",
        lambda: [
            t for t in replies(server, slack_setup["response_path"]) if "Openflow Autopilot: sales-cdc" in t
        ],
    )
    assert f"sales-cdc {status}" in outcome[0] and "console.aws.amazon.com/states/home" in outcome[0]


def test_a_github_delivery_sent_twice_starts_one_run_and_the_result_is_commented_on_the_issue(
    sb: Sandbox, server: WebhookServer
) -> None:
    body, headers = server.github_issue_labeled(
        sb.request(source__allow_reboot=True), delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958"
    )
    first_status, first = server.post("/github", body, headers)
    second_status, second = server.post("/github", body, headers)  # GitHub's redelivery
    assert (first_status, first["status"]) == (202, "started")
    assert (second_status, second) == (200, {"status": "duplicate", "execution": first["execution"]})
    runs = [e for e in executions(sb) if e["name"].startswith("github-")]
    assert [e["name"] for e in runs] == [first["execution"]]

    def comments() -> list[str]:
        return [
            c["body"] for c in server.github_comments if c["path"] == "/repos/acme/data/issues/7/comments"
        ]

    wait_for("the 'started' comment", lambda: [c for c in comments() if "started provisioning" in c])
    status = wait_for("the run to end", lambda: finished(runs[0]["executionArn"]), timeout=RUN_SECONDS)
    [final] = wait_for("the result comment", lambda: [c for c in comments() if c.startswith("**Openflow")])
    assert final.startswith(f"**Openflow Autopilot: sales-cdc {status}")
    assert "console.aws.amazon.com/states/home" in final and runs[0]["name"] in final
    assert len(comments()) == 2  # "started" once (not per delivery) and the result


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_posts_the_ready_signed_command_the_serve_banner_prints(server: WebhookServer) -> None:
    out = subprocess.run(["bash", "-c", server.curl("help")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "`/openflow setup <request-name>`" in json.loads(out.stdout)["text"]
    if shutil.which("openssl"):
        fresh = subprocess.run(
            ["bash", "-c", server.curl_fresh("help")], capture_output=True, text=True, timeout=30
        )
        assert "`/openflow status [deployment]`" in json.loads(fresh.stdout)["text"], fresh.stderr
