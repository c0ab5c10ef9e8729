"""Instants in events: ISO 8601 with a zone (the Scheduler's `<aws.scheduler.scheduled-time>`,
`$$.State.EnteredTime`, a CLI's --now), refused with the field's name when they are not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openflow_autopilot.errors import InvalidRequest


def parse_instant(value: Any, field: str) -> datetime:
    """An aware datetime from an ISO string ('Z' or an offset), or InvalidRequest naming `field`."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{field}: {value!r} is not an ISO date-time", fix="e.g. 2026-03-10T20:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidRequest(f"{field}: {value!r} has no time zone", fix="add Z or an offset such as +09:00")
    return parsed
