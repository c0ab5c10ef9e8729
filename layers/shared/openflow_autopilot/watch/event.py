"""Reading the watch state machine's payload: `request` (read from S3 by Load), `watch`
(deployment, mode, now, settings), `memory` (what the last run left) and `at` (the real time the state
was entered), and the source's admin login."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.core.times import parse_instant
from openflow_autopilot.phases import source as source_phase
from openflow_autopilot.watch.models import WatchMemory


def instant(value: Any, field: str) -> datetime:
    return parse_instant(value, field).astimezone(UTC)


def request_of(event: dict[str, Any]) -> ProvisionRequest:
    return parse_request(event.get("request"))


def watch_of(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event.get("watch") or {})


def memory_of(event: dict[str, Any]) -> WatchMemory:
    return WatchMemory.model_validate(
        event.get("memory") or {"deployment": watch_of(event).get("deployment", "")}
    )


def at_of(event: dict[str, Any]) -> datetime:
    return instant(event.get("at") or datetime.now(UTC).isoformat(), "at")


def admin_dsn(request: ProvisionRequest, secrets: Any, rds: Any) -> str:
    region = request.aws.region
    admin = source_phase.admin_login(
        request,
        secrets=secrets or client("secretsmanager", region),
        rds=(rds or client("rds", region)) if request.source.rds_instance_id else None,
    )
    return admin.dsn()
