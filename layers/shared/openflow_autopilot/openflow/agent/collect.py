"""Read the agent's journals over SSM RunCommand, and re-run its services, without waiting.

`send_collect` starts one bounded, read-only, non-following shell script (`COLLECT_SCRIPT`) on the
agent instance; the state machine then polls `invocation_status` (a Wait/Choice loop: the SDK's
waiter gives up after ~100 s) and, once `done`, calls `read_output`, which prefers the full output
the command wrote to S3 over the inline output SSM truncates at ~24,000 characters.
`send_remediation_rerun` re-runs openflow-sync-images and then openflow-apply-infrastructure.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlparse

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.errors import InvalidRequest, NotReadyYet, PreconditionFailed

from . import markers

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

DOCUMENT: Final = "AWS-RunShellScript"
DEFAULT_OUTPUT_PREFIX: Final = "openflow-autopilot/agent"
SSM_INLINE_LIMIT: Final = 24_000  # GetCommandInvocation returns at most this many characters inline
MAX_S3_OUTPUT_BYTES: Final = 16_000_000  # the script keeps each section to 2 MB; six sections fit
COLLECT_EXECUTION_TIMEOUT: Final = 420  # six reads of at most 60 s each, plus margin
RERUN_EXECUTION_TIMEOUT: Final = 60
DELIVERY_TIMEOUT: Final = 120  # an instance that is not online gets the command within this, or never

# Terminal invocation states (GetCommandInvocation's Status, and StatusDetails for the rarer ones).
_TERMINAL: Final = frozenset({"Success", "Failed", "Cancelled", "TimedOut"})
_TERMINAL_DETAILS: Final = frozenset(
    {
        "DeliveryTimedOut",
        "ExecutionTimedOut",
        "Undeliverable",
        "Terminated",
        "InvalidPlatform",
        "AccessDenied",
    }
)
# States in which the script ran (fully or until its timeout), so stdout is worth reading.
_OUTPUT_STATES: Final = frozenset({"Success", "Failed", "TimedOut"})
_INSTANCE_ID = re.compile(r"^(?:i|mi)-[0-9a-f]{8,17}$")
_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{0,400}$")

NOT_REGISTERED: Final = "agent instance not registered with SSM yet"

# Lines worth keeping when SSM cuts the inline output: the script prints the last few of them per
# section first, so the diagnosis still sees them.
_HIGHLIGHT_PATTERN: Final = (
    "error|fail|denied|unauthori|forbidden|not exist|not found|unknown|exception|traceback|fatal|panic|"
    "invalid|cannot|could not|unable|timed out|refused|All resources applied|access_token"
)

COLLECT_SCRIPT: Final = f"""#!/bin/sh
# Read the Openflow agent's journals: read-only, bounded in lines, bytes and time, never following.
set -u
export LC_ALL=C SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat PAGER=cat
limit=60            # seconds per read
max_bytes=2000000   # bytes kept per section (its end)
work=$(mktemp -d /tmp/openflow-autopilot-collect.XXXXXX) || {{
  echo "cannot create a temporary directory" >&2
  exit 1
}}
trap 'rm -rf "$work"' EXIT
read_into() {{
  name=$1; shift
  timeout "$limit" "$@" >"$work/$name" 2>&1
  echo $? >"$work/$name.exit"
}}
read_into {markers.TIMERS} systemctl status --no-pager --full --lines=0 \\
  openflow-sync-images.timer openflow-apply-infrastructure.timer
read_into {markers.UNITS} systemctl show --no-pager \\
  -p Id,LoadState,ActiveState,SubState,UnitFileState,Result,ExecMainStatus \\
  openflow-sync-images.timer openflow-apply-infrastructure.timer \\
  openflow-sync-images.service openflow-apply-infrastructure.service
read_into {markers.SYNC_IMAGES} journalctl -u openflow-sync-images --no-pager --all -n 500 -o short-iso
read_into {markers.APPLY_INFRASTRUCTURE} journalctl -u openflow-apply-infrastructure \\
  --no-pager --all -n 500 -o short-iso
read_into {markers.DOCKER} journalctl -u docker --no-pager --all -n 300 -o short-iso
read_into {markers.CLOUD_INIT} tail -n 500 /var/log/cloud-init-output.log
echo "{markers.HEADER_PREFIX} host=$(uname -n) time=$(date -u +%Y-%m-%dT%H:%M:%SZ) ===="
echo "{markers.begin_line(markers.HIGHLIGHTS)}"
for name in {markers.SYNC_IMAGES} {markers.APPLY_INFRASTRUCTURE} {markers.DOCKER} {markers.CLOUD_INIT}; do
  grep -aiE '{_HIGHLIGHT_PATTERN}' "$work/$name" | tail -n 12 | cut -c1-300 \\
    | sed "s/^/$name{markers.HIGHLIGHT_SEPARATOR}/"
done
echo "{markers.end_line(markers.HIGHLIGHTS, 0)}"
for name in {markers.TIMERS} {markers.UNITS} {markers.SYNC_IMAGES} {markers.APPLY_INFRASTRUCTURE} \\
    {markers.DOCKER} {markers.CLOUD_INIT}; do
  echo "==== begin section $name ===="
  tail -c "$max_bytes" "$work/$name"
  echo
  echo "==== end section $name exit=$(cat "$work/$name.exit") ===="
done
echo "{markers.TRAILER}"
exit 0
"""

# A transient unit runs the re-run, so the SSM command returns at once and the sync finishes
# before the apply starts (the apply runs the agent image the sync mirrors).
RERUN_UNIT: Final = "openflow-autopilot-rerun"
RERUN_SCRIPT: Final = f"""#!/bin/sh
# Re-run the image sync, then the infrastructure apply, instead of waiting for their 10-minute timers.
set -u
if systemctl is-active --quiet {RERUN_UNIT}.service; then
  echo "a re-run started earlier is still in progress"
  exit 0
fi
systemctl reset-failed {RERUN_UNIT}.service openflow-sync-images.service \\
  openflow-apply-infrastructure.service 2>/dev/null
systemd-run --unit={RERUN_UNIT} --description="Re-run Openflow image sync, then apply" \\
  -p RuntimeMaxSec=3600 --no-block /bin/sh -c '
    while systemctl is-active --quiet openflow-sync-images.service; do sleep 5; done
    systemctl start --wait openflow-sync-images.service
    systemctl start --no-block openflow-apply-infrastructure.service'
echo "started: openflow-sync-images.service, then openflow-apply-infrastructure.service"
"""

# Deep sleep stops the agent's two timers before its instance, so a last apply cannot scale the node
# groups back while they are being scaled down. `stop` (not `disable`): the timers stay enabled, so
# they start again when the instance boots. The script exits 0 only when both timers are inactive
# and no run of their services is still going.
TIMERS_MARK: Final = "openflow-autopilot-timers-stop"
TIMERS_STOP_SCRIPT: Final = f"""#!/bin/sh
# {TIMERS_MARK}: stop the Openflow agent's timers before its instance is stopped.
set -u
systemctl stop openflow-apply-infrastructure.timer openflow-sync-images.timer
for unit in openflow-apply-infrastructure openflow-sync-images; do
  waited=0
  while systemctl is-active --quiet "$unit.service" && [ "$waited" -lt 240 ]; do
    sleep 5
    waited=$((waited + 5))
  done
  if systemctl is-active --quiet "$unit.timer" || systemctl is-active --quiet "$unit.service"; then
    echo "$unit is still active"
    exit 1
  fi
done
echo "stopped: openflow-apply-infrastructure.timer, openflow-sync-images.timer"
"""
TIMERS_EXECUTION_TIMEOUT: Final = 600


class S3Location(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class InvocationStatus(BaseModel):
    """One GetCommandInvocation answer, reduced to what the state machine branches on."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    instance_id: str
    status: str  # Pending | InProgress | Delayed | Success | Failed | Cancelled | TimedOut | Cancelling
    status_details: str
    done: bool
    output_available: bool  # the script ran (fully or until its timeout): stdout is worth reading
    response_code: int | None
    inline_stdout: str  # as SSM returned it: at most ~24,000 characters
    inline_stderr: str
    output_s3: S3Location | None  # where the full stdout is, when the command had an output bucket


def _check_instance_id(instance_id: str) -> None:
    if not _INSTANCE_ID.match(instance_id):
        raise InvalidRequest(f"'{instance_id[:40]}' is not an EC2 instance id (i-0123456789abcdef0).")


def _check_output(output_bucket: str | None, output_prefix: str) -> None:
    if output_bucket is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", output_bucket):
        raise InvalidRequest(f"'{output_bucket[:70]}' is not an S3 bucket name.")
    if not _SAFE_PREFIX.match(output_prefix):
        raise InvalidRequest("The S3 output prefix may hold only letters, digits and !_.*'()/- .")


def _send(
    ssm: SSMClient,
    instance_id: str,
    script: str,
    *,
    comment: str,
    execution_timeout: int,
    output_bucket: str | None,
    output_prefix: str,
) -> str:
    _check_instance_id(instance_id)
    _check_output(output_bucket, output_prefix)
    output: dict[str, str] = {}
    if output_bucket:
        output = {"OutputS3BucketName": output_bucket, "OutputS3KeyPrefix": output_prefix.strip("/")}
    with aws_call("ssm:SendCommand", not_ready={"InvalidInstanceId": NOT_REGISTERED}):
        response = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=DOCUMENT,
            Comment=comment[:100],
            Parameters={"commands": [script], "executionTimeout": [str(execution_timeout)]},
            TimeoutSeconds=DELIVERY_TIMEOUT,
            **output,  # type: ignore[arg-type]
        )
    return response["Command"]["CommandId"]


def send_collect(
    ssm: SSMClient, instance_id: str, *, output_bucket: str | None, output_prefix: str = DEFAULT_OUTPUT_PREFIX
) -> str:
    """Start the collection script on the agent; returns the command id.

    InvalidInstanceId (the instance has not registered with SSM yet, is stopped, or does not
    exist) raises NotReadyYet: the state machine retries it within its budget."""
    return _send(
        ssm,
        instance_id,
        COLLECT_SCRIPT,
        comment="openflow-autopilot: read the Openflow agent's journals",
        execution_timeout=COLLECT_EXECUTION_TIMEOUT,
        output_bucket=output_bucket,
        output_prefix=output_prefix,
    )


def send_remediation_rerun(
    ssm: SSMClient, instance_id: str, *, output_bucket: str | None, output_prefix: str = DEFAULT_OUTPUT_PREFIX
) -> str:
    """Re-run openflow-sync-images, then openflow-apply-infrastructure; returns the command id.
    The command returns in seconds; the services run on for minutes."""
    return _send(
        ssm,
        instance_id,
        RERUN_SCRIPT,
        comment="openflow-autopilot: re-run openflow-sync-images and openflow-apply-infrastructure",
        execution_timeout=RERUN_EXECUTION_TIMEOUT,
        output_bucket=output_bucket,
        output_prefix=output_prefix,
    )


def send_timers_stop(ssm: SSMClient, instance_id: str) -> str:
    """Stop openflow-apply-infrastructure.timer and openflow-sync-images.timer; returns the command id."""
    return _send(
        ssm,
        instance_id,
        TIMERS_STOP_SCRIPT,
        comment="openflow-autopilot: stop the Openflow agent's timers for deep sleep",
        execution_timeout=TIMERS_EXECUTION_TIMEOUT,
        output_bucket=None,
        output_prefix=DEFAULT_OUTPUT_PREFIX,
    )


def invocation_status(ssm: SSMClient, command_id: str, instance_id: str) -> InvocationStatus:
    """The command's state on the instance. Right after SendCommand the invocation may not exist
    yet (InvocationDoesNotExist): that raises NotReadyYet, like an unregistered instance."""
    with aws_call(
        "ssm:GetCommandInvocation",
        not_ready={
            "InvocationDoesNotExist": "the command has not reached the agent instance yet",
            "InvalidInstanceId": NOT_REGISTERED,
        },
    ):
        try:
            answer = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if error_code(exc) == "InvalidCommandId":
                raise PreconditionFailed(
                    f"SSM does not know command {command_id[:40]} (expired, or sent in another region).",
                    call="ssm:GetCommandInvocation",
                ) from exc
            raise
    status = str(answer.get("Status", ""))
    details = str(answer.get("StatusDetails", ""))
    done = status in _TERMINAL or details in _TERMINAL_DETAILS
    location = None
    if done:
        location = _location_from_url(str(answer.get("StandardOutputUrl") or "")) or _location_from_command(
            ssm, command_id, instance_id
        )
    code = answer.get("ResponseCode")
    return InvocationStatus(
        command_id=command_id,
        instance_id=instance_id,
        status=status,
        status_details=details,
        done=done,
        output_available=done and status in _OUTPUT_STATES,
        response_code=int(code) if code is not None and done else None,
        inline_stdout=str(answer.get("StandardOutputContent") or ""),
        inline_stderr=str(answer.get("StandardErrorContent") or ""),
        output_s3=location,
    )


def output_key(prefix: str, command_id: str, instance_id: str) -> str:
    """Where RunCommand writes an AWS-RunShellScript command's stdout in its output bucket."""
    parts = [p for p in (prefix.strip("/"), command_id, instance_id) if p]
    return "/".join([*parts, "awsrunShellScript", "0.awsrunShellScript", "stdout"])


def _location_from_command(ssm: SSMClient, command_id: str, instance_id: str) -> S3Location | None:
    with aws_call("ssm:ListCommands"):
        commands = ssm.list_commands(CommandId=command_id).get("Commands", [])
    if not commands or not commands[0].get("OutputS3BucketName"):
        return None
    command = commands[0]
    key = output_key(str(command.get("OutputS3KeyPrefix") or ""), command_id, instance_id)
    return S3Location(bucket=str(command["OutputS3BucketName"]), key=key)


def _location_from_url(url: str) -> S3Location | None:
    """StandardOutputUrl is path-style (https://s3.<region>.amazonaws.com/<bucket>/<key>) or
    virtual-hosted (https://<bucket>.s3[.<region>].amazonaws.com/<key>)."""
    parsed = urlparse(url)
    host, path = parsed.hostname or "", unquote(parsed.path).lstrip("/")
    if not host or not path:
        return None
    hosted = re.match(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$", host)
    if hosted:
        return S3Location(bucket=hosted["bucket"], key=path)
    if re.match(r"^s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$", host) and "/" in path:
        bucket, key = path.split("/", 1)
        return S3Location(bucket=bucket, key=key)
    return None


def completed_invocation(ssm: SSMClient, command_id: str, instance_id: str) -> InvocationStatus:
    """Like `invocation_status`, but a command still running raises NotReadyYet, for a state whose
    Retry does the waiting."""
    status = invocation_status(ssm, command_id, instance_id)
    if not status.done:
        raise NotReadyYet(f"command {command_id} is still {status.status or 'pending'} on {instance_id}")
    return status


def read_output(s3: S3Client | None, invocation: InvocationStatus) -> str:
    """The command's stdout: the full copy in S3 when there is one, else the inline output with a
    note when SSM truncated it. Undecodable bytes become U+FFFD; the diagnosis copes with them."""
    notes: list[str] = []
    if invocation.output_s3 is not None and s3 is not None:
        text, note = _read_s3(s3, invocation.output_s3)
        if text is not None:
            return text + (markers.note_line(note) + "\n" if note else "")
        notes.append(note or "")
    inline = invocation.inline_stdout
    if len(inline) >= SSM_INLINE_LIMIT - 64 or len(inline.encode("utf-8")) >= SSM_INLINE_LIMIT - 64:
        notes.append(
            f"inline output truncated by SSM at about {SSM_INLINE_LIMIT} characters; "
            "configure an S3 output bucket for the full journals"
        )
    tail = "".join(markers.note_line(note) + "\n" for note in notes if note)
    separator = "" if not inline or inline.endswith("\n") else "\n"
    return inline + separator + tail


def _read_s3(s3: S3Client, location: S3Location) -> tuple[str | None, str | None]:
    try:
        with aws_call("s3:GetObject"):
            answer = s3.get_object(
                Bucket=location.bucket, Key=location.key, Range=f"bytes=0-{MAX_S3_OUTPUT_BYTES - 1}"
            )
    except ClientError as exc:
        if error_code(exc) == "InvalidRange":  # S3's answer to a range request on an empty object
            return "", None
        if error_code(exc) in {"NoSuchKey", "NoSuchBucket", "404"}:
            return None, f"full output not found at {location.uri}; using the inline output"
        raise
    data = answer["Body"].read()
    note = None
    total = str(answer.get("ContentRange") or "").rpartition("/")[2]
    if total.isdigit() and int(total) > len(data):
        note = f"full output is {int(total)} bytes; only the first {len(data)} were read"
    return data.decode("utf-8", errors="replace"), note
