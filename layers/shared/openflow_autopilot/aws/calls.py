"""One mapping from botocore failures to the state machines' error names, for AWS calls whose
failures need no service-specific handling beyond "busy" codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from openflow_autopilot.errors import AwsRetryableError, NotReadyYet, PermissionDenied, PreconditionFailed

_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"})
_INVALID = frozenset({"InvalidParameterException", "InvalidRequestException", "ValidationError"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_call(call: str, *, busy: frozenset[str] = frozenset()) -> Iterator[None]:
    """Throttling/5xx/network -> AwsRetryableError; denied -> PermissionDenied; a `busy` code (an
    update already in progress) -> NotReadyYet; invalid parameters -> PreconditionFailed. Anything
    else (e.g. not found) is re-raised for the caller to decide."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _THROTTLING or status >= 500:
            raise AwsRetryableError(f"{call} failed: {code} {message}", call=call) from exc
        if code in _DENIED:
            raise PermissionDenied(
                f"{call} was denied: {message}", fix=f"allow {call} for this role in IAM", call=call
            ) from exc
        if code in busy:
            raise NotReadyYet(f"{call}: busy ({code}: {message})", call=call) from exc
        if code in _INVALID:
            raise PreconditionFailed(f"{call} was rejected: {code}: {message}", call=call) from exc
        raise
    except (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError) as exc:
        raise AwsRetryableError(f"{call} failed: {exc}", call=call) from exc
