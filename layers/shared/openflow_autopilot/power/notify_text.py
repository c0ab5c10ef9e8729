"""What the notifier says about a power workflow run: stopped, started, skipped (and why), not
stopped (the WAL guard's numbers), or failed (where, why, what to do). `notify.build` calls
`power_message` first and uses it when the state is the power workflow's."""

from __future__ import annotations

import json
from typing import Any, Literal

Status = Literal["SUCCEEDED", "FAILED"]


def _lines(state: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, result in (state.get("phases") or {}).items():
        if isinstance(result, dict):
            kinds = [str(a.get("kind")) for a in result.get("actions") or []]
            lines.append(f"- {name}: {', '.join(kinds) if kinds else 'no change'}")
            lines.extend(f"    note: {n}" for n in result.get("notes") or [])
    compute = (state.get("polls") or {}).get("compute") or {}
    if compute:
        kinds = [str(a.get("kind")) for a in compute.get("actions") or []]
        lines.append(f"- VerifyComputeGone: {', '.join(kinds) if kinds else 'no change'}")
        lines.extend(f"    note: {n}" for n in compute.get("notes") or [])
    slot = (state.get("polls") or {}).get("slot") or {}
    if slot.get("note"):
        lines.append(f"- CheckSlotAdvances: {slot['note']}")
    return lines


def _cause(error: dict[str, Any]) -> str:
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause)
    except (ValueError, TypeError):
        return cause
    return str(parsed.get("errorMessage") or cause) if isinstance(parsed, dict) else cause


def power_message(
    state: dict[str, Any], *, name: str, execution: str | None = None, failed_in: str | None = None
) -> tuple[Status, str, str] | None:
    """(status, subject, text) for a power workflow state; None for any other state."""
    power = state.get("power")
    if not isinstance(power, dict):
        return None
    deployment = str(power.get("deployment") or name)
    action = str(power.get("action") or "?")
    decision = state.get("decision") or {}
    outcome = state.get("outcome") or {}
    tail = [
        *(["Steps:", *_lines(state)] if _lines(state) else []),
        *([f"Execution: {execution}"] if execution else []),
    ]
    error = state.get("error")
    if error:
        where = failed_in or "?"
        text = [
            f"The power workflow's {action} of {deployment} ('{name}') failed in {where} "
            f"({error.get('Error')}).",
            f"What happened: {_cause(error)[:2000]}",
            "What to do: fix the cause named above, then run the power workflow again; steps already "
            "done take no action on a rerun.",
            *tail,
        ]
        return "FAILED", f"Openflow Autopilot: {deployment} {action} FAILED in {where}", "\n".join(text)
    result = str(outcome.get("result") or "?")
    why = str(outcome.get("why") or decision.get("why") or "")
    headline = {
        "stopped": f"{deployment} is stopped",
        "started": f"{deployment} is running",
        "skipped": f"{deployment}: the {action} was skipped",
        "refused": f"{deployment} was NOT stopped (WAL guard)",
    }.get(result, f"{deployment}: {result}")
    text = [f"{headline} ('{name}', {power.get('reason', 'manual')} {action} at {power.get('now')})."]
    if why:
        text.append(f"Why: {why}")
    if outcome.get("restart_at"):
        text.append(
            f"It starts again early, at {outcome['restart_at']}, so the source does not run out of room "
            "for WAL."
        )
    if outcome.get("note"):
        text.append(str(outcome["note"]))
    subject = {
        "stopped": f"Openflow Autopilot: {deployment} stopped",
        "started": f"Openflow Autopilot: {deployment} started",
        "skipped": f"Openflow Autopilot: {deployment} {action} skipped",
        "refused": f"Openflow Autopilot: {deployment} NOT stopped (WAL guard)",
    }.get(result, f"Openflow Autopilot: {deployment} {result}")
    return "SUCCEEDED", subject, "\n".join([*text, *tail])
