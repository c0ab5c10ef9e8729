"""The power workflow end to end in the sandbox: provision, create the schedules, then a scheduled
stop (connector STOPPED, runtime SUSPENDED, the node group scaled to zero with its size
remembered, an off record) and the next morning's start (sizes restored, runtime ACTIVE,
connector RUNNING, the replication slot advancing past the WAL written while stopped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from statement_catalog_check import missing_message, uncatalogued

from openflow_autopilot.cost.records import load_records
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.eks import OpenflowCompute
from openflow_sandbox.environment import Sandbox
from openflow_sandbox.power_rehearsal import rehearse, run_power

pytestmark = pytest.mark.sandbox


@pytest.fixture
def compute() -> Iterator[OpenflowCompute]:
    compute = OpenflowCompute()
    try:
        yield compute
    finally:
        compute.stop()


def test_a_provisioned_deployment_stops_and_starts_on_its_schedule(
    sandbox: Sandbox, compute: OpenflowCompute
) -> None:
    request = sandbox.request(schedule__suspend_warehouse=True)
    provisioned = run_provisioning(sandbox, request, timeout_seconds=400)
    assert provisioned.status == "SUCCEEDED", provisioned.cause

    rehearsal = rehearse(sandbox, request, compute)
    assert rehearsal.schedules["outputs"]["schedules"] == [
        "SALES_CDC_DEPLOYMENT-start-0",
        "SALES_CDC_DEPLOYMENT-stop-0",
    ]
    stop, start = rehearsal.runs

    assert stop.report.status == "SUCCEEDED", stop.report.cause
    assert stop.outcome["result"] == "stopped" and stop.outcome["changed"] is True
    assert (stop.runtime, stop.connector) == ("SUSPENDED", "STOPPED")
    assert (stop.sizes["sm"].min, stop.sizes["sm"].desired, stop.sizes["sm"].max) == (0, 0, 50)
    assert stop.sizes["sm"].instances == 0
    names = [p.name for p in stop.report.phases]
    assert "SuspendWarehouse" in names and names.index("WalGuard") < names.index("StopConnector")

    assert start.report.status == "SUCCEEDED", start.report.cause
    assert start.outcome["result"] == "started"
    assert (start.runtime, start.connector) == ("ACTIVE", "RUNNING")
    assert (start.sizes["sm"].desired, start.sizes["sm"].instances) == (1, 1)
    # provisioning, the stop and the start sent only catalogued statement shapes
    assert (missing := uncatalogued(sandbox)) == [], missing_message(missing)
    key = start.sizes["sm"].name.removesuffix("-sm-group")
    assert compute.tags(key) == {}  # the remembered size is gone
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    output = json.loads(sfn.describe_execution(executionArn=start.report.execution_arn)["output"])
    slot = output["polls"]["slot"]
    assert slot["done"] and "advances" in slot["note"], slot
    assert slot["latest"]["confirmed_bytes"] > slot["baseline"]["confirmed_bytes"]

    s3 = boto3.client("s3", region_name="us-east-1")
    month = datetime.now(UTC).strftime("%Y-%m")
    records = load_records(
        s3, sandbox.artifact_bucket, "power-records", month, deployment="SALES_CDC_DEPLOYMENT"
    )
    assert [r.action for r in records] == ["stop", "start"]

    # A second stop the same evening finds everything stopped: no-op notes, no new record.
    run_power(sandbox, "SALES_CDC_DEPLOYMENT", "stop", now="2026-03-11T20:00:00+09:00")
    again = run_power(
        sandbox, "SALES_CDC_DEPLOYMENT", "stop", now="2026-03-11T20:00:00+09:00", name="stop-again"
    )
    assert again.status == "SUCCEEDED"
    notes = [n for p in again.phases for n in p.notes]
    records = load_records(
        s3, sandbox.artifact_bucket, "power-records", month, deployment="SALES_CDC_DEPLOYMENT"
    )
    assert [r.action for r in records] == ["stop", "start", "stop"], notes


def test_deep_sleep_puts_the_whole_data_plane_to_sleep_in_order_and_wakes_it_to_a_canary_row(
    sandbox: Sandbox,
) -> None:
    request = sandbox.request(schedule__sleep="deep")
    provisioned = run_provisioning(sandbox, request, timeout_seconds=400)
    assert provisioned.status == "SUCCEEDED", provisioned.cause

    # the sandbox's own compute: its simulated agent re-applies the management group while it runs
    rehearsal = rehearse(sandbox, request, sandbox.compute)
    stop, start = (run.summary() for run in rehearsal.runs)
    assert stop["status"] == "SUCCEEDED", rehearsal.runs[0].report.cause
    assert (stop["agent_instance"], stop["deployment"]) == ("stopped", "NOT_REPORTING")
    assert (stop["runtime"], stop["connector"]) == ("SUSPENDED", "STOPPED")
    management = next(name for name in stop["node_groups"] if name.endswith("-management-group"))
    assert set(stop["node_groups"].values()) == {0}, stop["node_groups"]
    order = [p.name for p in rehearsal.runs[0].report.phases]
    assert order.index("VerifyComputeGone") < order.index("StopAgentTimers")
    assert order.index("StopAgentTimers") < order.index("StopAgentInstance") < order.index("SleepDataPlane")

    assert start["status"] == "SUCCEEDED", rehearsal.runs[1].report.cause
    assert (start["agent_instance"], start["deployment"]) == ("running", "ACTIVE")
    assert (start["runtime"], start["connector"]) == ("ACTIVE", "RUNNING")
    assert start["node_groups"][management] == 1
    assert start["canary_seconds"] is not None and start["canary_seconds"] >= 0
    woke = [p.name for p in rehearsal.runs[1].report.phases]
    assert woke.index("RestoreCompute") < woke.index("CheckDeploymentAwake") < woke.index("ResumeRuntime")
    assert woke.index("CheckSlotAdvances") < woke.index("CheckCanary")
    assert (missing := uncatalogued(sandbox)) == [], missing_message(missing)
