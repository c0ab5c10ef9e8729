"""The sandbox's stand-in for a Function URL builds the event Lambda would: payload format 2.0,
lower-case headers (repeats joined by commas), text bodies as text and anything else base64."""

from __future__ import annotations

import base64

from openflow_sandbox.webhook_server import function_url_event


def event(content_type: str, body: bytes) -> dict[str, object]:
    headers = [
        ("Content-Type", content_type),
        ("X-Slack-Signature", "v0=abc"),
        ("Accept", "a"),
        ("accept", "b"),
    ]
    return function_url_event(
        "POST", "/slack/commands?x=1", headers, body, domain="127.0.0.1:9", source_ip="127.0.0.1"
    )


def test_a_form_post_arrives_base64_encoded_with_lower_case_headers() -> None:
    e = event("application/x-www-form-urlencoded", b"text=status")
    assert e["version"] == "2.0" and e["rawPath"] == "/slack/commands" and e["rawQueryString"] == "x=1"
    assert e["isBase64Encoded"] is True and base64.b64decode(str(e["body"])) == b"text=status"
    headers = e["headers"]
    assert isinstance(headers, dict)
    assert headers["x-slack-signature"] == "v0=abc" and headers["accept"] == "a,b"
    assert e["requestContext"]["http"]["method"] == "POST"  # type: ignore[index]


def test_json_arrives_as_text_unless_it_is_not_utf8() -> None:
    assert event("application/json", b'{"a": 1}')["body"] == '{"a": 1}'
    raw = event("application/json", b"\xff\xfe")
    assert raw["isBase64Encoded"] is True and base64.b64decode(str(raw["body"])) == b"\xff\xfe"
    assert "body" not in event("application/json", b"")
