"""Every AWS-facing CLI command fails in one line with the fix, exit 2, never a traceback.

The failures are the real botocore ones: credentials and region are removed from the environment,
the endpoint is a closed local port, and AccessDenied / throttling answers are raised where botocore
makes every API call (`BaseClient._make_api_call`), so each command meets them through its own code.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from openflow_autopilot_cli import errors as cli_errors
from openflow_autopilot_cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
REQUEST = str(ROOT / "events" / "provision" / "request.yaml")
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ProvisionStateMachine-abc:sales-cdc-1"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

COMMANDS: dict[str, list[str]] = {
    "plan": ["plan", "-c", REQUEST],
    "start": ["start", "-c", REQUEST],
    "resume": ["resume", "0123456789abcdef", "--region", "us-east-1"],
    "rotate-key": ["rotate-key", "-c", REQUEST],
    "cost --actual": ["cost", "--actual", "--bucket", "b", "-c", REQUEST],
    "watch status": ["watch", "status", "-c", REQUEST],
    "report": ["report", EXECUTION, "--bucket", "b", "--region", "us-east-1"],
    "report --json": ["report", EXECUTION, "--json", "--bucket", "b", "--region", "us-east-1"],
    "watch status --json": ["watch", "status", "-c", REQUEST, "--json"],
    "teardown --yes --json": ["teardown", "-c", REQUEST, "--yes", "--json"],
    "doctor agent": ["doctor", "agent", "--instance-id", "i-0123456789abcdef0", "--region", "us-east-1"],
    "doctor agent --json": [
        "doctor",
        "agent",
        "--instance-id",
        "i-0123456789abcdef0",
        "--region",
        "us-east-1",
        "--json",
    ],
}


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv(cli_errors.DEBUG_VARIABLE, raising=False)
    # a default session an earlier test created keeps the credentials it resolved: start afresh
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return monkeypatch


@pytest.fixture
def credentials(no_aws: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    no_aws.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    no_aws.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    no_aws.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return no_aws


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_failure(code: int, out: str, err: str, argv: list[str], *words: str) -> None:
    assert code == 2
    assert "Traceback" not in out + err
    assert SECRET_KEY not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Fix:" in lines[0]
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    if "--json" in argv:
        payload = json.loads(out)
        assert payload["exit_code"] == 2 and payload["fix"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_missing_credentials_name_the_fix(
    name: str, no_aws: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_aws.setenv("AWS_DEFAULT_REGION", "us-east-1")
    argv = COMMANDS[name]
    assert_one_line_failure(*run(argv, capsys), argv, "credentials", "aws configure")


@pytest.mark.parametrize("name", ["resume", "doctor agent"])
def test_a_missing_region_names_the_fix(
    name: str, no_aws: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg for arg in COMMANDS[name] if arg not in ("--region", "us-east-1")]
    assert_one_line_failure(*run(argv, capsys), argv, "region", "AWS_DEFAULT_REGION")


def test_report_takes_its_region_from_the_execution_arn(
    no_aws: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", EXECUTION.replace("us-east-1", "eu-west-2"), "--bucket", "b"]
    code, out, err = run(argv, capsys)
    # Without --region the ARN's region is used, so the next thing missing is the credentials.
    assert_one_line_failure(code, out, err, argv, "credentials")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unreachable_endpoint_names_it(
    name: str, credentials: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    argv = COMMANDS[name]
    assert_one_line_failure(*run(argv, capsys), argv, "127.0.0.1:9", "network")


def _answer(code: str, status: int) -> Any:
    def make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        raise ClientError(
            {
                "Error": {"Code": code, "Message": f"User: arn:aws:iam::123456789012:user/x is {code}"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            operation_name,
        )

    return make_api_call


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("AccessDenied", 403, ("denied", "IAM")),
        ("AccessDeniedException", 400, ("denied", "IAM")),
        ("ThrottlingException", 400, ("throttled", "again")),
        ("Throttling", 400, ("throttled", "again")),
        ("ExpiredToken", 400, ("not valid", "sign in")),
        ("UnrecognizedClientException", 400, ("not valid", "sign in")),
        ("InternalFailure", 500, ("inside AWS", "again")),
    ],
)
def test_denied_throttled_expired_and_5xx_answers_are_one_line(
    name: str,
    code: str,
    status: int,
    words: tuple[str, ...],
    credentials: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    credentials.setattr(BaseClient, "_make_api_call", _answer(code, status))
    argv = COMMANDS[name]
    assert_one_line_failure(*run(argv, capsys), argv, *words)


def test_an_unexpected_failure_is_one_line_naming_the_debug_switch(
    credentials: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        raise KeyError(f"secret {SECRET_KEY} missing")

    credentials.setattr(BaseClient, "_make_api_call", broken)
    code, out, err = run(["plan", "-c", REQUEST], capsys)
    assert code == 2 and "Traceback" not in out + err and SECRET_KEY not in out
    assert "unexpected failure: KeyError" in err and cli_errors.DEBUG_VARIABLE in err
    assert SECRET_KEY not in err  # the type and the raising line, never the text
    assert "test_cli_errors.py:" in err  # the line that raised it


def test_the_debug_switch_shows_the_traceback(
    credentials: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials.setattr(BaseClient, "_make_api_call", _answer("ExpiredTokenException", 400))
    credentials.setenv(cli_errors.DEBUG_VARIABLE, "1")
    with pytest.raises(ClientError):
        cli.main(["plan", "-c", REQUEST])


def test_describe_masks_credentials_in_an_error_message() -> None:
    failure = cli_errors.describe(
        ClientError(
            {"Error": {"Code": "ValidationException", "Message": "bad https://u:p4ss@h.example/x?token=abc"}},
            "GetCostAndUsage",
        )
    )
    assert failure is not None
    assert "p4ss" not in failure.line() and "token=abc" not in failure.line()
    assert failure.message.startswith("GetCostAndUsage failed: ValidationException")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["cost", "--credit-price", "inf"], "credit price"),
        (["cost", "--credit-price", "nan"], "credit-price"),
        (["cost", "--credit-price", "1e400"], "credit price"),
        (["cost", "--credit-price", "0"], "credit price"),
        (["cost", "--credit-price", "-3"], "credit price"),
        (["cost", "--credit-price", "250"], "at most 100"),
        (["cost", "--month", "0001-01"], "2000-01"),
        (["cost", "--month", "9999-12"], "2999-12"),
        (["cost", "--month", "2026-13"], "YYYY-MM"),
        (["cost", "--month", "2026-3"], "YYYY-MM"),
        (["cost", "--month", "26-03"], "YYYY-MM"),
        (["cost", "--month", ""], "YYYY-MM"),
    ],
)
def test_cost_refuses_out_of_range_numbers_and_months(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*argv, "-c", REQUEST], capsys)
    assert code == 2 and "Traceback" not in err and out == ""
    assert words.lower() in err.lower()


@pytest.mark.parametrize("rate", ["1e300", "-1", "0", "Infinity"])
def test_cost_refuses_an_exchange_rate_out_of_range(
    rate: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"exchange_rates:\n  JPY: {{per_usd: {rate}, symbol: Y}}\n")
    code, _, err = run(["cost", "--prices", str(prices)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "exchange_rates.JPY.per_usd" in err


def test_a_closed_pipe_ends_quietly() -> None:
    # The reader is gone before the first write (as `cost | head -0`), so every write meets EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    command = [sys.executable, "-m", "openflow_autopilot_cli.main", "cost", "-c", REQUEST]
    try:
        writer = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert writer.stderr.decode() == ""
    assert writer.returncode == 141


def test_report_prints_a_json_error_even_when_it_fails_before_any_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["report", "not-an-arn", "--json"], capsys)
    assert code == 2 and json.loads(out)["error"] == "InvalidRequest"
    assert "execution ARN" in err


def test_stdout_of_a_json_failure_is_only_the_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["report", "not-an-arn", "--json"], capsys)
    assert code == 2
    assert json.load(io.StringIO(out))["message"]
