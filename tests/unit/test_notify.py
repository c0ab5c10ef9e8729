"""The notifier: a message a human can act on, delivered to the stack's topic and the request's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from openflow_autopilot import notify

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def request_dict() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "events/provision/request.yaml").read_text())
    data["aws"]["region"] = "us-east-1"
    data["notifications"] = []
    return data


def lambda_cause(error_type: str, message: str) -> str:
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []})


def test_a_failure_names_the_phase_the_error_and_the_fix(request_dict: dict[str, Any]) -> None:
    event = {
        "state": {
            "request": request_dict,
            "phases": {},
            "error": {
                "Error": "PermissionDenied",
                "Cause": lambda_cause(
                    "PermissionDenied",
                    "Snowflake refused: Insufficient privileges (call: snowflake: CREATE ROLE X) "
                    "Fix: grant it",
                ),
            },
        },
        "execution": "arn:aws:states:us-east-1:123456789012:execution:m:e1",
    }
    note, _ = notify.build(event)
    assert note.status == "FAILED"
    assert note.diagnosis is not None
    assert note.diagnosis.phase == "SnowflakePrerequisites"
    assert note.diagnosis.error == "PermissionDenied"
    assert "CREATE ROLE X" in note.diagnosis.message
    assert "start the workflow again" in note.text and "Fix: grant it" in note.text
    assert note.subject == "Openflow Autopilot: sales-cdc FAILED in SnowflakePrerequisites"


def test_an_invalid_request_is_reported_as_failing_validation_even_without_a_parsable_request() -> None:
    event = {
        "state": {
            "request": {"name": "broken"},
            "error": {"Error": "InvalidRequest", "Cause": lambda_cause("InvalidRequest", "aws.region: bad")},
        }
    }
    note, request = notify.build(event)
    assert request is None
    assert note.request_name == "broken"
    assert note.diagnosis is not None and note.diagnosis.phase == "Validate"


def test_a_success_lists_each_phase_with_its_action_count_and_notes(request_dict: dict[str, Any]) -> None:
    phases = {
        "SnowflakePrerequisites": {
            "status": "changed",
            "actions": [{"kind": "create_role"}],
            "notes": ["default role changed"],
        }
    }
    note, _ = notify.build({"state": {"request": request_dict, "phases": phases}})
    assert note.status == "SUCCEEDED" and note.diagnosis is None
    assert "SnowflakePrerequisites: changed, 1 action(s)" in note.text
    assert "default role changed" in note.text


@mock_aws
def test_the_message_is_published_to_the_stack_topic_and_the_request_topics(
    request_dict: dict[str, Any],
) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    stack_topic = sns.create_topic(Name="stack")["TopicArn"]
    team_topic = sns.create_topic(Name="team")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=team_topic, Protocol="sqs", Endpoint=queue_arn)
    request_dict["notifications"] = [{"sns_topic_arn": team_topic}]

    note = notify.send(
        {"state": {"request": request_dict, "phases": {}}}, default_topic_arn=stack_topic, sns=sns
    )

    assert note.delivered_to == [stack_topic, team_topic]
    body = json.loads(sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"])
    delivered = json.loads(body["Message"])
    assert delivered["status"] == "SUCCEEDED" and delivered["request_name"] == "sales-cdc"
