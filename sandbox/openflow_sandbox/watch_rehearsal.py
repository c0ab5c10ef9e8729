"""The watch in the sandbox, after a provisioning run: healthy runs, a connector the emulation puts
in START_FAILED (the watch heals it with STOP then START and the heartbeat arrives again), a slot
that stops advancing and a WAL budget running short (the documented alerts), and second identical
runs that send nothing new.

`rehearse(sandbox, request)` is what the demo runs; tests call the parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from openflow_autopilot.executions import ExecutionReport, build_report, follow
from openflow_autopilot.snowflake.identifiers import check_identifier
from openflow_sandbox.power_rehearsal import create_schedules, write_while_stopped

REGION = "us-east-1"
CONNECTOR = "POSTGRES_CDC"


@dataclass
class WatchRunReport:
    step: str
    report: ExecutionReport
    outcome: dict[str, Any]

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


def rehearse(sandbox: Any, request: dict[str, Any]) -> list[WatchRunReport]:
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
    return runs
