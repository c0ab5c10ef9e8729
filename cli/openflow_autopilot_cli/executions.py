"""Start a state machine execution, follow it, and turn its history into a report.

Used by the CLI for the sandbox demo and for real deployments alike: only the endpoint of
the Step Functions client differs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
_STATE_EVENTS: tuple[tuple[Literal["entered", "exited"], str], ...] = (
    ("entered", "StateEntered"),
    ("exited", "StateExited"),
)


class PhaseReport(BaseModel):
    name: str
    status: Literal["SUCCEEDED", "FAILED", "RUNNING"]
    started_at: str
    ended_at: str | None = None
    seconds: float | None = None
    actions: list[dict[str, Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    attempts: int = 1  # a polled state (CheckStack, CheckSource) is one phase entry, checked N times


class ExecutionReport(BaseModel):
    status: str
    execution_arn: str
    started_at: str | None = None
    ended_at: str | None = None
    phases: list[PhaseReport] = Field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    state_transitions: int = 0


class StateEvent(BaseModel):
    kind: Literal["entered", "exited", "failed"]
    state: str
    state_type: str = ""  # Task, Wait, Choice, Pass, Succeed, Fail (from the history event type)
    at: datetime
    detail: str | None = None


def _iso(ts: datetime | str | None) -> str | None:
    if ts is None:
        return None
    return ts.isoformat() if isinstance(ts, datetime) else str(ts)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def build_report(description: dict[str, Any], events: list[dict[str, Any]]) -> ExecutionReport:
    """Phases are the Task states, in the order entered, with their actions from their output."""
    phases: list[PhaseReport] = []
    open_by_name: dict[str, PhaseReport] = {}
    transitions = 0
    for ev in events:
        etype = ev["type"]
        if etype.endswith("StateEntered"):
            transitions += 1
        if etype == "TaskStateEntered":
            name = ev["stateEnteredEventDetails"]["name"]
            earlier = next((p for p in phases if p.name == name), None)
            if earlier is not None and phases[-1] is earlier:
                earlier.attempts += 1  # a wait loop came back to the same check
                earlier.status = "RUNNING"
                open_by_name[name] = earlier
                continue
            phase = PhaseReport(name=name, status="RUNNING", started_at=_iso(ev["timestamp"]) or "")
            phases.append(phase)
            open_by_name[name] = phase
        elif etype in ("LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut", "TaskTimedOut"):
            details: dict[str, Any] = next((v for k, v in ev.items() if k.endswith("EventDetails")), {})
            for phase in open_by_name.values():
                phase.error = f"{details.get('error')}: {_cause_message(details.get('cause'))}"
        elif etype == "TaskStateExited":
            details = ev["stateExitedEventDetails"]
            if details["name"] not in open_by_name:
                continue
            phase = open_by_name.pop(details["name"])
            phase.ended_at = _iso(ev["timestamp"])
            phase.seconds = (
                (ev["timestamp"] - _parse(phase.started_at)).total_seconds() if phase.started_at else None
            )
            output = json.loads(details.get("output") or "{}")
            result = (output.get("phases") or {}).get(details["name"]) if isinstance(output, dict) else None
            failed = isinstance(output, dict) and "error" in output and phase.error is not None
            phase.status = "FAILED" if failed else "SUCCEEDED"
            if isinstance(result, dict):
                phase.actions = list(result.get("actions") or [])
                phase.notes = list(result.get("notes") or [])
    return ExecutionReport(
        status=description["status"],
        execution_arn=description["executionArn"],
        started_at=_iso(description.get("startDate")),
        ended_at=_iso(description.get("stopDate")),
        phases=phases,
        error=description.get("error"),
        cause=description.get("cause"),
        state_transitions=transitions,
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _cause_message(cause: str | None) -> str:
    if not cause:
        return ""
    try:
        data = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    return str(data.get("errorMessage", cause)) if isinstance(data, dict) else cause


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    on_event: Callable[[StateEvent], None] | None = None,
    poll_seconds: float = 0.2,
    timeout_seconds: float = 600,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll until the execution ends; report each state entered/exited as it happens."""
    seen = 0
    deadline = clock() + timeout_seconds
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        if on_event is None and description["status"] not in TERMINAL:
            # nobody watches the states go by: the history is read once, when the execution ended
            # (each read returns all of it, so reading it every poll grows with the run's square)
            if clock() > deadline:
                raise TimeoutError(
                    f"execution {execution_arn} still {description['status']} after {timeout_seconds}s"
                )
            sleep(poll_seconds)
            continue
        events = history(sfn, execution_arn)
        for ev in events[seen:]:
            if on_event is None:
                continue
            etype = ev["type"]
            for kind, suffix in _STATE_EVENTS:
                if etype.endswith(suffix):
                    name = ev[f"state{suffix[5:]}EventDetails"]["name"]
                    state_type = etype.removesuffix(suffix)
                    on_event(StateEvent(kind=kind, state=name, state_type=state_type, at=ev["timestamp"]))
            if etype in ("LambdaFunctionFailed", "TaskFailed"):
                details: dict[str, Any] = next((v for k, v in ev.items() if k.endswith("EventDetails")), {})
                on_event(StateEvent(kind="failed", state="", at=ev["timestamp"], detail=details.get("error")))
        seen = len(events)
        if description["status"] in TERMINAL:
            return description, events
        if clock() > deadline:
            raise TimeoutError(
                f"execution {execution_arn} still {description['status']} after {timeout_seconds}s"
            )
        sleep(poll_seconds)
