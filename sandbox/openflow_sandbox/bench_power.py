"""Benchmark: the power state machine's stop and start after a provisioning run, and what the
schedules cost per month in Step Functions state transitions.

In a sandbox that has just provisioned, the same steps as the demo's rehearsal (power_rehearsal):
the deployment's node groups, the schedules, one scheduled stop, WAL written while stopped, the next
morning's start; then the same with `schedule.sleep: deep` (the agent and every node group, the
management one included, asleep; the wake ends with a canary row seen in Snowflake). Each
execution's state transitions, wall time, Lambda invocations and their summed duration are recorded,
and for a start the canary's latency and the time from the execution's start to the canary seen.

Per month: EventBridge Scheduler starts one execution per cron firing. The request's schedule gives
the firings per week (each start and stop spec's weekdays); a month is 365.25 / 12 / 7 = 4.348 weeks
on average. A start on a holiday still fires (the workflow skips it), so it is counted in full.
Price: standard workflows at list price, $0.025 per 1,000 state transitions, the free tier ignored.
"""

from __future__ import annotations

import copy
import statistics
import time
from datetime import datetime
from typing import Any

from openflow_autopilot.power.schedule import parse_schedule
from openflow_autopilot.power.schedule_cron import scheduler_expressions

STEP_FUNCTIONS_USD_PER_1000_TRANSITIONS = 0.025  # standard workflows, list price
DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7
STOP_AT = "2026-03-10T20:00:00+09:00"
START_AT = "2026-03-11T08:00:00+09:00"
DEEP_STOP_AT = "2026-03-11T20:00:00+09:00"
DEEP_START_AT = "2026-03-12T08:00:00+09:00"


def transitions_cost_usd(transitions: float) -> float:
    """Dollar cost of `transitions` standard-workflow state transitions at list price."""
    return round(transitions * STEP_FUNCTIONS_USD_PER_1000_TRANSITIONS / 1000, 6)


def firings_per_week(schedule: Any) -> dict[str, int]:
    """How many times a week the schedules start a stop and a start (from the Scheduler specs)."""
    counts = {"stop": 0, "start": 0}
    for spec in scheduler_expressions(parse_schedule(schedule)):
        counts[spec.action] += len(spec.days)
    return counts


def _describe(schedule: Any) -> str:
    parsed = parse_schedule(schedule)
    specs = scheduler_expressions(parsed)
    parts = [f"{spec.action} {'/'.join(spec.days)} {spec.time}" for spec in specs]
    return f"{', '.join(parts)} {parsed.timezone}"


def monthly_schedule_cost(schedule: Any, stop_transitions: float, start_transitions: float) -> dict[str, Any]:
    """Executions, transitions and dollars per average month for `schedule`'s stops and starts."""
    weekly = firings_per_week(schedule)
    stops = weekly["stop"] * WEEKS_PER_MONTH
    starts = weekly["start"] * WEEKS_PER_MONTH
    transitions = stops * stop_transitions + starts * start_transitions
    return {
        "stops_per_week": weekly["stop"],
        "starts_per_week": weekly["start"],
        "weeks_per_month": round(WEEKS_PER_MONTH, 3),
        "stops_per_month": round(stops, 2),
        "starts_per_month": round(starts, 2),
        "transitions_per_month": round(transitions, 1),
        "cost_per_month_usd": transitions_cost_usd(transitions),
        "how": (
            "EventBridge Scheduler starts one power execution per firing; the firings per week come "
            f"from the request's schedule ({_describe(schedule)}), times 365.25/12/7 = "
            f"{WEEKS_PER_MONTH:.3f} weeks per month; each execution is charged the transitions measured "
            f"for its action at ${STEP_FUNCTIONS_USD_PER_1000_TRANSITIONS} per 1,000 (free tier ignored); "
            "starts on holidays still fire and are counted"
        ),
    }


def _wake_to_canary(report: Any) -> float | None:
    """Seconds from the start execution's beginning to the canary row seen in Snowflake."""
    seen = [p.ended_at for p in report.phases if p.name == "CheckCanary" and p.ended_at]
    if not seen or not report.started_at:
        return None
    return (datetime.fromisoformat(seen[-1]) - datetime.fromisoformat(report.started_at)).total_seconds()


def _stop_and_start(
    sandbox: Any, request: dict[str, Any], stop_at: str, start_at: str
) -> dict[str, dict[str, Any]]:
    from openflow_autopilot.snowflake.identifiers import check_identifier
    from openflow_sandbox.power_rehearsal import (
        create_schedules,
        execution_output,
        run_power,
        write_while_stopped,
    )

    deployment = check_identifier(request["openflow"]["deployment_name"])
    create_schedules(sandbox, request, now=stop_at)  # stores the request the power workflow reads
    invocations = sandbox.moto.registry.invocations
    out: dict[str, dict[str, Any]] = {}
    for action, now in (("stop", stop_at), ("start", start_at)):
        before = len(invocations)
        t0 = time.perf_counter()
        report = run_power(sandbox, deployment, action, now=now)
        seconds = time.perf_counter() - t0
        if report.status != "SUCCEEDED":
            raise RuntimeError(f"power {action} {report.status}: {report.error}: {report.cause}")
        calls = invocations[before:]
        out[action] = {
            "state_transitions": report.state_transitions,
            "seconds": seconds,
            "lambda_invocations": len(calls),
            "lambda_summed_seconds": sum(c.seconds for c in calls),
        }
        if action == "start":
            canary = (execution_output(sandbox, report).get("polls") or {}).get("canary") or {}
            out[action]["canary_seconds"] = canary.get("canary_seconds")
            out[action]["wake_to_canary_s"] = _wake_to_canary(report)
        if action == "stop":
            write_while_stopped(sandbox)
    return out


def measure_power(sandbox: Any, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One scheduled stop and the next start in a provisioned sandbox, as the demo rehearses them."""
    from openflow_sandbox.power_rehearsal import ensure_compute

    ensure_compute(sandbox, sandbox.compute, request)
    return _stop_and_start(sandbox, request, STOP_AT, START_AT)


def measure_deep(sandbox: Any, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The same with `schedule.sleep: deep` (the whole data plane: agent, every node group), on the
    next day's schedule, after measure_power."""
    from openflow_sandbox.power_rehearsal import ensure_compute

    deep = copy.deepcopy(request)
    deep["schedule"] = {**(deep.get("schedule") or {}), "sleep": "deep"}
    ensure_compute(sandbox, sandbox.compute, deep)
    return _stop_and_start(sandbox, deep, DEEP_STOP_AT, DEEP_START_AT)


def summarize(samples: list[dict[str, dict[str, Any]]], schedule: Any = None) -> dict[str, Any]:
    """Medians over the runs for the stop and the start, their cost, and the schedules' per month."""
    result: dict[str, Any] = {"runs": len(samples)}
    for action in ("stop", "start"):
        rows = [s[action] for s in samples]
        transitions = statistics.median(r["state_transitions"] for r in rows)
        result[action] = {
            "state_transitions": transitions,
            "cost_usd": transitions_cost_usd(transitions),
            "median_s": round(statistics.median(r["seconds"] for r in rows), 3),
            "lambda_invocations": statistics.median(r["lambda_invocations"] for r in rows),
            "lambda_summed_seconds": round(statistics.median(r["lambda_summed_seconds"] for r in rows), 3),
        }
        for key in ("canary_seconds", "wake_to_canary_s"):
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                result[action][key] = round(statistics.median(values), 3)
    if schedule:
        result["schedule"] = monthly_schedule_cost(
            schedule, result["stop"]["state_transitions"], result["start"]["state_transitions"]
        )
    return result
