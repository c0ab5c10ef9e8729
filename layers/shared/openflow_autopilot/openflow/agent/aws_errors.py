"""Map botocore failures to the error classes the state machine branches on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from openflow_autopilot.errors import AwsRetryableError, NotReadyYet, PermissionDenied

_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}
)
_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AllAccessDisabled",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    # AWS error messages name resources, never secret values; cut them to keep state payloads small.
    return str(exc.response.get("Error", {}).get("Message", ""))[:300]


@contextmanager
def aws_call(call: str, *, not_ready: Mapping[str, str] | None = None) -> Iterator[None]:
    """Throttling/5xx/connection problems -> AwsRetryableError; denied -> PermissionDenied;
    codes in `not_ready` -> NotReadyYet with the given message. Anything else propagates."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if not_ready and code in not_ready:
            raise NotReadyYet(not_ready[code], call=call) from exc
        if code in _THROTTLING or status >= 500:
            raise AwsRetryableError(f"{call} failed: {code} {_message(exc)}".strip(), call=call) from exc
        if code in _DENIED:
            raise PermissionDenied(
                f"{call} was denied: {_message(exc)}", fix=f"allow {call} for this role in IAM", call=call
            ) from exc
        raise
    except (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise AwsRetryableError(f"{call} failed: {exc}", call=call) from exc
