"""`openflow-autopilot report EXECUTION_ARN`: the execution's Snowflake statements and connector
configurations from its artifacts; bad input is one line naming the fix, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.evidence.recording import recording
from openflow_autopilot.snowflake.login import recorded
from openflow_autopilot.snowflake.session import Sql
from openflow_autopilot_cli import main as cli

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
BUCKET = "openflow-autopilot-123456789012-us-east-1"
SECRET = "pem-body-do-not-print"
STAGE = "snow://openflow_connector/OPENFLOW.OPENFLOW.POSTGRES_CDC/versions/live/"


class _Cursor:
    description = [("STATUS",)]

    def execute(self, statement: str) -> None:
        pass

    def fetchall(self) -> list[tuple[str]]:
        return [("ok",)]


class _Connection:
    def cursor(self) -> _Cursor:
        return _Cursor()

    def close(self) -> None:
        pass


@contextmanager
def _session() -> Iterator[Sql]:
    yield Sql(_Connection())


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        role = boto3.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        machine = sfn.create_state_machine(name="provision", definition=PASS, roleArn=role)["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="sales-cdc-1", input="{}")["executionArn"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ArtifactBucketName": {"Value": BUCKET}},
        }
        boto3.client("cloudformation").create_stack(
            StackName="openflow-autopilot", TemplateBody=json.dumps(template)
        )
        (tmp_path / "config.json").write_text(
            json.dumps({"parameters": {"Publication Name": "openflow_pub"}})
        )
        with (
            recording({"execution": arn, "phase": "Connector"}, bucket=BUCKET, s3=lambda: s3),
            recorded(_session(), "ACCOUNTADMIN") as sql,
        ):
            sql.execute(
                "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.POSTGRES_CDC_SNOWFLAKE_KEY "
                f"TYPE = GENERIC_STRING SECRET_STRING = '{SECRET}'"
            )
            sql.execute(
                f"PUT 'file://{tmp_path}/config.json' '{STAGE}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE"
            )
            sql.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.POSTGRES_CDC COMMIT")
        yield {"arn": arn, "machine": machine}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["report", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_prints_each_statement_with_its_phase_role_and_the_configuration_written(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, deployed["arn"])
    assert code == 0
    assert out.splitlines()[0] == f"{deployed['arn']}: RUNNING"
    assert "Snowflake statements: 3" in out
    line = next(x for x in out.splitlines() if "CREATE OR REPLACE SECRET" in x)
    assert "Connector" in line and "ACCOUNTADMIN" in line and "SECRET_STRING = '***'" in line
    assert "OPENFLOW.OPENFLOW.POSTGRES_CDC live/: config.json, committed at" in out
    assert f"s3://{BUCKET}/executions/sales-cdc-1/snowflake/" in out
    assert SECRET not in out


def test_report_json_has_the_statements_and_configuration_versions(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, deployed["arn"], "--json", "--bucket", BUCKET)
    assert code == 0
    data = json.loads(out)
    assert [s["shape"] for s in data["snowflake_statements"]] == [
        "create-secret-generic-string",
        "put-connector-config",
        "alter-openflow-connector-commit",
    ]
    assert {s["phase"] for s in data["snowflake_statements"]} == {"Connector"}
    [version] = data["connector_config_versions"]
    assert version["config"] == {"parameters": {"Publication Name": "openflow_pub"}}
    assert SECRET not in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["not-an-arn"], "is not a Step Functions execution ARN"),
        (["arn:aws:states:us-east-1:123456789012:execution:provision:nope"], "does not exist"),
        (["{arn}", "--stack", "missing"], "stack missing does not exist"),
    ],
)
def test_bad_input_is_one_line_that_names_the_fix(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = _run(capsys, *[a.format(arn=deployed["arn"]) for a in argv])
    assert code == 2 and out == ""
    assert err.startswith("error: ") and expected in err and "Fix: " in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_credentials_and_an_unreachable_endpoint_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:provision:sales-cdc-1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key in (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    # a default session an earlier test created keeps the credentials it resolved: start afresh
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, _, err = _run(capsys, arn, "--bucket", BUCKET)
    assert code == 2 and "credentials were not found" in err and "aws configure" in err

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, _, err = _run(capsys, arn, "--bucket", BUCKET)
    assert code == 2 and "Could not reach http://127.0.0.1:9" in err and "AWS_ENDPOINT_URL" in err
    assert len(err.strip().splitlines()) == 1
