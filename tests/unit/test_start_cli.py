"""`openflow-autopilot start`: validates first, then starts the deployed state machine once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from openflow_autopilot_cli import main as cli

REQUEST = Path(__file__).resolve().parents[2] / "events" / "provision" / "request.yaml"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        region = yaml.safe_load(REQUEST.read_text())["aws"]["region"]
        sfn = boto3.client("stepfunctions", region_name=region)
        iam = boto3.client("iam", region_name=region)
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        arn = sfn.create_state_machine(name="provision", definition=PASS, roleArn=role)["stateMachineArn"]
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ProvisionStateMachineArn": {"Value": arn}},
        }
        cfn = boto3.client("cloudformation", region_name=region)
        cfn.create_stack(StackName="openflow-autopilot", TemplateBody=json.dumps(template))
        yield {"sfn": sfn, "arn": arn}


def test_start_validates_then_starts_one_execution_with_the_request(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["start", "-c", str(REQUEST), "--name", "sales-1"]) == 0
    out = capsys.readouterr().out
    [execution] = deployed["sfn"].list_executions(stateMachineArn=deployed["arn"])["executions"]
    assert out.strip() == f"started: {execution['executionArn']}"
    given = json.loads(deployed["sfn"].describe_execution(executionArn=execution["executionArn"])["input"])
    assert given["request"]["name"] == yaml.safe_load(REQUEST.read_text())["name"]

    # the same name again (a retried command) does not start a second execution
    assert cli.main(["start", "-c", str(REQUEST), "--name", "sales-1"]) == 0
    assert execution["executionArn"] in capsys.readouterr().out
    assert len(deployed["sfn"].list_executions(stateMachineArn=deployed["arn"])["executions"]) == 1


def test_a_bad_request_names_the_field_and_starts_nothing(
    deployed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(REQUEST.read_text())
    data["aws"]["region"] = "mars-1"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert cli.main(["start", "-c", str(bad)]) == 2
    assert "aws.region" in capsys.readouterr().err
    assert deployed["sfn"].list_executions(stateMachineArn=deployed["arn"])["executions"] == []


def test_a_wrong_stack_name_says_which_option_fixes_it(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["start", "-c", str(REQUEST), "--stack", "nope"]) == 2
    assert "--stack" in capsys.readouterr().err
