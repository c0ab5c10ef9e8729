"""What the CLI says when a command fails: one line naming what failed and the fix, exit 2.

AWS failures (botocore's documented exceptions,
https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html for throttling codes and
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/error-handling.html for the classes)
become the same short message whichever command met them; with `--json` the message is a JSON object
on stdout, so a script reading the output still gets JSON.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from openflow_autopilot.aws.calls import DENIED, THROTTLING
from openflow_autopilot.core.masking import mask_credentials
from openflow_autopilot.errors import AutopilotError

EXIT_FAILED: Final = 2
# Set to see the Python traceback of an unexpected failure (for a bug report).
DEBUG_VARIABLE: Final = "OPENFLOW_AUTOPILOT_DEBUG"

_EXPIRED: Final = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    }
)

_UNREACHABLE: Final = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


@dataclass(frozen=True)
class CliFailure:
    error: str  # a stable name for scripts: the exception class, or the AWS error code
    message: str
    fix: str | None = None

    def line(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message

    def as_json(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "fix": self.fix, "exit_code": EXIT_FAILED}


def _operation(exc: ClientError) -> str:
    name = str(getattr(exc, "operation_name", "") or "")
    service = str(exc.response.get("Error", {}).get("Type", "") or "")
    return name or service or "an AWS call"


def describe(exc: BaseException) -> CliFailure | None:
    """The one-line failure for an exception the CLI knows; None for one it does not (a bug)."""
    if isinstance(exc, AutopilotError):
        # An AWS failure the layer wrapped without a fix (throttled, unreachable, 5xx): the botocore
        # cause says what failed and what to do.
        underlying = aws_failure(exc) if exc.fix is None else None
        if underlying is not None:
            return underlying
        return CliFailure(
            type(exc).__name__, mask_credentials(exc.message), exc.fix and mask_credentials(exc.fix)
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliFailure(
            "NoCredentials",
            "AWS credentials were not found (or are incomplete).",
            "run `aws configure` or `aws sso login`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY)",
        )
    if isinstance(exc, NoRegionError):
        return CliFailure(
            "NoRegion",
            "No AWS region is set.",
            # boto3 reads AWS_DEFAULT_REGION, not AWS_REGION (which only Lambda's runtime sets):
            # https://boto3.amazonaws.com/v1/documentation/api/latest/guide/configuration.html
            "pass --region, or set aws.region in the request, AWS_DEFAULT_REGION or a region in the profile",
        )
    if isinstance(exc, ProfileNotFound):
        return CliFailure("ProfileNotFound", f"{exc}.", "check AWS_PROFILE against ~/.aws/config")
    if isinstance(
        exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError
    ):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        return CliFailure(
            "EndpointUnreachable",
            f"Could not reach {mask_credentials(str(endpoint))}.",
            "check the network (proxy, VPN) and the region; with AWS_ENDPOINT_URL set, that the "
            "endpoint runs",
        )
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, BotoCoreError):
        return CliFailure(type(exc).__name__, f"The AWS SDK failed: {mask_credentials(str(exc))}.", None)
    return None


def aws_failure(exc: BaseException) -> CliFailure | None:
    """The description of the botocore failure behind `exc` (itself or its cause), None if none is."""
    seen: BaseException | None = exc
    for _ in range(5):  # a short chain: AutopilotError from ClientError
        if seen is None:
            return None
        if isinstance(seen, BotoCoreError | ClientError):
            return describe(seen)
        seen = seen.__cause__
    return None


def _client_error(exc: ClientError) -> CliFailure:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "") or "ClientError")
    message = mask_credentials(str(error.get("Message", "") or ""))
    call = _operation(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in DENIED:
        return CliFailure(
            code,
            f"{call} was denied: {message}",
            "allow this call for your IAM identity, or use a role that has it",
        )
    if code in _EXPIRED:
        return CliFailure(code, f"{call}: the AWS credentials are not valid ({message}).", "sign in again")
    if code in THROTTLING or status == 429:
        return CliFailure(
            code, f"{call} was throttled by AWS ({code}).", "wait a minute and run the command again"
        )
    if status >= 500:
        return CliFailure(code, f"{call} failed inside AWS ({code}, HTTP {status}).", "run the command again")
    return CliFailure(code, f"{call} failed: {code}: {message}", None)


def report(failure: CliFailure, *, json_output: bool, stdout: TextIO, stderr: TextIO) -> int:
    print(f"error: {failure.line()}", file=stderr)
    if json_output:
        print(json.dumps(failure.as_json(), indent=2), file=stdout)
    return EXIT_FAILED


def unexpected(exc: BaseException, *, json_output: bool, stdout: TextIO, stderr: TextIO) -> int:
    """A failure no module named: one line, never the traceback (unless DEBUG_VARIABLE asks for it)."""
    # The exception's text may hold any value it was handed (a secret included), so only its type and
    # the line that raised it are shown.
    failure = CliFailure(
        type(exc).__name__,
        f"unexpected failure: {type(exc).__name__} at {_where(exc)}",
        f"this is a defect; rerun with {DEBUG_VARIABLE}=1 for the traceback and report it",
    )
    return report(failure, json_output=json_output, stdout=stdout, stderr=stderr)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "an unknown place"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} ({last.name})"


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def quiet_broken_pipe() -> int:
    """`openflow-autopilot cost | head`: the reader left; end without a traceback (and keep Python's
    exit-time flush from raising again, https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe
