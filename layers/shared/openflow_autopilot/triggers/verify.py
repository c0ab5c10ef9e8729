"""Request verification, done before anything else looks at a request.

- Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>` with
  `X-Slack-Request-Timestamp` within 5 minutes (slack_sdk's SignatureVerifier).
- GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; Jira: `X-Hub-Signature`,
  same scheme.
- ServiceNow: an HMAC of the body in a configured header (hex or base64), or a bearer secret.

Signatures are computed over the raw bytes, so a body that is not UTF-8 verifies (or fails)
like any other and is only decoded afterwards. Comparisons are constant-time. A Verdict's reason
names what was wrong, never the secret or the body.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.triggers.config import MAX_BODY_BYTES, ServiceNowAuth
from openflow_autopilot.triggers.secrets import SigningSecrets

Source = Literal["slack", "github", "jira", "servicenow"]
SLACK_MAX_AGE_SECONDS = 300
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_SLACK_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_HUB_HEADERS = {"github": "x-hub-signature-256", "jira": "x-hub-signature"}


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    status: Literal[200, 401, 413]
    source: str
    reason: str


def _accept(source: str) -> Verdict:
    return Verdict(ok=True, status=200, source=source, reason="verified")


def _reject(source: str, reason: str, status: Literal[401, 413] = 401) -> Verdict:
    return Verdict(ok=False, status=status, source=source, reason=reason)


def lower_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Header names are case-insensitive; Function URLs lower-case them, API Gateway may not."""
    return {str(k).lower(): str(v) for k, v in (headers or {}).items() if v is not None}


def _same(expected: str, given: str) -> bool:
    # Bytes, so a header with non-ASCII characters is a mismatch rather than a TypeError.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


@functools.cache
def _slack_types() -> tuple[type[Any], type[Any]]:
    # Imported on first use: slack_sdk's package import costs ~80 ms, and only Slack requests need it.
    from slack_sdk.signature import Clock, SignatureVerifier

    class FixedClock(Clock):
        def __init__(self, now: float) -> None:
            self._now = now

        def now(self) -> float:
            return self._now

    class RawBodyVerifier(SignatureVerifier):
        # slack_sdk decodes a bytes body as UTF-8 before signing; Slack signs the bytes it sent.
        def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
            raw = body if isinstance(body, bytes) else body.encode()
            base = b"v0:" + timestamp.encode() + b":" + raw
            return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    return FixedClock, RawBodyVerifier


def _slack_verifier(secret: str, now: float) -> Any:
    clock_type, verifier_type = _slack_types()
    return verifier_type(secret, clock=clock_type(now))


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=<hex>` as Slack sends it (for tests, the sandbox and the benchmark)."""
    return (
        "v0="
        + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    )


def verify_slack(body: bytes, headers: Mapping[str, str], secret: str, *, now: float) -> Verdict:
    h = lower_headers(headers)
    signature = h.get("x-slack-signature")
    timestamp = h.get("x-slack-request-timestamp")
    if not signature:
        return _reject("slack", "missing signature header")
    if not timestamp:
        return _reject("slack", "missing timestamp header")
    if not _TIMESTAMP.match(timestamp):
        return _reject("slack", "malformed timestamp")
    if abs(now - int(timestamp)) > SLACK_MAX_AGE_SECONDS:
        return _reject("slack", "stale timestamp")
    if not _SLACK_SIGNATURE.match(signature):
        return _reject("slack", "malformed signature header")

    if not _slack_verifier(secret, now).is_valid(body, timestamp, signature):
        return _reject("slack", "bad signature")
    return _accept("slack")


def hub_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` as GitHub and Jira send it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hub_signature(
    body: bytes, headers: Mapping[str, str], secret: str, *, source: Literal["github", "jira"]
) -> Verdict:
    value = lower_headers(headers).get(_HUB_HEADERS[source])
    if not value:
        return _reject(source, "missing signature header")
    algorithm, _, digest = value.strip().partition("=")
    if algorithm.lower() != "sha256" or not _HEX64.match(digest):
        return _reject(source, "malformed signature header")
    if not _same(hub_signature(secret, body), f"sha256={digest.lower()}"):
        return _reject(source, "bad signature")
    return _accept(source)


def servicenow_signature(secret: str, body: bytes, encoding: Literal["hex", "base64"] = "hex") -> str:
    mac = hmac.new(secret.encode(), body, hashlib.sha256)
    return mac.hexdigest() if encoding == "hex" else base64.b64encode(mac.digest()).decode()


def verify_servicenow(
    body: bytes, headers: Mapping[str, str], secret: str, *, auth: ServiceNowAuth
) -> Verdict:
    h = lower_headers(headers)
    if auth.mode == "bearer":
        scheme, _, token = h.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _reject("servicenow", "missing bearer token")
        if not _same(secret, token.strip()):
            return _reject("servicenow", "bad bearer token")
        return _accept("servicenow")
    value = h.get(auth.header.lower(), "").strip()
    if not value:
        return _reject("servicenow", "missing signature header")
    if value.lower().startswith("sha256="):
        value = value[len("sha256=") :]
    if auth.encoding == "hex":
        if not _HEX64.match(value):
            return _reject("servicenow", "malformed signature header")
        value = value.lower()
    else:
        try:
            if len(base64.b64decode(value, validate=True)) != 32:
                return _reject("servicenow", "malformed signature header")
        except (binascii.Error, ValueError):
            return _reject("servicenow", "malformed signature header")
    if not _same(servicenow_signature(secret, body, auth.encoding), value):
        return _reject("servicenow", "bad signature")
    return _accept("servicenow")


def verify_request(
    source: Source,
    body: bytes,
    headers: Mapping[str, str],
    secrets: SigningSecrets,
    *,
    now: float,
    servicenow: ServiceNowAuth | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Verdict:
    """The one entry point: size first (cheap, no secret needed), then the source's scheme."""
    if len(body) > max_body_bytes:
        return _reject(source, "body too large", 413)
    secret = secrets.signing_secret(source)
    if secret is None:
        return _reject(source, "no signing secret configured")
    if source == "slack":
        return verify_slack(body, headers, secret, now=now)
    if source == "servicenow":
        return verify_servicenow(body, headers, secret, auth=servicenow or ServiceNowAuth())
    return verify_hub_signature(body, headers, secret, source=source)
