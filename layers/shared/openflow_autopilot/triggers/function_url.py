"""The webhook's HTTP plumbing for a Lambda Function URL event (payload format 2.0): the request's
path and method, its raw body (base64-decoded, refused past the size limit before decoding a huge
one), and the JSON responses, including the logged rejections (400/401/404/405/413).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any

from openflow_autopilot.errors import InvalidRequest

logger = logging.getLogger("openflow_autopilot.triggers")


def _response(status: int, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body) if body is not None else "",
    }


class _TooLarge(Exception):
    pass


def _raw_body(event: Mapping[str, Any], limit: int) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InvalidRequest("the event body is not text")
    if event.get("isBase64Encoded"):
        if len(body) // 4 * 3 > limit + 3:  # decide before decoding a huge body
            raise _TooLarge
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogateescape")
    if len(raw) > limit:
        raise _TooLarge
    return raw


def _path(event: Mapping[str, Any]) -> str:
    path = str(event.get("rawPath") or event.get("path") or "/")
    return path.rstrip("/") or "/"


def _method(event: Mapping[str, Any]) -> str:
    http = ((event.get("requestContext") or {}).get("http")) or {}
    return str(http.get("method") or event.get("httpMethod") or "").upper()


def _rejected(route: str, source: str, status: int, reason: str) -> dict[str, Any]:
    logger.warning(
        "webhook request rejected",
        extra={"route": route[:100], "source": source, "status": status, "reason": reason},
    )
    messages = {
        400: "bad request",
        401: "unauthorized",
        404: "not found",
        405: "method not allowed",
        413: "payload too large",
    }
    return _response(status, {"error": messages.get(status, "error")})
