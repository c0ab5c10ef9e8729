"""Request verification: the vendors' own documented examples, then every way a request can be
wrong. A rejection names the reason and never contains the secret or the body."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from openflow_autopilot.triggers.config import ServiceNowAuth
from openflow_autopilot.triggers.secrets import SigningSecrets
from openflow_autopilot.triggers.verify import (
    hub_signature,
    servicenow_signature,
    slack_signature,
    verify_hub_signature,
    verify_request,
    verify_servicenow,
    verify_slack,
)

# Slack, "Verifying requests from Slack" (docs.slack.dev/authentication/verifying-requests-from-slack)
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = "1531420618"
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SLACK_NOW = float(SLACK_TIMESTAMP) + 10

# GitHub, "Validating webhook deliveries" (docs.github.com/webhooks, "Testing the webhook payload validation")
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

SECRETS = SigningSecrets.model_validate(
    {
        "slack_signing_secret": SLACK_SECRET,
        "github_webhook_secret": GITHUB_SECRET,
        "jira_webhook_secret": "jira-secret",
        "servicenow_webhook_secret": "snow-secret",
    }
)


def slack_headers(signature: str = SLACK_SIGNATURE, timestamp: str = SLACK_TIMESTAMP) -> dict[str, str]:
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": timestamp}


def assert_no_leak(reason: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in reason
    assert "token=" not in reason and "Hello" not in reason


# --- the vendors' examples ----------------------------------------------------------------------
def test_slack_documented_example_verifies() -> None:
    verdict = verify_slack(SLACK_BODY, slack_headers(), SLACK_SECRET, now=SLACK_NOW)
    assert verdict.ok and verdict.status == 200 and verdict.source == "slack"


def test_our_slack_signature_matches_the_documented_one() -> None:
    assert slack_signature(SLACK_SECRET, SLACK_TIMESTAMP, SLACK_BODY) == SLACK_SIGNATURE


def test_github_documented_example_verifies() -> None:
    assert hub_signature(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE
    verdict = verify_hub_signature(
        GITHUB_BODY, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_SECRET, source="github"
    )
    assert verdict.ok


def test_jira_uses_the_same_scheme_under_x_hub_signature() -> None:
    body = b'{"webhookEvent":"jira:issue_created"}'
    headers = {"X-Hub-Signature": hub_signature("jira-secret", body)}
    assert verify_request("jira", body, headers, SECRETS, now=0).ok
    # GitHub's header name is not Jira's
    assert not verify_request(
        "jira", body, {"X-Hub-Signature-256": headers["X-Hub-Signature"]}, SECRETS, now=0
    ).ok


# --- what must be rejected ----------------------------------------------------------------------
def test_slack_wrong_secret_is_a_bad_signature() -> None:
    verdict = verify_slack(SLACK_BODY, slack_headers(), "not-the-secret", now=SLACK_NOW)
    assert (verdict.ok, verdict.status, verdict.reason) == (False, 401, "bad signature")
    assert_no_leak(verdict.reason, SLACK_SECRET, "not-the-secret")


def test_github_wrong_secret_is_a_bad_signature() -> None:
    verdict = verify_hub_signature(
        GITHUB_BODY, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, "another secret", source="github"
    )
    assert (verdict.status, verdict.reason) == (401, "bad signature")


@pytest.mark.parametrize("offset", [301, -301, 3600])
def test_slack_timestamp_older_or_newer_than_five_minutes_is_stale(offset: int) -> None:
    verdict = verify_slack(SLACK_BODY, slack_headers(), SLACK_SECRET, now=float(SLACK_TIMESTAMP) + offset)
    assert (verdict.status, verdict.reason) == (401, "stale timestamp")


def test_slack_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    assert verify_slack(SLACK_BODY, slack_headers(), SLACK_SECRET, now=float(SLACK_TIMESTAMP) + 300).ok


def test_a_replayed_slack_request_with_a_fresh_timestamp_header_fails() -> None:
    # The timestamp is signed: moving it into the window breaks the signature.
    fresh = str(int(SLACK_NOW) + 1000)
    verdict = verify_slack(SLACK_BODY, slack_headers(timestamp=fresh), SLACK_SECRET, now=float(fresh))
    assert verdict.reason == "bad signature"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature header"),
        ({"X-Slack-Signature": SLACK_SIGNATURE}, "missing timestamp header"),
        ({"X-Slack-Request-Timestamp": SLACK_TIMESTAMP}, "missing signature header"),
        (
            {"X-Slack-Signature": SLACK_SIGNATURE, "X-Slack-Request-Timestamp": "yesterday"},
            "malformed timestamp",
        ),
        (
            {"X-Slack-Signature": "v1=abc", "X-Slack-Request-Timestamp": SLACK_TIMESTAMP},
            "malformed signature header",
        ),
    ],
)
def test_slack_missing_or_malformed_headers(headers: dict[str, str], reason: str) -> None:
    verdict = verify_slack(SLACK_BODY, headers, SLACK_SECRET, now=SLACK_NOW)
    assert (verdict.status, verdict.reason) == (401, reason)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature header"),
        ({"X-Hub-Signature-256": "sha1=" + "0" * 40}, "malformed signature header"),
        ({"X-Hub-Signature-256": "sha256=zz"}, "malformed signature header"),
        ({"X-Hub-Signature": GITHUB_SIGNATURE}, "missing signature header"),  # Jira's header, not GitHub's
    ],
)
def test_github_missing_or_malformed_headers(headers: dict[str, str], reason: str) -> None:
    verdict = verify_hub_signature(GITHUB_BODY, headers, GITHUB_SECRET, source="github")
    assert (verdict.status, verdict.reason) == (401, reason)


def test_header_names_are_case_insensitive() -> None:
    lower = {k.lower(): v for k, v in slack_headers().items()}
    upper = {k.upper(): v for k, v in slack_headers().items()}
    assert verify_slack(SLACK_BODY, lower, SLACK_SECRET, now=SLACK_NOW).ok
    assert verify_slack(SLACK_BODY, upper, SLACK_SECRET, now=SLACK_NOW).ok
    assert verify_hub_signature(
        GITHUB_BODY, {"x-HUB-signature-256": GITHUB_SIGNATURE}, GITHUB_SECRET, source="github"
    ).ok


def test_uppercase_hex_in_a_hub_signature_is_accepted() -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + GITHUB_SIGNATURE.removeprefix("sha256=").upper()}
    assert verify_hub_signature(GITHUB_BODY, headers, GITHUB_SECRET, source="github").ok


@pytest.mark.parametrize("index", [0, len(SLACK_BODY) // 2, len(SLACK_BODY) - 1])
def test_slack_body_altered_by_one_byte_fails(index: int) -> None:
    altered = bytearray(SLACK_BODY)
    altered[index] ^= 0x01
    verdict = verify_slack(bytes(altered), slack_headers(), SLACK_SECRET, now=SLACK_NOW)
    assert verdict.reason == "bad signature"


def test_github_body_altered_by_one_byte_fails() -> None:
    verdict = verify_hub_signature(
        b"Hello, World?", {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_SECRET, source="github"
    )
    assert verdict.reason == "bad signature"


NON_UTF8 = b"payload=\xff\xfe\xc3\x28 not utf-8"


def test_non_utf8_body_is_verified_on_its_bytes() -> None:
    # A correctly signed body that is not UTF-8 verifies (decoding happens after, and fails there) ...
    ts = SLACK_TIMESTAMP
    good = slack_headers(slack_signature(SLACK_SECRET, ts, NON_UTF8), ts)
    assert verify_slack(NON_UTF8, good, SLACK_SECRET, now=SLACK_NOW).ok
    assert verify_hub_signature(
        NON_UTF8,
        {"X-Hub-Signature-256": hub_signature(GITHUB_SECRET, NON_UTF8)},
        GITHUB_SECRET,
        source="github",
    ).ok
    # ... and a forged one is a clean 401, not a crash.
    assert verify_slack(NON_UTF8, slack_headers(), SLACK_SECRET, now=SLACK_NOW).reason == "bad signature"


def test_a_signature_header_with_non_ascii_characters_is_rejected_not_raised() -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + "é" * 64}
    assert verify_hub_signature(GITHUB_BODY, headers, GITHUB_SECRET, source="github").status == 401
    snow = verify_servicenow(
        GITHUB_BODY, {"Authorization": "Bearer sécret"}, "snow-secret", auth=ServiceNowAuth(mode="bearer")
    )
    assert snow.reason == "bad bearer token"


def test_one_megabyte_body_is_413_before_any_secret_is_needed() -> None:
    body = b"a" * (1024 * 1024)
    verdict = verify_request("slack", body, slack_headers(), SigningSecrets(), now=SLACK_NOW)
    assert (verdict.ok, verdict.status, verdict.reason) == (False, 413, "body too large")


def test_a_source_without_a_configured_secret_rejects_everything() -> None:
    verdict = verify_request(
        "github", GITHUB_BODY, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, SigningSecrets(), now=0
    )
    assert (verdict.status, verdict.reason) == (401, "no signing secret configured")


# --- ServiceNow ---------------------------------------------------------------------------------
def test_servicenow_hmac_hex_in_a_configured_header() -> None:
    body = b'{"number":"INC0010001"}'
    auth = ServiceNowAuth(mode="hmac", header="X-Openflow-Signature", encoding="hex")
    sig = hmac.new(b"snow-secret", body, hashlib.sha256).hexdigest()
    assert verify_request(
        "servicenow", body, {"x-openflow-signature": sig}, SECRETS, now=0, servicenow=auth
    ).ok
    assert verify_request(
        "servicenow", body, {"X-Openflow-Signature": f"sha256={sig}"}, SECRETS, now=0, servicenow=auth
    ).ok
    wrong_header = verify_request(
        "servicenow", body, {"X-ServiceNow-Signature": sig}, SECRETS, now=0, servicenow=auth
    )
    assert wrong_header.reason == "missing signature header"


def test_servicenow_hmac_base64_as_generate_mac_produces_it() -> None:
    body = b'{"number":"INC0010001"}'
    auth = ServiceNowAuth(encoding="base64")
    sig = base64.b64encode(hmac.new(b"snow-secret", body, hashlib.sha256).digest()).decode()
    assert servicenow_signature("snow-secret", body, "base64") == sig
    assert verify_servicenow(body, {"X-ServiceNow-Signature": sig}, "snow-secret", auth=auth).ok
    assert verify_servicenow(
        body + b" ", {"X-ServiceNow-Signature": sig}, "snow-secret", auth=auth
    ).reason == ("bad signature")
    assert verify_servicenow(body, {"X-ServiceNow-Signature": "%%%"}, "snow-secret", auth=auth).reason == (
        "malformed signature header"
    )


def test_servicenow_bearer_secret() -> None:
    auth = ServiceNowAuth(mode="bearer")
    assert verify_servicenow(b"{}", {"authorization": "Bearer snow-secret"}, "snow-secret", auth=auth).ok
    assert verify_servicenow(b"{}", {"Authorization": "bearer snow-secret"}, "snow-secret", auth=auth).ok
    bad = verify_servicenow(b"{}", {"Authorization": "Bearer guess"}, "snow-secret", auth=auth)
    assert (bad.status, bad.reason) == (401, "bad bearer token")
    assert_no_leak(bad.reason, "snow-secret", "guess")
    missing = verify_servicenow(b"{}", {"Authorization": "Basic abc"}, "snow-secret", auth=auth)
    assert missing.reason == "missing bearer token"


def test_secrets_never_appear_in_a_repr() -> None:
    assert SLACK_SECRET not in repr(SECRETS) and GITHUB_SECRET not in str(SECRETS)
