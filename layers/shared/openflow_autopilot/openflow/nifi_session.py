"""The runtime's NiFi REST API as the gen 1 connector step (`nifi.py`) reaches it: where the API is and the
bearer token for it (`NifiAccess`, read from a Secrets Manager secret's JSON field `token`), the `Scrubber`
that removes secret values from any text that may leave the step, and the `NifiSession` whose calls map
NiFi's failures (a refused token, a wrong URL, a server error, no answer) to the state machine's errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import urllib3
from botocore.exceptions import ClientError
from nipyapi.nifi import ApiClient, FlowApi, ParameterContextsApi, ProcessGroupsApi
from nipyapi.nifi.rest import ApiException

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.config_runtime import RuntimeSettings
from openflow_autopilot.errors import (
    AutopilotError,
    PermissionDenied,
    PreconditionFailed,
    SnowflakeRetryableError,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

TIMEOUT = (5, 30)  # (connect, read) seconds per NiFi call
_MASK_MIN = 8  # secret fragments shorter than this are not scrubbed on their own (too common)


@dataclass(frozen=True)
class NifiAccess:
    """Where the runtime's NiFi API is and the bearer token for it (held in memory only)."""

    url: str
    token: str = field(repr=False)
    token_secret_arn: str


def read_nifi_access(secrets: SecretsManagerClient, runtime: RuntimeSettings) -> NifiAccess:
    """The URL from the request and the token from the secret's JSON field `token`."""
    arn, url = runtime.nifi_token_secret_arn, runtime.nifi_url
    if not arn or not url:
        raise PreconditionFailed(
            "the request gives no runtime.nifi_url and runtime.nifi_token_secret_arn",
            fix="add both to configure the gen 1 connector over NiFi REST, or neither for the canvas step",
        )
    fix = (
        f'store {{"token": "<a Snowflake programmatic access token>"}} in secret {arn} '
        "(a token of a user whose role may operate the runtime), then redrive"
    )
    try:
        with aws_call("secretsmanager:GetSecretValue"):
            text = secrets.get_secret_value(SecretId=arn).get("SecretString") or ""
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise PreconditionFailed(f"the NiFi token secret {arn} does not exist", fix=fix) from None
        raise
    try:
        token = json.loads(text).get("token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token.strip():
        raise PreconditionFailed(f"secret {arn} has no JSON field 'token' with a token in it", fix=fix)
    return NifiAccess(url=url.rstrip("/"), token=token.strip(), token_secret_arn=arn)


class Scrubber:
    """Removes secret values (and the lines of a PEM) from any text that may leave this module."""

    def __init__(self, secrets: Sequence[str]) -> None:
        parts: set[str] = set()
        for value in secrets:
            if not value:
                continue
            parts.add(value)
            parts.update(line.strip() for line in value.splitlines() if len(line.strip()) >= _MASK_MIN)
        self._parts = sorted(parts, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for part in self._parts:
            text = text.replace(part, "***")
        return text


class NifiSession:
    """The NiFi calls this phase makes, with NiFi's failures mapped to the state machine's errors."""

    def __init__(self, access: NifiAccess, scrub: Scrubber, *, runtime: str, api_client: Any = None) -> None:
        self.access, self.scrub, self.runtime = access, scrub, runtime
        # The token goes in a default header of this client only: nipyapi's global configuration is
        # left alone, so nothing else in the process sends (or keeps) it.
        client = api_client or ApiClient(
            host=access.url, header_name="Authorization", header_value=f"Bearer {access.token}"
        )
        self.groups = ProcessGroupsApi(client)
        self.contexts = ParameterContextsApi(client)
        self.flow = FlowApi(client)

    def call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        not_found: AutopilotError | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return fn(*args, _request_timeout=TIMEOUT, **kwargs)
        except ApiException as exc:
            raise self._error(what, exc, not_found) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SnowflakeRetryableError(
                self.scrub(
                    f"the runtime's NiFi at {self.access.url} did not answer {what}: {type(exc).__name__}"
                ),
                call=f"NiFi {what}",
                fix="check that the runtime is running and reachable from the function; the call is retried",
            ) from None

    def _error(self, what: str, exc: ApiException, not_found: AutopilotError | None) -> AutopilotError:
        status = int(exc.status or 0)
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        detail = self.scrub(" ".join((body or str(exc.reason or "")).split())[:300])
        call = f"NiFi {what}"
        arn = self.access.token_secret_arn
        if status in (401, 403):
            return PermissionDenied(
                f"the runtime's NiFi at {self.access.url} refused the token from secret {arn} "
                f"(HTTP {status}{': ' + detail if detail else ''})",
                call=call,
                fix=f"put a current Snowflake programmatic access token (JSON field 'token') of a user whose "
                f"role may operate runtime {self.runtime} into secret {arn}, then redrive",
            )
        if status == 404:
            return not_found or PreconditionFailed(
                f"the runtime's NiFi at {self.access.url} has no such resource ({what}: HTTP 404)",
                call=call,
                fix="check runtime.nifi_url: the runtime's NiFi API, ending in /nifi-api",
            )
        if status == 429 or status >= 500:
            return SnowflakeRetryableError(
                f"the runtime's NiFi at {self.access.url} failed {what} (HTTP {status}: {detail})", call=call
            )
        if status == 0:
            return PreconditionFailed(
                f"the request to the runtime's NiFi at {self.access.url} failed before an answer ({detail})",
                call=call,
                fix="check runtime.nifi_url and that the runtime's certificate is valid",
            )
        return PreconditionFailed(
            f"the runtime's NiFi at {self.access.url} rejected {what} (HTTP {status}: {detail})",
            call=call,
            fix="look at the connector's process group on the canvas; redrive once it is fixed",
        )
