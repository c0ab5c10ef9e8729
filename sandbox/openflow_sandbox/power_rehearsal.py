"""The power workflow in the sandbox, after a provisioning run: the deployment's node groups in
moto (see eks.py), the schedules the provisioning workflow's last phase creates, then one stop and
one start at chosen times, with what changed in between.

`rehearse(sandbox, request, compute)` is what the demo runs at its end; tests call the parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import psycopg

from openflow_autopilot.snowflake.identifiers import check_identifier
from openflow_autopilot_cli.executions import ExecutionReport, build_report, follow
from openflow_sandbox.eks import NodeGroupSizes, OpenflowCompute

REGION = "us-east-1"


@dataclass
class PowerRun:
    action: str
    now: str
    report: ExecutionReport
    outcome: dict[str, Any]
    sizes: dict[str, NodeGroupSizes]
    runtime: str
    connector: str
    deployment: str = "MISSING"
    agent_instance: str = "missing"
    canary_seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        """One object of build/demo-report.json's power_rehearsal."""
        found: dict[str, Any] = {
            "action": self.action,
            "at": self.now,
            "status": self.report.status,
            "node_groups": {s.name: s.desired for s in self.sizes.values()},
            "agent_instance": self.agent_instance,
            "deployment": self.deployment,
            "runtime": self.runtime,
            "connector": self.connector,
            "state_transitions": self.report.state_transitions,
        }
        if self.action == "start":
            found["canary_seconds"] = self.canary_seconds
        return found


@dataclass
class Rehearsal:
    schedules: dict[str, Any]
    runs: list[PowerRun] = field(default_factory=list)


def deployment_key(sandbox: Any, deployment: str) -> str:
    """The key Snowflake gave the deployment (it names the node groups)."""
    key = sandbox.snowflake.state.deployments[check_identifier(deployment)].key
    return str(key)


def ensure_compute(sandbox: Any, compute: OpenflowCompute, request: dict[str, Any]) -> str:
    """The deployment's EKS cluster and node groups in moto (once); returns the key."""
    key = deployment_key(sandbox, request["openflow"]["deployment_name"])
    eks = boto3.client("eks", region_name=REGION)
    if compute.cluster_name(key) not in eks.list_clusters()["clusters"]:
        size = {"SMALL": "sm", "MEDIUM": "md", "LARGE": "lg"}[request.get("runtime", {}).get("size", "SMALL")]
        compute.create(key, running=size)
    compute.start()
    return key


def create_schedules(sandbox: Any, request: dict[str, Any], *, now: str | None = None) -> dict[str, Any]:
    """Invoke the schedules function the provisioning workflow ends with (stores the request too)."""
    name = sandbox.app.resources["SchedulesFunction"]
    payload = {"request": request, **({"now": now} if now else {})}
    response = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=name, Payload=json.dumps(payload)
    )
    result: dict[str, Any] = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise RuntimeError(f"the schedules function failed: {result.get('errorMessage')}")
    return result


def run_power(
    sandbox: Any,
    deployment: str,
    action: str,
    *,
    now: str,
    reason: str = "schedule",
    until: str | None = None,
    name: str | None = None,
    timeout_seconds: float = 300,
) -> ExecutionReport:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    power_input = {"deployment": deployment, "action": action, "now": now, "reason": reason}
    if until:
        power_input["until"] = until
    name = name or f"{action}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    arn = sfn.start_execution(
        stateMachineArn=sandbox.app.state_machines["PowerStateMachine"],
        name=name,
        input=json.dumps(power_input),
    )["executionArn"]
    description, events = follow(sfn, arn, timeout_seconds=timeout_seconds)
    return build_report(description, events)


def execution_output(sandbox: Any, report: ExecutionReport) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    output: dict[str, Any] = json.loads(
        sfn.describe_execution(executionArn=report.execution_arn).get("output") or "{}"
    )
    return output


def _deployment_status(sandbox: Any, request: dict[str, Any]) -> str:
    dep = sandbox.snowflake.state.deployments.get(check_identifier(request["openflow"]["deployment_name"]))
    return str(dep.status) if dep else "MISSING"


def _agent_state(key: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [f"openflow-agent-{key}"]}])
    states = [i["State"]["Name"] for r in reservations["Reservations"] for i in r["Instances"]]
    live = [s for s in states if s != "terminated"]
    return live[-1] if live else "missing"


def _statuses(sandbox: Any, request: dict[str, Any]) -> tuple[str, str]:
    sf = request["snowflake"]
    db, schema = sf.get("openflow_database", "OPENFLOW"), sf.get("openflow_schema", "OPENFLOW")
    state = sandbox.snowflake.state
    runtime = state.runtimes.get((db, schema, request.get("runtime", {}).get("name", "POSTGRES_CDC_RUNTIME")))
    connector = state.connectors.get((db, schema, "POSTGRES_CDC"))
    return (runtime.status if runtime else "MISSING", connector.status if connector else "MISSING")


def write_while_stopped(sandbox: Any, database: str = "sales", mebibytes: int = 4) -> None:
    """WAL the slot must catch up on after the start: bulk rows in a table outside the publication,
    then one replicated row, whose commit the connector consumes past all of it."""
    dsn = sandbox.postgres.dsn(dbname=database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS sandbox_bulk (id bigserial PRIMARY KEY, pad text)")
        conn.execute(
            "INSERT INTO sandbox_bulk (pad) SELECT repeat('x', 1000) FROM generate_series(1, %s)",
            [mebibytes * 1024],
        )
        conn.execute("INSERT INTO sample_data (content) VALUES ('written while stopped')")


def rehearse(
    sandbox: Any,
    request: dict[str, Any],
    compute: OpenflowCompute,
    *,
    stop_at: str = "2026-03-10T20:00:00+09:00",
    start_at: str = "2026-03-11T08:00:00+09:00",
) -> Rehearsal:
    """Schedules, then a scheduled stop and the next morning's start, with the node group sizes,
    the runtime's and the connector's status after each."""
    key = ensure_compute(sandbox, compute, request)
    deployment = check_identifier(request["openflow"]["deployment_name"])
    rehearsal = Rehearsal(schedules=create_schedules(sandbox, request, now=stop_at))
    for action, now in (("stop", stop_at), ("start", start_at)):
        report = run_power(sandbox, deployment, action, now=now)
        runtime, connector = _statuses(sandbox, request)
        compute.sync()
        output = execution_output(sandbox, report)
        rehearsal.runs.append(
            PowerRun(
                action=action,
                now=now,
                report=report,
                outcome=output.get("outcome") or {},
                sizes=compute.sizes(key),
                runtime=runtime,
                connector=connector,
                deployment=_deployment_status(sandbox, request),
                agent_instance=_agent_state(key),
                canary_seconds=((output.get("polls") or {}).get("canary") or {}).get("canary_seconds"),
            )
        )
        if action == "stop":
            write_while_stopped(sandbox)
    return rehearsal
