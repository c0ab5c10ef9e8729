"""The watch end to end in the sandbox: after one provisioning run, the rehearsal's runs against the
real state machine, PostgreSQL and the Snowflake emulation; what it published, stored and shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from openflow_autopilot.watch import store
from openflow_autopilot_cli import main as cli
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import REGION, Sandbox
from openflow_sandbox.watch_rehearsal import connector_name, rehearse, runtime_name

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def provisioned() -> Iterator[tuple[Sandbox, dict[str, Any]]]:
    with Sandbox() as sandbox:
        request = sandbox.request()
        report = run_provisioning(sandbox, request, name="watch")
        assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
        yield sandbox, request


def _topic_messages(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return messages
        messages += [json.loads(json.loads(m["Body"])["Message"]) for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def test_the_watch_heals_a_failed_connector_alerts_once_per_change_and_shows_its_runs(
    provisioned: tuple[Sandbox, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, request = provisioned
    assert sandbox.app is not None
    topic = sandbox.app.resources["NotificationTopic"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="watch-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    runs = {run.step: run for run in rehearse(sandbox, request)}

    assert all(run.report.status == "SUCCEEDED" for run in runs.values())
    # the heal: STOP then START, and the connector runs again; the heartbeat arrived in that run
    failed = runs["connector START_FAILED"].outcome
    assert failed["heals"] == ["STOP then START"] and failed["heartbeat_seconds"] is not None
    assert sandbox.snowflake.state.connectors[tuple(connector_name(request).split("."))].status == "RUNNING"  # type: ignore[index]
    # alerts: one per change, none for a repeat, one "resolved" per recovery, as SNS delivered them
    sent = [run.outcome["alerts_sent"] for run in runs.values()]
    assert sent == [0, 1, 1, 0, 1, 1, 0, 1, 0, 1], sent
    delivered = [m for m in _topic_messages(queue) if m.get("workflow") == "watch"]
    assert [m["subject"].split("]")[0] + "]" for m in delivered] == [
        "[warning]",
        "[resolved]",
        "[warning]",
        "[resolved]",
        "[critical]",
        "[resolved]",
    ]
    # the runtime's heal: RESUME RECOVERY, with DESCRIBE's message and the event table's ERROR line
    assert runs["runtime ACTIVATE_FAILED"].outcome["heals"] == ["RESUME RECOVERY"]
    assert sandbox.snowflake.state.runtimes[tuple(runtime_name(request).split("."))].status == "ACTIVE"  # type: ignore[index]
    assert "did not become ready" in delivered[2]["text"] and "readiness probe failed" in delivered[2]["text"]
    critical = delivered[4]
    assert "slot_stalled" in critical["subject"] and "wal_budget" in critical["subject"]
    assert "To do:" in critical["text"] and "watch status" in critical["text"]
    # the heal's alert says what DESCRIBE's status_message said
    assert "Processor failed to start" in delivered[0]["text"]

    # stored: one record per run, the newest last; the CLI shows them
    stored = store.last_runs(
        boto3.client("s3", region_name=REGION),
        sandbox.artifact_bucket,
        request["openflow"]["deployment_name"],
        limit=50,
    )
    assert len(stored) == len(runs) and stored[-1].severity == "ok"
    config = tmp_path / "request.yaml"
    config.write_text(yaml.safe_dump(request))
    args = ["watch", "status", "-c", str(config), "--bucket", sandbox.artifact_bucket, "--region", REGION]
    assert cli.main([*args, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["runs"]) == 10 and shown["runs"][1]["heals"][0].startswith("STOP then START")
    assert len(shown["retained_wal_bytes"]) == 10
    assert shown["runs"][4]["heals"][0].startswith("RESUME RECOVERY")
    assert cli.main(args) == 0
    assert "SALES_CDC_DEPLOYMENT: ok" in capsys.readouterr().out
