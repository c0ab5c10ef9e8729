"""SYSTEM$WAIT_FOR_* functions for Openflow deployments, runtimes and connectors."""

from __future__ import annotations

from collections.abc import Callable

from .. import errors
from ..context import Ctx
from ..sqltext import Value, parse_name
from ..state import Lifecycle
from .common import (
    FAILED_STATUSES,
    TRANSITIONAL_STATUSES,
)
from .connectors import find_connector
from .deployments import find_deployment
from .runtimes import find_runtime


def _wait(
    ctx: Ctx, args: list[Value], *, kind: str, find: Callable[[str], Lifecycle], with_statuses: bool
) -> str:
    """Snowflake blocks until every object settles (or reaches an allowed status), returning 'OK', and
    raises on timeout or failure. The emulation never blocks: each call is one status read; if that
    does not settle the object, it raises the timeout error at once, and the caller waits again."""
    if len(args) < (3 if with_statuses else 2):
        raise errors.syntax_error(")")
    timeout = args[0].as_int()
    allowed = {s.strip().upper() for s in args[1].as_text().split(",")} if with_statuses else None
    names = [a.as_text() for a in args[2 if with_statuses else 1 :]]
    targets = [(name, find(name)) for name in names]
    for name, obj in targets:
        obj.observe()
        if obj.status in FAILED_STATUSES:
            raise errors.invalid_state(f"Openflow {kind} '{name}' entered status {obj.status}.")
        settled = (
            obj.status in allowed
            if allowed is not None
            else (obj.pending is None and obj.status not in TRANSITIONAL_STATUSES)
        )
        if not settled:
            target = f"status {sorted(allowed)}" if allowed is not None else "a stable status"
            raise errors.wait_timeout(
                timeout, f"openflow {kind} '{name}' to reach {target} (current status {obj.status})"
            )
    return "OK"


def _find_deployment(ctx: Ctx) -> Callable[[str], Lifecycle]:
    return lambda text: find_deployment(ctx, parse_name(text)[0])


def _find_runtime(ctx: Ctx) -> Callable[[str], Lifecycle]:
    return lambda text: find_runtime(ctx, parse_name(text))


def _find_connector(ctx: Ctx) -> Callable[[str], Lifecycle]:
    return lambda text: find_connector(ctx, parse_name(text))


SystemFunction = Callable[[Ctx, list[Value]], object]
SYSTEM_FUNCTIONS: dict[str, SystemFunction] = {
    "SYSTEM$WAIT_FOR_OPENFLOW_DEPLOYMENT_STATUS": lambda ctx, a: _wait(
        ctx, a, kind="deployment", find=_find_deployment(ctx), with_statuses=True
    ),
    "SYSTEM$WAIT_FOR_STABLE_OPENFLOW_DEPLOYMENTS": lambda ctx, a: _wait(
        ctx, a, kind="deployment", find=_find_deployment(ctx), with_statuses=False
    ),
    "SYSTEM$WAIT_FOR_OPENFLOW_RUNTIME_STATUS": lambda ctx, a: _wait(
        ctx, a, kind="runtime", find=_find_runtime(ctx), with_statuses=True
    ),
    "SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES": lambda ctx, a: _wait(
        ctx, a, kind="runtime", find=_find_runtime(ctx), with_statuses=False
    ),
    "SYSTEM$WAIT_FOR_OPENFLOW_CONNECTOR_STATUS": lambda ctx, a: _wait(
        ctx, a, kind="connector", find=_find_connector(ctx), with_statuses=True
    ),
    "SYSTEM$WAIT_FOR_STABLE_OPENFLOW_CONNECTORS": lambda ctx, a: _wait(
        ctx, a, kind="connector", find=_find_connector(ctx), with_statuses=False
    ),
}
