"""Replays of signed webhook requests. The signatures cover the body only (Slack: the timestamp and
the body), not the delivery id header, so a captured signed request could come back under a new
`X-GitHub-Delivery` (or, for Slack, within the 5-minute window). Besides the delivery id (or
Slack's trigger_id), every request that would start something also claims a digest of what was
signed; a request whose digest was claimed before is a replay: it gets the answer the first one got
(kept with the claim) and starts nothing. This module holds those keys, the claims and the stored
answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.function_url import _response
from openflow_autopilot.triggers.verify import SLACK_MAX_AGE_SECONDS

logger = logging.getLogger("openflow_autopilot.triggers")

# How long a Slack command's replay keys are kept. verify_slack accepts a timestamp up to 5 minutes
# either side of the clock, so one signed request stays acceptable for 10 minutes in all; keys kept
# for 10 minutes from the first sighting outlive that whole span (plus a minute for whole-second
# rounding and clock skew between containers). Past it the timestamp check refuses the request
# before it gets here, and trigger_id is inside the signed body, so it cannot come back later with
# a fresh timestamp either. The configured TTL (30 days, sized for GitHub's redeliveries) would
# only fill the table.
SLACK_REPLAY_TTL_SECONDS = 2 * SLACK_MAX_AGE_SECONDS + 60


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _answer_note(status: int, body: Mapping[str, Any]) -> str:
    """The first answer, kept with the claim so a replay gets the same status and body."""
    return json.dumps({"statusCode": status, "body": body}, separators=(",", ":"), sort_keys=True)


def _stored_answer(note: str, fallback: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(note)
    except (TypeError, ValueError):
        data = None
    if (
        isinstance(data, dict)
        and isinstance(data.get("statusCode"), int)
        and isinstance(data.get("body"), dict)
    ):
        return _response(data["statusCode"], data["body"])
    return _response(200, fallback)  # a record written by an older version, or without an answer


def _release_quietly(deps: WebhookDeps, keys: list[str]) -> None:
    for key in keys:
        try:
            deps.store.release(key)
        except Exception as exc:  # the record then expires through its TTL
            logger.warning("could not release an idempotency key", extra={"error": type(exc).__name__})


def _claim_all(
    deps: WebhookDeps, claims: list[tuple[str, str]], *, now: float, ttl_seconds: int
) -> tuple[int, str] | None:
    """Claim every (key, note) in order (each a conditional put). None when all were free; else
    (index, note) of the first key held already, after releasing the keys this call did claim:
    a request that starts nothing leaves no record of its own."""
    claimed: list[str] = []
    for index, (key, note) in enumerate(claims):
        claim = deps.store.claim(key, now=now, ttl_seconds=ttl_seconds, note=note)
        if not claim.first:
            _release_quietly(deps, claimed)
            return index, claim.note
        claimed.append(key)
    return None


def _slack_keys(trigger_id: str, headers: Mapping[str, str], body: bytes) -> list[str]:
    # trigger_id is unique per command invocation; the signed base string catches a replay of a
    # command sent without one. Both come from verified input only.
    signed = b"v0:" + headers.get("x-slack-request-timestamp", "").encode() + b":" + body
    keys = [f"slack:signed:{_digest(signed)}"]
    if trigger_id:
        keys.insert(0, f"slack:trigger:{_digest(trigger_id.encode())}")
    return keys
