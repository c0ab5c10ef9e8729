"""The one mapping from botocore failures to the state machines' error names (errors.py), and the
one list of codes that mean "try again": every module that calls AWS goes through `aws_call` or,
where a service answers with its own codes, asks `retryable`/`denied` here.

Throttling codes differ per service (Throttling for most Query APIs, ThrottlingException for JSON
ones, SlowDown for S3, ProvisionedThroughputExceededException for DynamoDB, RequestLimitExceeded
for EC2); 5xx answers and the codes services give them are transient too:
https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from openflow_autopilot.errors import (
    AutopilotError,
    AwsRetryableError,
    NotReadyYet,
    PermissionDenied,
    PreconditionFailed,
)

THROTTLING: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
# What services call their 5xx answers, for the rare answer without the HTTP status.
SERVER_SIDE: Final = frozenset(
    {"InternalFailure", "InternalError", "InternalServiceError", "InternalServerError", "ServiceUnavailable"}
)
DENIED: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AllAccessDisabled",
        "Forbidden",
    }
)
INVALID: Final = frozenset({"InvalidParameterException", "InvalidRequestException", "ValidationError"})
UNREACHABLE: Final = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)
_MESSAGE_LIMIT = 300  # AWS messages name resources, never secret values; short keeps payloads small


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))[:_MESSAGE_LIMIT]


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def retryable(exc: ClientError, *, also: frozenset[str] = frozenset()) -> bool:
    """Throttled, failed inside AWS (5xx), or one of `also` (a service's own "try again" codes)."""
    code = error_code(exc)
    status = http_status(exc)
    return code in THROTTLING or code in SERVER_SIDE or code in also or status >= 500 or status == 429


def denied(exc: ClientError) -> bool:
    return error_code(exc) in DENIED


def translate(
    exc: ClientError,
    call: str,
    *,
    busy: frozenset[str] = frozenset(),
    not_ready: Mapping[str, str] | None = None,
    retry: frozenset[str] = frozenset(),
    invalid: frozenset[str] = INVALID,
    invalid_error: type[AutopilotError] = PreconditionFailed,
) -> AutopilotError | None:
    """The project's error for a ClientError, or None when the caller must decide (e.g. not found)."""
    code, message = error_code(exc), error_message(exc)
    if not_ready and code in not_ready:
        return NotReadyYet(not_ready[code], call=call)
    if retryable(exc, also=retry):
        return AwsRetryableError(f"{call} failed: {code} {message}".strip(), call=call)
    if code in DENIED:
        return PermissionDenied(
            f"{call} was denied: {message}", fix=f"allow {call} for this role in IAM", call=call
        )
    if code in busy:
        return NotReadyYet(f"{call}: busy ({code}: {message})", call=call)
    if code in invalid:
        return invalid_error(f"{call} was rejected: {code}: {message}", call=call)
    return None


@contextmanager
def aws_call(
    call: str,
    *,
    busy: frozenset[str] = frozenset(),
    not_ready: Mapping[str, str] | None = None,
    retry: frozenset[str] = frozenset(),
    invalid: frozenset[str] = INVALID,
    invalid_error: type[AutopilotError] = PreconditionFailed,
) -> Iterator[None]:
    """Throttling/5xx/network (and `retry` codes) -> AwsRetryableError; denied -> PermissionDenied; a
    `busy` code (an update already in progress) -> NotReadyYet, a `not_ready` one with its message;
    `invalid` codes -> `invalid_error`. Anything else (e.g. not found) is re-raised for the caller."""
    try:
        yield
    except ClientError as exc:
        mapped = translate(
            exc,
            call,
            busy=busy,
            not_ready=not_ready,
            retry=retry,
            invalid=invalid,
            invalid_error=invalid_error,
        )
        if mapped is None:
            raise
        raise mapped from exc
    except UNREACHABLE as exc:
        raise AwsRetryableError(f"{call} failed: {exc}", call=call) from exc
