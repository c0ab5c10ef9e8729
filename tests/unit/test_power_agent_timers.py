"""Deep sleep's first agent step: the timers stopped over SSM before the instance, each verified."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.agent.collect import TIMERS_MARK
from openflow_autopilot.power.agent import agent_reached, set_agent, stop_timers, timers_stopped
from openflow_autopilot.power.openflow import Poll


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        instance = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "openflow-agent-k1"}]}
            ],
        )["Instances"][0]["InstanceId"]
        yield {"ec2": ec2, "ssm": boto3.client("ssm", region_name="us-east-1"), "instance": instance}


def test_the_timers_script_is_sent_to_the_agent_and_its_success_is_checked(aws: dict[str, Any]) -> None:
    sent = stop_timers(aws["ec2"], aws["ssm"], "k1")
    assert sent.status == "changed" and sent.outputs["instance_id"] == aws["instance"]
    [command] = aws["ssm"].list_commands(CommandId=sent.outputs["command_id"])["Commands"]
    script = command["Parameters"]["commands"][0]
    assert TIMERS_MARK in script
    assert "systemctl stop openflow-apply-infrastructure.timer openflow-sync-images.timer" in script
    assert command["InstanceIds"] == [aws["instance"]]
    assert "timers stopped" in timers_stopped(aws["ssm"], sent.outputs).notes[0]


def test_a_stopped_agent_gets_no_command(aws: dict[str, Any]) -> None:
    set_agent(aws["ec2"], "k1", want="stopped")
    result = stop_timers(aws["ec2"], aws["ssm"], "k1")
    assert result.status == "unchanged" and result.outputs["command_id"] is None
    assert aws["ssm"].list_commands()["Commands"] == []


class _FailedSsm:
    def get_command_invocation(self, **_kw: Any) -> dict[str, Any]:
        return {
            "Status": "Failed",
            "StatusDetails": "Failed",
            "ResponseCode": 1,
            "StandardOutputContent": "openflow-apply-infrastructure is still active\n",
        }

    def list_commands(self, **_kw: Any) -> dict[str, Any]:
        return {"Commands": [{"CommandId": "c-1"}]}


def test_timers_that_did_not_stop_stop_the_stop_with_what_the_script_said() -> None:
    with pytest.raises(PreconditionFailed, match="still active") as caught:
        timers_stopped(_FailedSsm(), {"command_id": "c-1", "instance_id": "i-0123456789abcdef0"})
    assert "management node group keep running" in (caught.value.fix or "")


def test_the_agent_is_polled_until_stopped(aws: dict[str, Any]) -> None:
    set_agent(aws["ec2"], "k1", want="stopped")
    poll = agent_reached(aws["ec2"], "k1", want="stopped", state=Poll(), max_checks=3)
    assert poll.done and poll.status == "stopped"
