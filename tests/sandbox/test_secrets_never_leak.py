"""No secret value ever leaves the places secrets live.

One sandbox runs the whole demo: a provisioning run (the demo's seed scenario), the power
rehearsal's scheduled stop and next morning's start, the weekly digest, then webhook calls over HTTP
(a signed Slack slash command, a signed Jira delivery, badly signed Slack, GitHub and ServiceNow
requests, and a GitHub issue delivery whose run fails at the source on a wrong password, the failure
commented back on the issue), then two CLI commands.

The secret values are read from where they really live (every Secrets Manager secret in moto, the
Snowflake secrets the connector phase created, the source's master password, the Snowflake login
tokens the functions were issued); the outputs are everything the workflow wrote or said (every
function log line, Python logging, every execution's input, output and history, every Lambda
invocation's event and result, every notification and reply, every S3 object, the demo's report and
summary, the CLI's output, schedules, function environments and stack outputs). No secret (nor any
line of a private key's PEM) may appear in any of them. A failure names the source and shows a short
context with the secret masked, never the secret itself.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from rich.console import Console

from openflow_autopilot.triggers.verify import hub_signature, servicenow_signature
from openflow_autopilot_cli import main as cli
from openflow_autopilot_cli.executions import build_report, history
from openflow_sandbox.demo import SCENARIOS, print_summary, run_provisioning
from openflow_sandbox.digest_rehearsal import rehearse_digest
from openflow_sandbox.environment import REGION, SOURCE_INSTANCE, Sandbox
from openflow_sandbox.power_rehearsal import rehearse
from openflow_sandbox.webhook_server import GITHUB_LABEL, JIRA_WEBHOOK_SECRET, WebhookServer

pytestmark = pytest.mark.sandbox

MIN_SECRET = 8  # shorter strings (empty passwords, "sandbox") would match by accident
MIN_PEM_LINE = 16
# JSON keys in a secret whose values name things rather than being secret.
NOT_SECRET_KEYS = {"user", "username", "host", "port", "dbname", "database", "engine", "account", "role"}
REQUIRED_KINDS = {"password", "private key", "passphrase", "signing secret"}


# --- the secrets ------------------------------------------------------------------------------------
@dataclass
class Secret:
    value: str
    kind: str
    origin: str  # where it lives (never the value)


@dataclass
class Secrets:
    items: list[Secret] = field(default_factory=list)

    def add(self, value: Any, kind: str, origin: str) -> None:
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) < MIN_SECRET:
            return
        self.items.append(Secret(value, kind, origin))
        if "-----BEGIN" in value and "PRIVATE KEY" in value:
            body = [ln.strip() for ln in value.splitlines() if ln.strip() and not ln.startswith("-----")]
            self.items.append(Secret("".join(body), kind, f"{origin} (PEM body without armour)"))
            for n, line in enumerate(body):
                if len(line) >= MIN_PEM_LINE:
                    self.items.append(Secret(line, kind, f"{origin} (PEM line {n + 1})"))

    def kinds(self) -> set[str]:
        return {s.kind for s in self.items}

    def needles(self) -> dict[str, Secret]:
        """Every form a secret could take in text: as is, JSON-escaped, URL-encoded."""
        forms: dict[str, Secret] = {}
        for secret in self.items:
            for form in (
                secret.value,
                json.dumps(secret.value)[1:-1],
                urllib.parse.quote_plus(secret.value),
                urllib.parse.quote(secret.value, safe=""),
            ):
                forms.setdefault(form, secret)
        return forms


def kind_of(key: str, value: str) -> str | None:
    k = key.lower()
    if k in NOT_SECRET_KEYS:
        return None
    if value.lstrip().startswith("-----BEGIN") or "private_key" in k:
        return "private key"
    if "passphrase" in k:
        return "passphrase"
    if "password" in k:
        return "password"
    if "signing_secret" in k or "webhook_secret" in k:
        return "signing secret"
    if "token" in k:
        return "token"
    return "secret"


def _leaves(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _leaves(v, path)
    elif isinstance(data, str):
        yield path, data


def collect_secrets(sandbox: Sandbox, issued_tokens: list[str]) -> Secrets:
    found = Secrets()
    sm = boto3.client("secretsmanager", region_name=REGION)
    for page in sm.get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            value = sm.get_secret_value(SecretId=entry["ARN"])
            text = value.get("SecretString")
            if text is None:
                found.add(base64.b64encode(value["SecretBinary"]).decode(), "secret", entry["Name"])
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                found.add(text, "secret", entry["Name"])  # a plain string secret (e.g. a webhook URL)
                continue
            if isinstance(data, str):
                found.add(data, "secret", entry["Name"])
            for key, leaf in _leaves(data):
                kind = kind_of(key, leaf)
                if kind is not None:
                    found.add(leaf, kind, f"{entry['Name']}:{key}")
    # The Snowflake secrets the connector phase created (what the runtime resolves references to).
    for name, snow in list(sandbox.snowflake.state.secrets.items()):
        label = ".".join(str(p) for p in name) if isinstance(name, tuple) else str(name)
        found.add(snow.password, "password", f"snowflake secret {label}")
        if snow.secret_string:
            text = snow.secret_string
            kind = "private key" if "PRIVATE KEY" in text else ("passphrase" if "PASS" in label else "secret")
            found.add(text, kind, f"snowflake secret {label}")
    # The source's master password as the (moto) RDS record holds it.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.rds.models import rds_backends

    instance = rds_backends[DEFAULT_ACCOUNT_ID][REGION].databases[SOURCE_INSTANCE]
    # moto's property refuses to return it, as RDS does; the stored value is what was set
    found.add(instance._master_user_password, "password", f"rds {SOURCE_INSTANCE} master password")
    for n, token in enumerate(issued_tokens):
        found.add(token, "token", f"snowflake login token #{n + 1}")
    return found


def record_snowflake_tokens(sandbox: Sandbox) -> list[str]:
    """The session tokens the emulation issues and the JWTs the functions log in with."""
    tokens: list[str] = []
    emulator = sandbox.snowflake

    class Recording(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            tokens.append(key)
            super().__setitem__(key, value)

    emulator._sessions = Recording(emulator._sessions)
    login = emulator.login

    def recording_login(body: Any, params: Any) -> dict[str, Any]:
        jwt = ((body or {}).get("data") or {}).get("TOKEN")
        if jwt:
            tokens.append(str(jwt))
        return login(body, params)

    emulator.login = recording_login  # type: ignore[method-assign]
    return tokens


# --- the outputs ------------------------------------------------------------------------------------
@dataclass
class Outputs:
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, source: str, where: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        self.texts.append((f"{source}: {where}", text))
        self.counts[source] = self.counts.get(source, 0) + 1


def _all_pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items.extend(page.get(key, []))
        if not page.get("nextToken"):
            return items
        kwargs["nextToken"] = page["nextToken"]


def collect_executions(out: Outputs) -> dict[str, int]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events_per_machine: dict[str, int] = {}
    for machine in _all_pages(sfn.list_state_machines, "stateMachines"):
        total = 0
        for ex in _all_pages(sfn.list_executions, "executions", stateMachineArn=machine["stateMachineArn"]):
            arn = ex["executionArn"]
            description = sfn.describe_execution(executionArn=arn)
            out.add("execution", f"{ex['name']} input", description.get("input") or "")
            out.add("execution", f"{ex['name']} output", description.get("output") or "")
            out.add("execution", f"{ex['name']} error", [description.get("error"), description.get("cause")])
            events = history(sfn, arn)
            for event in events:
                out.add("history event", f"{ex['name']} #{event['id']} {event['type']}", event)
            out.add("execution report", ex["name"], build_report(description, events).model_dump_json())
            total += len(events)
        events_per_machine[machine["name"]] = total
    return events_per_machine


def collect_s3(out: Outputs) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
                out.add("s3 object", f"s3://{bucket['Name']}/{obj['Key']}", body.decode("utf-8", "replace"))


def collect_configuration(out: Outputs, sandbox: Sandbox) -> None:
    """What else the workflow wrote down: function environments, schedules, stacks."""
    lam = boto3.client("lambda", region_name=REGION)
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            out.add("function environment", fn["FunctionName"], fn.get("Environment", {}))
    scheduler = boto3.client("scheduler", region_name=REGION)
    for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
        for item in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
            schedule = scheduler.get_schedule(GroupName=group["Name"], Name=item["Name"])
            out.add("schedule", item["Name"], schedule)
    cfn = boto3.client("cloudformation", region_name=REGION)
    for stack in cfn.describe_stacks()["Stacks"]:
        out.add("stack", stack["StackName"], stack)
        events = cfn.describe_stack_events(StackName=stack["StackName"])["StackEvents"]
        out.add("stack events", stack["StackName"], events)


# --- the check --------------------------------------------------------------------------------------
def _masked_context(text: str, at: int, length: int, width: int = 60) -> str:
    before = text[max(0, at - width) : at]
    after = text[at + length : at + length + width]
    return f"...{before}«SECRET»{after}..."


def find_leaks(secrets: Secrets, out: Outputs) -> list[tuple[str, str]]:
    """(where, what) for every occurrence of a secret in any form; `what` masks the secret."""
    needles = secrets.needles()
    every_form = [re.escape(n) for n in sorted(needles, key=len, reverse=True)]
    pattern = re.compile("|".join(every_form))
    leaks: list[tuple[str, str]] = []
    for where, text in out.texts:
        for match in pattern.finditer(text):
            secret = needles[match.group(0)]
            context = _masked_context(text, match.start(), len(match.group(0)))
            for other in needles:  # mask any other secret in the context too
                context = context.replace(other, "«SECRET»")
            leaks.append((where, f"{secret.kind} from {secret.origin} appears in {where}: {context}"))
    return leaks


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _replies(server: WebhookServer, path: str) -> list[str]:
    return [str(m["payload"].get("text", "")) for m in server.slack_messages if m["path"] == path]


def _response_path(body: bytes) -> str:
    url = urllib.parse.parse_qs(body.decode())["response_url"][0]
    return urllib.parse.urlsplit(url).path


def jira_issue_created(url: str) -> tuple[bytes, dict[str, str]]:
    """A signed Jira delivery for a labeled issue without a request document in it."""
    payload = {
        "webhookEvent": "jira:issue_created",
        "issue": {
            "key": "DATA-42",
            "self": f"{url}/fake/jira/rest/api/2/issue/10042",
            "fields": {"labels": [GITHUB_LABEL], "description": "Please set up Openflow for sales."},
        },
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": "jira-delivery-1",
        "X-Hub-Signature": hub_signature(JIRA_WEBHOOK_SECRET, body),
    }
    return body, headers


def wrong_source_login(sandbox: Sandbox, request: dict[str, Any]) -> dict[str, Any]:
    """The request with a source login whose password is wrong (a secret of its own, generated)."""
    import secrets as random

    sm = boto3.client("secretsmanager", region_name=REGION)
    value = {"username": request["source"]["replication_user"], "password": random.token_urlsafe(18)}
    arn = sm.create_secret(Name="openflow-autopilot/wrong-source-login", SecretString=json.dumps(value))[
        "ARN"
    ]
    return sandbox.request(**SCENARIOS["seed"], source__master_secret_arn=arn)


def drive_webhooks(sandbox: Sandbox, server: WebhookServer, request: dict[str, Any]) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    # A signed Slack slash command; the reply goes to its response_url.
    body, headers = server.slack_command("status")
    status, ack = server.post("/slack/commands", body, headers)
    assert status == 200, ack
    status_reply = wait_for("the status reply", lambda: _replies(server, _response_path(body)))

    # Badly signed requests: Slack with a wrong secret, GitHub forged, ServiceNow with a wrong HMAC.
    bad_body, _ = server.slack_command("setup sales-cdc")
    wrong = server.slack_command("setup sales-cdc", secret="not-the-signing-secret")[1]
    assert server.post("/slack/commands", bad_body, wrong) == (401, {"error": "unauthorized"})
    gh_body, gh_headers = server.github_issue_labeled(request, delivery_id="forged-delivery")
    forged = {**gh_headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert server.post("/github", gh_body, forged)[0] == 401
    sn_body = json.dumps({"number": "INC0010001", "short_description": "Provision Openflow"}).encode()
    sn_headers = {
        "Content-Type": "application/json",
        "X-ServiceNow-Signature": servicenow_signature("not-the-servicenow-secret", sn_body),
    }
    assert server.post("/servicenow", sn_body, sn_headers)[0] == 401

    # A signed Jira delivery (no request document in the issue), then a GitHub delivery whose run
    # fails at the source: its login is wrong, so the failure notice goes back to the issue.
    jira_status, jira_answer = server.post("/jira", *jira_issue_created(server.url))
    assert jira_status in (200, 202), jira_answer
    gh_body, gh_headers = server.github_issue_labeled(
        wrong_source_login(sandbox, request), delivery_id="a1b2c3d4-secrets-test"
    )
    gh_status, started = server.post("/github", gh_body, gh_headers)
    assert (gh_status, started["status"]) == (202, "started"), started
    arn = next(
        e["executionArn"]
        for e in sfn.list_executions(stateMachineArn=sandbox.provision_arn)["executions"]
        if e["name"] == started["execution"]
    )
    ended = wait_for(
        "the ticket's run to end",
        lambda: sfn.describe_execution(executionArn=arn)["status"].replace("RUNNING", ""),
        timeout=300,
    )
    result = wait_for(
        "the result comment on the issue",
        lambda: [c for c in server.github_comments if str(c["body"]).startswith("**Openflow")],
    )
    return {"status_reply": status_reply, "ticket_run": ended, "result_comment": result}


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_no_secret_appears_in_any_log_payload_history_notification_or_report(
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="openflow_autopilot")  # the domain's own debug lines too
    issued_tokens = record_snowflake_tokens(sandbox)
    assert sandbox.human is not None
    registry = sandbox.moto.registry

    # The demo: provisioning, its report and summary, then the power rehearsal's stop and start.
    request = sandbox.request(**SCENARIOS["seed"])
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    report = run_provisioning(sandbox, request, timeout_seconds=400)
    assert report.status == "SUCCEEDED", report.cause
    console = Console(file=io.StringIO(), width=160, record=True)
    print_summary(console, report, time.perf_counter() - t0)
    report_path = tmp_path / "demo-report.json"
    report_path.write_text(report.model_dump_json(indent=2))

    timings["provision"] = round(time.perf_counter() - t0, 1)
    rehearsal = rehearse(sandbox, request, sandbox.compute)
    timings["power"] = round(time.perf_counter() - t0, 1)
    assert [(r.action, r.report.status) for r in rehearsal.runs] == [
        ("stop", "SUCCEEDED"),
        ("start", "SUCCEEDED"),
    ], [r.report.cause for r in rehearsal.runs]
    # the weekly digest: its function reads the login secret, measures the week and notifies
    digest = rehearse_digest(sandbox, request)
    assert digest["status"] == "SENT", digest
    timings["digest"] = round(time.perf_counter() - t0, 1)

    # The webhook function over HTTP, and the CLI.
    with WebhookServer(sandbox) as server:
        webhooks = drive_webhooks(sandbox, server, request)
        slack_messages = list(server.slack_messages)
        github_comments = list(server.github_comments)
    timings["webhooks"] = round(time.perf_counter() - t0, 1)
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request))
    for name, value in sandbox.function_env().items():
        monkeypatch.setenv(name, value)
    cli_runs = [
        run_cli(capsys, ["plan", "-c", str(request_file)]),
        run_cli(capsys, ["cost", "--actual", "--bucket", sandbox.artifact_bucket, "--json"]),
    ]
    assert [code for code, _ in cli_runs] == [0, 0], [text[-500:] for _, text in cli_runs]
    time.sleep(1)  # the last notifications reach the engineer's inbox
    timings["cli"] = round(time.perf_counter() - t0, 1)

    # Where the secrets live.
    secrets = collect_secrets(sandbox, issued_tokens)
    assert secrets.items, "no secret values were found: the test would pass vacuously"
    assert secrets.kinds() >= REQUIRED_KINDS, sorted(secrets.kinds())
    assert issued_tokens, "the functions never logged in to Snowflake?"

    # Where output goes.
    out = Outputs()
    log_lines = list(registry.log_lines)
    for n, line in enumerate(log_lines):
        out.add("function log", f"line {n + 1}", line)
    formatter = logging.Formatter()
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    for record in records:
        text = f"{record.name} {record.levelname} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + formatter.formatException(record.exc_info)
        out.add("python logging", record.name, text)
    for inv in list(registry.invocations):
        out.add("lambda invocation", f"{inv.function_name} event", inv.event)
        out.add("lambda invocation", f"{inv.function_name} result", inv.result)
    events_per_machine = collect_executions(out)
    for n, note in enumerate(list(sandbox.human.messages)):
        out.add("notification", f"SNS message {n + 1}", note)
    for message in slack_messages:
        out.add("slack post", message["path"], message["payload"])
    for comment in github_comments:
        out.add("github comment", comment["path"], comment)
    collect_s3(out)
    out.add("demo report", str(report_path), report_path.read_text())
    out.add("demo summary", "console", console.export_text())
    for run in rehearsal.runs:
        out.add("power report", run.action, run.report.model_dump_json())
        out.add("power outcome", run.action, run.outcome)
    out.add("power rehearsal", "schedules", rehearsal.schedules)
    out.add("digest", "rehearsal", digest)
    for n, (_, text) in enumerate(cli_runs):
        out.add("cli output", f"command {n + 1}", text)
    rest = capsys.readouterr()
    out.add("captured stdout/stderr", "test", rest.out + rest.err)
    collect_configuration(out, sandbox)

    # The collection is real.
    assert len(log_lines) > 50, len(log_lines)
    assert any("schedules finished" in line for line in log_lines), log_lines[:5]
    ran = {
        machine: n for machine, n in events_per_machine.items() if not machine.endswith("WatchStateMachine")
    }
    assert len(ran) == 2 and all(n > 50 for n in ran.values()), events_per_machine
    assert len(sandbox.human.messages) >= 2, "the success and the failure notices reach the engineer's inbox"
    assert webhooks["status_reply"] and webhooks["result_comment"], webhooks
    assert webhooks["ticket_run"] == "FAILED", webhooks  # on the wrong source password, as intended
    assert "SourcePreflight" in webhooks["result_comment"][0]["body"], webhooks
    keys = [where for where, _ in out.texts if where.startswith("s3 object: ")]
    assert any("/power-records/" in k for k in keys) and any("/approvals/" in k for k in keys), keys
    assert all(text.strip() for _, text in cli_runs), cli_runs

    # The detector finds what it looks for: each kind, and a private key's PEM line, planted.
    planted = Outputs()
    for kind in sorted(secrets.kinds()):
        example = next(s for s in secrets.items if s.kind == kind)
        planted.add("planted", kind, json.dumps({"message": f"oops {example.value} here"}))
    pem_line = next(s for s in secrets.items if "(PEM line" in s.origin)
    planted.add("planted", "pem line", f"key material: {pem_line.value}")
    assert {where for where, _ in find_leaks(secrets, planted)} == {where for where, _ in planted.texts}

    leaks = find_leaks(secrets, out)
    distinct = {s.origin.split(" (")[0] for s in secrets.items}
    print(
        f"secrets: {len(distinct)} values ({len(secrets.items)} forms incl. PEM lines), kinds "
        f"{ {k: len({s.origin for s in secrets.items if s.kind == k}) for k in sorted(secrets.kinds())} }; "
        f"outputs checked: {len(out.texts)} {out.counts}; history events {events_per_machine}; "
        f"function log lines {len(log_lines)}; python log records {len(records)}; "
        f"notifications {len(sandbox.human.messages)}; slack posts {len(slack_messages)}; "
        f"github comments {len(github_comments)}; s3 objects {len(keys)}; "
        f"timings {timings}"
    )
    assert not leaks, f"{len(leaks)} secret occurrence(s):\n" + "\n".join(what for _, what in leaks[:40])
