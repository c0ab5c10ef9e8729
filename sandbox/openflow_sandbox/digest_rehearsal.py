"""The weekly digest in the sandbox: the deployment's `-digest` schedule (created by the Schedules
phase) read back from moto's Scheduler, its input sent to PowerDigestFunction as the Scheduler would
send it at its next firing, with the week's usage seeded where Snowflake and AWS keep it
(measured_cost.py); the digest read back from an SQS queue subscribed to the stack's topic.

`rehearse_digest(sandbox, request)` is what the demo runs; it returns build/demo-report.json's
`digest`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from openflow_autopilot.config import parse_request
from openflow_autopilot.cost.period import week_before
from openflow_autopilot.power.digest import next_digest_at
from openflow_autopilot.power.scheduler_api import SCHEDULED_TIME, digest_schedule_name
from openflow_sandbox.measured_cost import seed_period

REGION = "us-east-1"


def _listen(sandbox: Any) -> str:
    """An SQS queue subscribed to the stack's notification topic (raw delivery: the message body)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(QueueName="sandbox-digests")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=sandbox.app.resources["NotificationTopic"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


def _digests(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    found = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        body = json.loads(message["Body"])
        if body.get("workflow") == "digest":
            found.append(body)
    return found


def scheduled_input(sandbox: Any, deployment: str, fired_at: datetime) -> dict[str, Any]:
    """The digest schedule's target input with the Scheduler's context attribute filled in."""
    schedule = boto3.client("scheduler", region_name=REGION).get_schedule(
        Name=digest_schedule_name(deployment), GroupName=f"{sandbox.app.stack_name}-power"
    )
    text = schedule["Target"]["Input"].replace(SCHEDULED_TIME, fired_at.astimezone(UTC).isoformat())
    data: dict[str, Any] = json.loads(text)
    return data


def rehearse_digest(
    sandbox: Any,
    request: dict[str, Any],
    *,
    after: datetime | None = None,
    loaded_until: datetime | None = None,
    seed_usage: bool = True,
) -> dict[str, Any]:
    """The digest the schedule sends at its first firing after `after` (default: now), whose week
    then holds the power rehearsal's records. `loaded_until`: usage an earlier seed already put in."""
    parsed = parse_request(request)
    fired = next_digest_at(parsed.digest, parsed.digest_timezone, after or datetime.now(UTC))
    week = week_before(fired)
    seeded = seed_period(sandbox, parsed, week, loaded_until=loaded_until) if seed_usage else None
    queue = _listen(sandbox)
    payload = scheduled_input(sandbox, parsed.openflow.deployment_name, fired)
    response = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=sandbox.app.resources["PowerDigestFunction"], Payload=json.dumps(payload)
    )
    result: dict[str, Any] = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        return {"status": "FAILED", "error": result.get("errorType"), "message": result.get("errorMessage")}
    received = _digests(queue)
    found: dict[str, Any] = {
        "status": "SENT",
        "fired_at": fired.isoformat(),
        "input": payload,
        "week": {"start": result["start"], "end": result["end"]},
        "subject": result["subject"],
        "hours_on": result["hours_on"],
        "hours_asleep": result["hours_asleep"],
        "stops": result["stops"],
        "starts": result["starts"],
        "measured": result["measured"],
        "measured_error": result["measured_error"],
        "modelled_usd": result["modelled_usd"],
        "recorded_usd": result["recorded_usd"],
        "always_on_usd": result["always_on_usd"],
        "saved_usd": result["saved_usd"],
        "saved_percent": result["saved_percent"],
        "wal_guard": [{"at": g["at"], "decision": g["decision"]} for g in result["guard"]],
        "delivered_to": result["delivered_to"],
        "received": [m["subject"] for m in received],
        "text": result["text"],
    }
    if seeded is not None:
        found["seeded"] = seeded.summary()
    return found
