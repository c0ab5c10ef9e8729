"""Collecting the agent's journals over SSM RunCommand, and the scripts it runs on the instance.

moto's SendCommand accepts any instance id and its GetCommandInvocation always answers Success with
empty output; the InvalidInstanceId case is the real service's answer, given with botocore's Stubber.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from openflow_autopilot.errors import AwsRetryableError, InvalidRequest, NotReadyYet, PreconditionFailed
from openflow_autopilot.openflow.agent.collect import (
    COLLECT_SCRIPT,
    RERUN_SCRIPT,
    InvocationStatus,
    S3Location,
    completed_invocation,
    invocation_status,
    output_key,
    read_output,
    send_collect,
    send_remediation_rerun,
)
from openflow_autopilot.openflow.agent.diagnose import diagnose
from openflow_autopilot.openflow.template.shellcheck import find_shellcheck

REGION = "ap-northeast-1"
BUCKET = "openflow-autopilot-output"
JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"
COMMAND = "0b7f2c9e-41d3-4a5e-9c1b-7e2d4f6a8b01"


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    """One moto account for the module (tests use their own commands): each setup costs ~0.3 s."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        # any AMI id does in moto; describing its image catalogue would cost a second per test
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium")
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield {
            "ssm": boto3.client("ssm", region_name=REGION),
            "s3": s3,
            "instance_id": instance["Instances"][0]["InstanceId"],
        }


def test_send_collect_runs_the_collection_script_with_aws_run_shell_script(aws: dict[str, Any]) -> None:
    command_id = send_collect(aws["ssm"], aws["instance_id"], output_bucket=BUCKET, output_prefix="health/")
    [command] = aws["ssm"].list_commands(CommandId=command_id)["Commands"]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["Parameters"]["commands"] == [COLLECT_SCRIPT]
    assert command["OutputS3BucketName"] == BUCKET and command["OutputS3KeyPrefix"] == "health"


def test_the_finished_invocation_is_done_and_points_at_its_stdout_in_the_output_bucket(
    aws: dict[str, Any],
) -> None:
    command_id = send_collect(aws["ssm"], aws["instance_id"], output_bucket=BUCKET, output_prefix="health")
    status = invocation_status(aws["ssm"], command_id, aws["instance_id"])
    assert status.done and status.output_available and status.status == "Success"
    assert status.output_s3 == S3Location(
        bucket=BUCKET,
        key=f"health/{command_id}/{aws['instance_id']}/awsrunShellScript/0.awsrunShellScript/stdout",
    )


def test_read_output_prefers_the_full_output_in_s3_over_the_inline_output(aws: dict[str, Any]) -> None:
    command_id = send_collect(aws["ssm"], aws["instance_id"], output_bucket=BUCKET, output_prefix="health")
    status = invocation_status(aws["ssm"], command_id, aws["instance_id"])
    assert status.output_s3 is not None
    aws["s3"].put_object(Bucket=BUCKET, Key=status.output_s3.key, Body=b"full output \xff from S3\n")
    assert read_output(aws["s3"], status) == "full output \ufffd from S3\n"


def test_read_output_falls_back_to_the_inline_output_with_a_note_when_s3_has_nothing(
    aws: dict[str, Any],
) -> None:
    command_id = send_collect(aws["ssm"], aws["instance_id"], output_bucket=BUCKET, output_prefix="health")
    status = invocation_status(aws["ssm"], command_id, aws["instance_id"]).model_copy(
        update={"inline_stdout": "inline journal"}
    )
    text = read_output(aws["s3"], status)
    assert text.startswith("inline journal\n")
    assert "==== note: full output not found at s3://" in text


def test_inline_output_at_ssms_limit_is_marked_truncated_for_the_diagnosis() -> None:
    status = InvocationStatus(
        command_id="c",
        instance_id="i-0123456789abcdef0",
        status="Success",
        status_details="Success",
        done=True,
        output_available=True,
        response_code=0,
        inline_stdout="x" * 24_000,
        inline_stderr="",
        output_s3=None,
    )
    text = read_output(None, status)
    assert "inline output truncated by SSM" in text
    assert any("truncated by SSM" in note for note in diagnose(text).notes)


def test_an_instance_not_registered_with_ssm_is_not_ready_yet(aws: dict[str, Any]) -> None:
    ssm = aws["ssm"]
    with Stubber(ssm) as stub:
        stub.add_client_error(
            "send_command",
            service_error_code="InvalidInstanceId",
            service_message="Instances [[i-0123456789abcdef0]] not in a valid state for account 123456789012",
            http_status_code=400,
        )
        with pytest.raises(NotReadyYet, match="not registered with SSM yet"):
            send_collect(ssm, "i-0123456789abcdef0", output_bucket=None)


def test_throttling_is_retryable_and_an_unknown_command_is_a_precondition(aws: dict[str, Any]) -> None:
    ssm = aws["ssm"]
    with Stubber(ssm) as stub:
        stub.add_client_error("send_command", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(AwsRetryableError):
            send_collect(ssm, aws["instance_id"], output_bucket=None)
    with pytest.raises(PreconditionFailed, match="does not know command"):
        invocation_status(ssm, "11111111-2222-3333-4444-555555555555", aws["instance_id"])


def test_right_after_sending_a_missing_invocation_is_not_ready_yet(aws: dict[str, Any]) -> None:
    command_id = send_collect(aws["ssm"], aws["instance_id"], output_bucket=None)
    with pytest.raises(NotReadyYet, match="not reached the agent instance yet"):
        invocation_status(aws["ssm"], command_id, "i-0fedcba9876543210")


def test_a_command_still_running_is_not_done_and_completed_invocation_says_not_ready(
    aws: dict[str, Any],
) -> None:
    ssm = aws["ssm"]
    with Stubber(ssm) as stub:
        answer = {"CommandId": COMMAND, "InstanceId": aws["instance_id"], "Status": "InProgress"}
        stub.add_response("get_command_invocation", {**answer, "StatusDetails": "InProgress"})
        stub.add_response("get_command_invocation", {**answer, "StatusDetails": "InProgress"})
        status = invocation_status(ssm, COMMAND, aws["instance_id"])
        assert not status.done and status.output_s3 is None
        with pytest.raises(NotReadyYet, match="still InProgress"):
            completed_invocation(ssm, COMMAND, aws["instance_id"])


def test_the_output_url_of_the_real_service_gives_the_s3_location(aws: dict[str, Any]) -> None:
    ssm = aws["ssm"]
    key = output_key("p", COMMAND, aws["instance_id"])
    with Stubber(ssm) as stub:
        stub.add_response(
            "get_command_invocation",
            {
                "CommandId": COMMAND,
                "InstanceId": aws["instance_id"],
                "Status": "Success",
                "StatusDetails": "Success",
                "ResponseCode": 0,
                "StandardOutputContent": "short",
                "StandardOutputUrl": f"https://s3.{REGION}.amazonaws.com/{BUCKET}/{key}",
            },
        )
        status = invocation_status(ssm, COMMAND, aws["instance_id"])
    assert status.output_s3 == S3Location(bucket=BUCKET, key=key)
    assert status.inline_stdout == "short" and status.response_code == 0


def test_a_malformed_instance_id_or_bucket_is_refused_before_calling_ssm(aws: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        send_collect(aws["ssm"], "openflow-agent-abc", output_bucket=None)
    with pytest.raises(InvalidRequest):
        send_collect(aws["ssm"], aws["instance_id"], output_bucket="Not_A_Bucket")


def test_the_rerun_is_sent_as_its_own_command(aws: dict[str, Any]) -> None:
    command_id = send_remediation_rerun(aws["ssm"], aws["instance_id"], output_bucket=None)
    [command] = aws["ssm"].list_commands(CommandId=command_id)["Commands"]
    assert command["Parameters"]["commands"] == [RERUN_SCRIPT]


# --- the scripts themselves --------------------------------------------------------------------------
def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_the_collection_script_prints_every_section_and_its_output_diagnoses(tmp_path: Path) -> None:
    """Run the script with journalctl/systemctl/tail stand-ins serving the seed's journals."""
    fixtures = JOURNALS / "ecr-missing"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(
        bin_dir,
        "journalctl",
        'case "$2" in openflow-sync-images) f=sync-images;; openflow-apply-infrastructure) '
        'f=apply-infrastructure;; *) f="$2";; esac\n'
        f'cat "{fixtures}/$f.log" 2>/dev/null || echo "-- No entries --"',
    )
    _stub(
        bin_dir,
        "systemctl",
        f'[ "$1" = show ] && exec cat "{JOURNALS}/timers-inactive/units.log"\n'
        f'cat "{JOURNALS}/timers-inactive/timers.log"\nexit 3',
    )
    real_tail = shutil.which("tail")
    _stub(
        bin_dir,
        "tail",
        f'last=""; for a; do last=$a; done\n[ "$last" = /var/log/cloud-init-output.log ] && '
        f'exec {real_tail} -n 500 "{fixtures}/cloud-init.log"\nexec {real_tail} "$@"',
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", "-c", COLLECT_SCRIPT], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout
    for section in (
        "highlights",
        "timers",
        "units",
        "sync-images",
        "apply-infrastructure",
        "docker",
        "cloud-init",
    ):
        assert f"==== begin section {section} ====" in output
    assert "==== end section timers exit=3 ====" in output
    assert output.rstrip().endswith("==== openflow-autopilot agent collect end ====")
    diagnosis = diagnose(output)
    assert diagnosis.finding("ECR_REPOSITORY_MISSING") is not None
    assert diagnosis.finding("TIMERS_INACTIVE") is not None
    assert diagnosis.finding("OUTPUT_TRUNCATED") is None


def test_the_collection_script_keeps_error_lines_in_the_first_24000_characters(tmp_path: Path) -> None:
    """SSM's inline output keeps only the start; the highlights section carries the errors there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    noise = tmp_path / "noise.log"
    lines = [
        f'2025-06-23T06:0{i % 10}:00+0000 host dockerd[1]: level=info msg="noise {i}"' for i in range(3000)
    ]
    lines.append(
        '2025-06-23T06:12:24+0000 host dockerd[1]: level=error msg="Upload failed: name unknown: '
        "The repository with name 'snowflake-openflow/runtime-operator' does not exist in the registry "
        "with id '123456789012'\""
    )
    noise.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _stub(bin_dir, "journalctl", f'[ "$2" = docker ] && exec cat "{noise}"\necho "-- No entries --"')
    _stub(bin_dir, "systemctl", "echo ActiveState=active")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    output = subprocess.run(
        ["sh", "-c", COLLECT_SCRIPT], capture_output=True, text=True, env=env, timeout=30, check=False
    ).stdout
    inline = output[:24_000] + "\n==== note: inline output truncated by SSM at about 24000 characters ====\n"
    finding = diagnose(inline).finding("ECR_REPOSITORY_MISSING")
    assert finding is not None and finding.missing_repositories == ["snowflake-openflow/runtime-operator"]


def test_the_rerun_script_starts_the_sync_then_the_apply_in_a_transient_unit(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    _stub(bin_dir, "systemctl", f'echo "systemctl $*" >> "{log}"\n[ "$1" = is-active ] && exit 3\nexit 0')
    _stub(bin_dir, "systemd-run", f'echo "systemd-run $*" >> "{log}"')
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["sh", "-c", RERUN_SCRIPT], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0 and "started" in result.stdout
    calls = log.read_text()
    run = calls[calls.index("systemd-run") :]
    assert "--unit=openflow-autopilot-rerun" in run and "--no-block" in run
    assert run.index("start --wait openflow-sync-images.service") < run.index(
        "start --no-block openflow-apply-infrastructure.service"
    )


@pytest.mark.skipif(find_shellcheck() is None, reason="ShellCheck is not installed")
def test_both_scripts_pass_shellcheck_as_posix_sh(tmp_path: Path) -> None:
    binary = find_shellcheck()
    assert binary is not None
    for name, script in (("collect.sh", COLLECT_SCRIPT), ("rerun.sh", RERUN_SCRIPT)):
        path = tmp_path / name
        path.write_text(script, encoding="utf-8")
        result = subprocess.run([binary, "-s", "sh", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout
