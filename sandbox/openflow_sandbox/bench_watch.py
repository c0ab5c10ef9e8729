"""Benchmark: one watch run in a provisioned sandbox (healthy: every check, the heartbeat seen),
and what the watch costs per month at its default interval.

The watch is an Express workflow, billed per request and per GB-second of duration (memory in 64 MB
steps; its payload is a few kB, so 64 MB), not per state transition: $1.00 per million requests and
$0.00001667 per GB-second (aws.amazon.com/step-functions/pricing, list price, free tier ignored).
A month is 365.25 / 12 days of runs every `watch.interval_minutes` minutes, all counted as "on" runs
(the upper bound: asleep, most runs end after Load). Duration: the measured run, and the ceiling
where every run waits the whole `watch.heartbeat_wait_seconds` for its heartbeat. The same runs as
a Standard workflow, at the measured transitions and $0.025 per 1,000, for comparison. Lambda:
$0.20 per million requests and $0.0000166667 per GB-second at the functions' 512 MB.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from openflow_autopilot.config_monitoring import WatchSettings

EXPRESS_USD_PER_REQUEST = 1.00 / 1_000_000
EXPRESS_USD_PER_GB_SECOND = 0.00001667
EXPRESS_BILLED_GB = 64 / 1024
STANDARD_USD_PER_TRANSITION = 0.025 / 1000
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_USD_PER_GB_SECOND = 0.0000166667
LAMBDA_GB = 512 / 1024
DAYS_PER_MONTH = 365.25 / 12


def measure_watch(sandbox: Any, request: dict[str, Any], runs: int = 3) -> dict[str, Any]:
    from openflow_autopilot.snowflake.identifiers import check_identifier
    from openflow_sandbox.power_rehearsal import create_schedules
    from openflow_sandbox.watch_rehearsal import run_watch

    create_schedules(sandbox, request)
    deployment = check_identifier(request["openflow"]["deployment_name"])
    invocations = sandbox.moto.registry.invocations
    samples = []
    for _ in range(runs):
        before = len(invocations)
        t0 = time.perf_counter()
        result = run_watch(sandbox, deployment)
        seconds = time.perf_counter() - t0
        if result.report.status != "SUCCEEDED" or result.outcome.get("severity") != "ok":
            raise RuntimeError(f"watch run {result.report.status}: {result.outcome}")
        calls = invocations[before:]
        samples.append(
            {
                "state_transitions": result.report.state_transitions,
                "seconds": seconds,
                "lambda_invocations": len(calls),
                "lambda_summed_seconds": sum(c.seconds for c in calls),
                "heartbeat_seconds": result.outcome.get("heartbeat_seconds"),
            }
        )
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def monthly(run: dict[str, Any], settings: WatchSettings | None = None) -> dict[str, Any]:
    settings = settings or WatchSettings()
    per_month = DAYS_PER_MONTH * 24 * 60 / settings.interval_minutes
    ceiling_s = run["seconds"] + settings.heartbeat_wait_seconds

    def express(seconds: float) -> float:
        return per_month * (EXPRESS_USD_PER_REQUEST + seconds * EXPRESS_BILLED_GB * EXPRESS_USD_PER_GB_SECOND)

    lam = per_month * (
        run["lambda_invocations"] * LAMBDA_USD_PER_REQUEST
        + run["lambda_summed_seconds"] * LAMBDA_GB * LAMBDA_USD_PER_GB_SECOND
    )
    return {
        "interval_minutes": settings.interval_minutes,
        "runs_per_month": round(per_month),
        "express_usd_per_month": round(express(run["seconds"]), 4),
        "express_ceiling_usd_per_month": round(express(ceiling_s), 4),
        "ceiling_seconds_per_run": round(ceiling_s, 1),
        "standard_usd_per_month": round(
            per_month * run["state_transitions"] * STANDARD_USD_PER_TRANSITION, 4
        ),
        "lambda_usd_per_month": round(lam, 4),
    }


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    run = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    return {"runs": len(samples), "run": run, "month": monthly(run)}
