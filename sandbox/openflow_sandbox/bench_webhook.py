"""Benchmark: the webhook's acknowledgement latency and its cold import time.

- Latency: `handle` in-process on n signed Slack slash commands (a mix of status, stop, extend,
  setup and help), with in-memory fakes for the secret, the idempotency store and the job
  dispatch, so the numbers are the function's own work: routing, HMAC verification, parsing,
  planning and serialising the job. The first request (which imports slack_sdk) is reported
  separately.
- Cold import: a fresh interpreter importing the webhook entry module (median of `runs`), the
  function's handler module as Lambda loads it (functions/webhook/app.py: the entry module plus
  Powertools' logger and the environment read), and a fresh interpreter answering its first signed
  request (import + build + handle).

Run: `python -m openflow_sandbox.bench_webhook [--n 1000] [--runs 7]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.parse
from pathlib import Path
from typing import Any

from openflow_autopilot.triggers.config import WebhookConfig
from openflow_autopilot.triggers.deps import WebhookDeps
from openflow_autopilot.triggers.models import JOB_EVENT_KEY, Job
from openflow_autopilot.triggers.store import MemoryIdempotencyStore
from openflow_autopilot.triggers.verify import slack_signature
from openflow_autopilot.triggers.webhook import handle

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "webhook" / "app.py"
SECRET = "bench-signing-secret"  # noqa: S105 - a throwaway value for signing bench requests
USER = "U0BENCH"
TEXTS = ("status", "stop", "extend 2", "setup sales-cdc", "help", "cost", "start", "status OTHER_DEP")

_COLD_FIRST_REQUEST = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    from openflow_sandbox.bench_webhook import _deps, _event
    from openflow_autopilot.triggers.webhook import handle
    config, deps = _deps()
    response = handle(_event(0, time.time()), config=config, deps=deps)
    assert response["statusCode"] == 200, response
    print(time.perf_counter() - t0)
    """
)
_COLD_IMPORT = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import openflow_autopilot.triggers.webhook
    print(time.perf_counter() - t0)
    """
)
_COLD_IMPORT_HANDLER = textwrap.dedent(
    f"""
    import importlib.util, time
    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", {str(HANDLER)!r})
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    print(time.perf_counter() - t0)
    """
)


def _deps() -> tuple[WebhookConfig, WebhookDeps]:
    config = WebhookConfig(
        provision_state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:provision",
        power_state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:power",
        artifact_bucket="bench-artifacts",
        webhook_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf",  # noqa: S106
        slack_allowed_users=frozenset({USER}),
        default_deployment="SALES_CDC_DEPLOYMENT",
        function_name="webhook",
    )
    sent: list[bytes] = []

    def dispatch(job: Job) -> None:
        # What the real dispatch does before its Lambda call: serialise the invocation payload.
        sent.append(json.dumps({JOB_EVENT_KEY: job.model_dump(mode="json")}).encode())

    deps = WebhookDeps(
        config,
        secret_provider=lambda _id: {"slack_signing_secret": SECRET},
        store=MemoryIdempotencyStore(),
        dispatch=dispatch,
    )
    return config, deps


def _event(i: int, now: float) -> dict[str, Any]:
    body = urllib.parse.urlencode(
        {
            "token": "bench",
            "team_id": "T0BENCH",
            "channel_id": "C0BENCH",
            "user_id": USER,
            "user_name": "bench",
            "command": "/openflow",
            "text": TEXTS[i % len(TEXTS)],
            "response_url": f"https://hooks.slack.com/commands/T0BENCH/{i}/x",
            "trigger_id": f"{i}.bench.{i:08x}",
        }
    ).encode()
    stamp = str(int(now))
    return {
        "rawPath": "/slack/commands",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(SECRET, stamp, body),
        },
        "body": body.decode(),
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST"}},
    }


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def _median_subprocess_seconds(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def bench_webhook(n: int = 1000, runs: int = 7) -> dict[str, Any]:
    """p50/p99 acknowledgement latency over n signed Slack commands, and cold import times (ms)."""
    config, deps = _deps()
    now = time.time()
    events = [_event(i, now) for i in range(n + 1)]
    start = time.perf_counter()
    first = handle(events[0], config=config, deps=deps, now=now)
    first_ms = (time.perf_counter() - start) * 1000
    assert first["statusCode"] == 200, first
    latencies = []
    for event in events[1:]:
        start = time.perf_counter()
        response = handle(event, config=config, deps=deps, now=now)
        latencies.append((time.perf_counter() - start) * 1000)
        assert response["statusCode"] == 200, response
    return {
        "n": n,
        "ack_p50_ms": round(_percentile(latencies, 50), 3),
        "ack_p99_ms": round(_percentile(latencies, 99), 3),
        "ack_max_ms": round(max(latencies), 3),
        "first_request_ms": round(first_ms, 2),
        "cold_import_runs": runs,
        "cold_import_ms": round(_median_subprocess_seconds(_COLD_IMPORT, runs) * 1000, 1),
        "cold_import_handler_ms": round(_median_subprocess_seconds(_COLD_IMPORT_HANDLER, runs) * 1000, 1),
        "cold_first_request_ms": round(_median_subprocess_seconds(_COLD_FIRST_REQUEST, runs) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(bench_webhook(args.n, args.runs), indent=2))


if __name__ == "__main__":
    main()
