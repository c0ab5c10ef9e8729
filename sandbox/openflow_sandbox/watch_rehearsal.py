"""The watch in the sandbox, after a provisioning run: healthy runs, a connector the emulation puts
in START_FAILED (the watch heals it with STOP then START and the heartbeat arrives again), a runtime
in ACTIVATE_FAILED (healed with RESUME RECOVERY), a slot that stops advancing and a WAL budget
running short (the documented alerts), and second identical runs that send nothing new. With
`asleep=True` (the demo), last: a real power stop, WAL growing while the pipeline sleeps with little
storage left, and the asleep watch run that starts the power workflow early.

`rehearse(sandbox, request)` is what the demo runs; tests call the parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from openflow_autopilot.power.memory import load_memory
from openflow_autopilot.snowflake.identifiers import check_identifier
from openflow_autopilot_cli.executions import ExecutionReport, build_report, follow
from openflow_sandbox.power_rehearsal import create_schedules, ensure_compute, run_power, write_while_stopped

REGION = "us-east-1"
CONNECTOR = "POSTGRES_CDC"
STOP_AT = "2026-03-11T20:00:00+09:00"  # a Wednesday evening


@dataclass
class WatchRunReport:
    step: str
    report: ExecutionReport
    outcome: dict[str, Any]
    woke_status: str | None = None  # the early power start's status, followed to its end
    woke_result: str | None = None  # and its outcome (started, already started, ...)

    def summary(self) -> dict[str, Any]:
        """The demo report's object for one run."""
        return {
            "step": self.step,
            "status": self.report.status,
            "severity": self.outcome.get("severity"),
            "findings": self.outcome.get("findings", []),
            "heals": self.outcome.get("heals", []),
            "alerts_sent": self.outcome.get("alerts_sent", 0),
            "alert": self.outcome.get("alert"),
            "heartbeat_seconds": self.outcome.get("heartbeat_seconds"),
            "woke": self.outcome.get("woke"),
            "woke_status": self.woke_status,
            "woke_result": self.woke_result,
            "state_transitions": self.report.state_transitions,
        }


def run_watch(
    sandbox: Any,
    deployment: str,
    *,
    now: str | None = None,
    name: str | None = None,
    timeout_seconds: float = 300,
) -> WatchRunReport:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    body: dict[str, Any] = {"deployment": deployment}
    if now:
        body["now"] = now
    name = name or f"watch-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    arn = sfn.start_execution(
        stateMachineArn=sandbox.app.state_machines["WatchStateMachine"], name=name, input=json.dumps(body)
    )["executionArn"]
    description, events = follow(sfn, arn, timeout_seconds=timeout_seconds)
    output = json.loads(description.get("output") or "{}")
    return WatchRunReport(
        step=name, report=build_report(description, events), outcome=output.get("outcome") or {}
    )


def connector_name(request: dict[str, Any]) -> str:
    sf = request["snowflake"]
    db, schema = sf.get("openflow_database", "OPENFLOW"), sf.get("openflow_schema", "OPENFLOW")
    return f"{db}.{schema}.{CONNECTOR}"


def runtime_name(request: dict[str, Any]) -> str:
    sf = request["snowflake"]
    db, schema = sf.get("openflow_database", "OPENFLOW"), sf.get("openflow_schema", "OPENFLOW")
    return f"{db}.{schema}.{request.get('runtime', {}).get('name', 'POSTGRES_CDC_RUNTIME')}"


def fail_runtime(sandbox: Any, request: dict[str, Any]) -> None:
    """The runtime fails to activate, as Snowflake reports it (alter-openflow-runtime documents
    RESUME RECOVERY for it), with the ERROR line its pod writes to the event table."""
    sandbox.snowflake.fail(
        "runtime",
        runtime_name(request),
        "ACTIVATE_FAILED",
        error_code="391002",
        message="Runtime failed to activate: the runtime's pod did not become ready",
        log_line="Runtime activation failed: readiness probe failed for the NiFi container",
    )


def fail_connector(sandbox: Any, request: dict[str, Any]) -> None:
    """The connector fails to start, as Snowflake reports it (gen2/manage-connector-lifecycle)."""
    sandbox.snowflake.fail(
        "connector",
        connector_name(request),
        "START_FAILED",
        error_code="390001",
        message="Processor failed to start: connection to the source timed out",
        log_line="PostgreSQL CDC: could not connect to the source database: connection timed out",
    )


def low_storage(sandbox: Any, request: dict[str, Any], free_bytes: float, *, minutes_ago: int = 0) -> None:
    """The RDS instance's FreeStorageSpace as CloudWatch would report it (one datapoint; the watch
    reads the latest one-minute Minimum, so a later value must be in a later minute)."""
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "FreeStorageSpace",
                "Dimensions": [
                    {"Name": "DBInstanceIdentifier", "Value": request["source"]["rds_instance_id"]}
                ],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
                "Value": free_bytes,
                "Unit": "Bytes",
            }
        ],
    )


def wake_early(sandbox: Any, request: dict[str, Any], deployment: str) -> WatchRunReport:
    """A manual power stop (a real one: connector STOP, runtime SUSPEND, node groups down), WAL
    growing while it sleeps with a few MiB of storage left, then the asleep run two hours later
    (the watch looks at the slot hourly while asleep): it starts the power workflow, which is
    followed to its end."""
    ensure_compute(sandbox, sandbox.compute, request)
    # a weeknight's stop (12 h off, after the power rehearsal's dates): the WAL guard's decision
    # does not depend on the day the demo runs
    stopped = run_power(sandbox, deployment, "stop", now=STOP_AT, reason="demo")
    memory = load_memory(boto3.client("s3", region_name=REGION), sandbox.artifact_bucket, deployment)
    if stopped.status != "SUCCEEDED" or memory.last_action != "stop":
        raise RuntimeError(
            f"the power stop before the asleep watch run did not stop: {stopped.status} {stopped.error} "
            f"{memory.last_outcome}"
        )
    write_while_stopped(sandbox, mebibytes=4)
    low_storage(sandbox, request, 2 * 2**20)
    try:
        later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        result = run_watch(sandbox, deployment, now=later, name=f"watch-asleep-{datetime.now(UTC):%H%M%S%f}")
    finally:
        low_storage(sandbox, request, 20 * 2**30)
    woke = result.outcome.get("woke")
    if woke:  # the early start runs to its end (runtime RESUME, connector START, the slot advancing)
        description, _ = follow(boto3.client("stepfunctions", region_name=REGION), woke, timeout_seconds=300)
        result.woke_status = str(description["status"])
        outcome = json.loads(description.get("output") or "{}").get("outcome") or {}
        result.woke_result = outcome.get("result")
    result.step = "asleep, WAL budget short"
    return result


def rehearse(sandbox: Any, request: dict[str, Any], *, asleep: bool = False) -> list[WatchRunReport]:
    """The watch's story, one run per step (see the module's docstring)."""
    deployment = check_identifier(request["openflow"]["deployment_name"])
    # a run waits this long for its heartbeat: short here, since the stalled runs wait it out
    request = {**request, "watch": {**request.get("watch", {}), "heartbeat_wait_seconds": 2}}
    create_schedules(sandbox, request)  # stores the request, as the provisioning run's last phase does
    runs: list[WatchRunReport] = []

    def run(step: str) -> None:
        result = run_watch(sandbox, deployment, name=f"watch-{step}-{datetime.now(UTC):%H%M%S%f}")
        result.step = step
        runs.append(result)

    run("healthy")
    fail_connector(sandbox, request)
    run("connector START_FAILED")
    run("healed")
    run("healed again")
    fail_runtime(sandbox, request)
    run("runtime ACTIVATE_FAILED")
    run("runtime healed")
    assert sandbox.relay is not None
    sandbox.relay.stop()  # the connector stays RUNNING but consumes nothing: the slot stalls
    try:
        write_while_stopped(sandbox, mebibytes=2)
        run("slot stalling")
        write_while_stopped(sandbox, mebibytes=2)
        low_storage(
            sandbox, request, 2 * 2**20, minutes_ago=2
        )  # a few MiB left: hours, not days, at this rate
        run("slot stalled, WAL budget short")
        run("slot stalled, again")
    finally:
        sandbox.relay.start()
        low_storage(sandbox, request, 20 * 2**30)
    run("caught up")
    if asleep:
        runs.append(wake_early(sandbox, request, deployment))
    return runs
