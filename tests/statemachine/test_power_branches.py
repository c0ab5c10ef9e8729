"""The power ASL's branches, run by moto's Step Functions. Load, Decide and Record are the real
functions (the stored request, the schedule, the override and the hold live in moto's S3 and
Scheduler); Openflow, the node groups, the agent, the WAL guard and the slot are test doubles over
a small fake world, so a second run sees what the first one left."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from openflow_autopilot.config import parse_request
from openflow_autopilot.cost.records import load_records
from openflow_autopilot.errors import BudgetExhausted, SnowflakeRetryableError
from openflow_autopilot.power.request_store import save_request
from openflow_autopilot_cli.executions import ExecutionReport, build_report, follow
from openflow_sandbox.deploy import DeployedApp, deploy
from openflow_sandbox.moto_server import MotoSandbox

Handler = Callable[[dict[str, Any], int], Any]
TOKYO = ZoneInfo("Asia/Tokyo")
DEPLOYMENT = "SALES_CDC_DEPLOYMENT"
BUCKET = "openflow-autopilot-123456789012-us-east-1"


def tokyo(*parts: int) -> str:
    return datetime(*parts, tzinfo=TOKYO).isoformat()  # type: ignore[misc]


def request(**schedule: Any) -> dict[str, Any]:
    return {
        "name": "sales-cdc",
        "snowflake": {
            "account": "MYORG-MYACCOUNT",
            "admin_user": "JDOE",
            "credentials_secret_arn": (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-Ab"
            ),
        },
        "openflow": {"deployment_name": DEPLOYMENT},
        "aws": {"region": "us-east-1"},
        "source": {"rds_instance_id": "sales-db", "database": "sales", "tables": ["public.sample_data"]},
        "schedule": {
            "timezone": "Asia/Tokyo",
            "on_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
            **schedule,
        },
    }


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[MotoSandbox, DeployedApp]]:
    moto = MotoSandbox()
    moto.start()
    try:
        yield moto, deploy(moto.registry, parameters={"PollSeconds": "0"})
    finally:
        moto.stop()


def phase(name: str, changed: bool, *notes: str, **outputs: Any) -> dict[str, Any]:
    actions = [{"kind": name.lower(), "target": "x", "statement": None}] if changed else []
    return {
        "phase": name,
        "status": "changed" if changed else "unchanged",
        "actions": actions,
        "notes": list(notes),
        "outputs": outputs,
        "started_at": "t",
        "ended_at": "t",
    }


@dataclass
class World:
    """What the doubles act on: the connector, the runtime and the node group."""

    connector: str = "RUNNING"
    runtime: str = "ACTIVE"
    desired: int = 1
    remembered: int | None = None
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def connector_fn(self, op: str, event: dict[str, Any], _n: int) -> dict[str, Any]:
        if op == "stop":
            if self.connector == "RUNNING":
                self.connector = "STOPPED"
                return phase("StopConnector", True)
            return phase("StopConnector", False, f"connector is already {self.connector}: nothing to do")
        if op == "start":
            if self.connector == "STOPPED":
                self.connector = "RUNNING"
                return phase("StartConnector", True)
            return phase("StartConnector", False, "connector is already RUNNING: nothing to do")
        key = f"connector_{op}"
        attempt = int((event["polls"].get(key) or {}).get("attempt", 0)) + 1
        return {"attempt": attempt, "done": attempt >= 2, "status": self.connector}

    def runtime_fn(self, op: str, event: dict[str, Any], _n: int) -> dict[str, Any]:
        if op == "locate":
            return {"deployment": DEPLOYMENT, "key": "k1", "node_type": "SMALL", "shared_with": []}
        if op == "suspend":
            if self.runtime == "ACTIVE":
                self.runtime = "SUSPENDED"
                return phase("SuspendRuntime", True)
            return phase("SuspendRuntime", False, f"runtime is already {self.runtime}: nothing to do")
        if op == "resume":
            if self.runtime == "SUSPENDED":
                self.runtime = "ACTIVE"
                return phase("ResumeRuntime", True)
            return phase("ResumeRuntime", False, "runtime is already ACTIVE: nothing to do")
        key = f"runtime_{op}"
        attempt = int((event["polls"].get(key) or {}).get("attempt", 0)) + 1
        return {"attempt": attempt, "done": True, "status": self.runtime}

    def compute_fn(self, op: str, event: dict[str, Any], _n: int) -> dict[str, Any]:
        if op == "restore":
            if self.remembered is None:
                return phase("RestoreCompute", False, "no sizes remembered")
            self.desired, self.remembered = self.remembered, None
            return phase("RestoreCompute", True)
        state = event["polls"].get("compute") or {}
        attempt = int(state.get("attempt", 0)) + 1
        actions = list(state.get("actions") or [])
        if self.desired == 0:
            return {"attempt": attempt, "done": True, "actions": actions, "notes": ["compute is gone"]}
        # Openflow did not scale it: scale it here, remembering the size
        self.remembered, self.desired = self.desired, 0
        actions.append({"kind": "scale_to_zero", "target": "k1-sm-group", "statement": None})
        return {"attempt": attempt, "done": False, "forced": True, "actions": actions}

    def agent_fn(self, op: str, event: dict[str, Any], _n: int) -> dict[str, Any]:
        if op == "running":
            return {"attempt": 1, "done": True, "status": "running"}
        return phase("Agent", True)

    def handlers(self) -> dict[str, Handler]:
        """Each state's function, played by the double for its part of the world."""
        plays = {"connector": self.connector_fn, "runtime": self.runtime_fn, "compute": self.compute_fn}
        plays["agent"] = self.agent_fn
        doubles: dict[str, Handler] = {
            f"Power{state}Function": functools.partial(plays[part], op) for state, (part, op) in STEPS.items()
        }
        doubles["PowerWalGuardFunction"] = lambda e, _n: {
            "decision": "allow",
            "reason": "plenty of headroom",
            "off_hours": 12,
            "needed_hours": 15,
            "attempt": 1,
        }
        doubles["PowerSlotBaselineFunction"] = doubles["PowerCheckSlotAdvancesFunction"] = lambda e, _n: {
            "attempt": 1,
            "done": True,
            "baseline": {},
            "note": "advances",
        }
        doubles["PowerWriteCanaryFunction"] = lambda e, _n: {"id": "c-1", "written_at": "2026-03-11T08:00Z"}
        doubles["PowerCheckCanaryFunction"] = lambda e, n: {"attempt": n, "done": True, "canary_seconds": 1.0}
        doubles["PowerSuspendWarehouseFunction"] = lambda e, _n: phase("SuspendWarehouse", True)
        return doubles


# the power states the doubles play: (part of the world, the step)
STEPS = {
    "Locate": ("runtime", "locate"),
    "StopConnector": ("connector", "stop"),
    "CheckConnectorStopped": ("connector", "stopped"),
    "StartConnector": ("connector", "start"),
    "CheckConnectorRunning": ("connector", "running"),
    "SuspendRuntime": ("runtime", "suspend"),
    "CheckRuntimeSuspended": ("runtime", "suspended"),
    "ResumeRuntime": ("runtime", "resume"),
    "CheckRuntimeActive": ("runtime", "active"),
    "VerifyComputeGone": ("compute", "check"),
    "SleepDataPlane": ("compute", "sleep"),
    "RestoreCompute": ("compute", "restore"),
    "StopAgentTimers": ("agent", "stop_timers"),
    "CheckAgentTimers": ("agent", "timers_stopped"),
    "StopAgentInstance": ("agent", "stop"),
    "CheckAgentStopped": ("agent", "stopped"),
    "StartAgentInstance": ("agent", "start"),
    "CheckAgentRunning": ("agent", "running"),
}


def run(
    app: tuple[MotoSandbox, DeployedApp],
    name: str,
    power_input: dict[str, Any],
    world: World,
    *,
    stored: dict[str, Any] | None = None,
    **doubles: Handler,
) -> tuple[ExecutionReport, dict[str, list[dict[str, Any]]]]:
    moto, deployed = app
    save_request(boto3.client("s3", region_name="us-east-1"), BUCKET, parse_request(stored or request()))
    calls: dict[str, list[dict[str, Any]]] = {}

    def wrap(logical_id: str, fn: Handler) -> Any:
        def handler(event: dict[str, Any], _ctx: Any) -> Any:
            calls.setdefault(logical_id, []).append(event)
            return fn(event, len(calls[logical_id]))

        return handler

    def notify(event: dict[str, Any], _n: int) -> dict[str, Any]:
        return {"subject": "s", "delivered_to": [], "diagnosis": event["state"].get("error")}

    moto.registry.replacements.clear()  # Load, Decide and Record run for real
    for logical_id, fn in {**world.handlers(), "NotifyFunction": notify, **doubles}.items():
        moto.registry.replace(logical_id, wrap(logical_id, fn))
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.start_execution(
        stateMachineArn=deployed.state_machines["PowerStateMachine"],
        name=name,
        input=json.dumps({"deployment": DEPLOYMENT, **power_input}),
    )["executionArn"]
    description, events = follow(sfn, arn, timeout_seconds=120)
    return build_report(description, events), calls


def states(report: ExecutionReport) -> list[str]:
    return [p.name for p in report.phases]


def final_state(calls: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    [notification] = calls["NotifyFunction"]
    state: dict[str, Any] = notification["state"]
    return state


def records() -> list[Any]:
    s3 = boto3.client("s3", region_name="us-east-1")
    found = []
    for month in ("2026-03", "2026-04", datetime.now(UTC).strftime("%Y-%m")):
        found += load_records(s3, BUCKET, "power-records", month, deployment=DEPLOYMENT)
    return list({r.at: r for r in found}.values())


@pytest.fixture(autouse=True)
def clean_bucket(app: Any) -> None:
    s3 = boto3.resource("s3", region_name="us-east-1")
    s3.Bucket(BUCKET).objects.filter(Prefix="power").delete()
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
        for item in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
            scheduler.delete_schedule(Name=item["Name"], GroupName=group["Name"])


def test_a_scheduled_stop_stops_the_connector_suspends_the_runtime_and_scales_the_compute(app: Any) -> None:
    world = World()
    report, calls = run(
        app, "stop", {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)}, world
    )
    assert report.status == "SUCCEEDED", report.cause
    order = states(report)
    for earlier, later in [
        ("Decide", "Locate"),
        ("Locate", "WalGuard"),
        ("WalGuard", "StopConnector"),
        ("StopConnector", "SuspendRuntime"),
        ("SuspendRuntime", "VerifyComputeGone"),
        ("VerifyComputeGone", "RecordStop"),
        ("RecordStop", "Notify"),
    ]:
        assert order.index(earlier) < order.index(later), order
    assert "StopAgentInstance" not in order and "SuspendWarehouse" not in order
    assert (world.connector, world.runtime, world.desired, world.remembered) == ("STOPPED", "SUSPENDED", 0, 1)
    state = final_state(calls)
    assert state["decision"]["run"] == "stop" and state["decision"]["off_hours"] == 12.0
    assert state["outcome"]["result"] == "stopped" and state["outcome"]["changed"] is True
    assert len(calls["PowerStopConnectorFunction"]) == 1
    assert len(calls["PowerCheckConnectorStoppedFunction"]) == 2  # two checks
    assert [r.action for r in records()] == ["stop"]


def test_a_scheduled_start_restores_the_sizes_resumes_starts_and_checks_the_slot(app: Any) -> None:
    world = World(connector="STOPPED", runtime="SUSPENDED", desired=0, remembered=1)
    report, calls = run(
        app,
        "start",
        {"action": "start", "reason": "schedule", "now": tokyo(2026, 3, 11, 8, 0)},
        world,
        stored=request(stop_agent=True),
    )
    assert report.status == "SUCCEEDED", report.cause
    order = states(report)
    expected = [
        "StartAgentInstance",
        "CheckAgentRunning",
        "RestoreCompute",
        "ResumeRuntime",
        "CheckRuntimeActive",
        "SlotBaseline",
        "StartConnector",
        "CheckConnectorRunning",
        "CheckSlotAdvances",
        "RecordStart",
        "Notify",
    ]
    assert [s for s in order if s in expected] == expected
    assert (world.connector, world.runtime, world.desired, world.remembered) == ("RUNNING", "ACTIVE", 1, None)
    assert final_state(calls)["outcome"]["result"] == "started"
    assert "PowerWalGuardFunction" not in calls


def test_the_wal_guard_refusing_leaves_everything_running_and_says_why(app: Any) -> None:
    world = World()

    def refuse(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        return {
            "decision": "refuse",
            "reason": "not stopped: the source can keep the slot's WAL for 40.0 h, but the 60.0 h off "
            "period x 1.25 needs 75.0 h",
            "off_hours": 60,
            "needed_hours": 75,
            "attempt": 1,
        }

    report, calls = run(
        app,
        "refused",
        {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 13, 20, 0)},  # Friday evening
        world,
        PowerWalGuardFunction=refuse,
    )
    assert report.status == "SUCCEEDED"
    assert "PowerStopConnectorFunction" not in calls and "PowerVerifyComputeGoneFunction" not in calls
    assert (world.connector, world.runtime, world.desired) == ("RUNNING", "ACTIVE", 1)
    state = final_state(calls)
    assert state["outcome"]["result"] == "refused" and "needs 75.0 h" in state["outcome"]["why"]
    assert state["decision"]["off_hours"] == 60.0  # Friday 20:00 to Monday 08:00
    assert records() == []


def test_the_wal_guard_measures_again_when_it_has_no_rate_yet(app: Any) -> None:
    def measure_then_allow(event: dict[str, Any], attempt: int) -> dict[str, Any]:
        if attempt == 1:
            assert event["wal"] is None
            return {
                "decision": "measure",
                "reason": "measuring",
                "off_hours": 12,
                "needed_hours": 0,
                "attempt": 1,
            }
        assert event["wal"]["decision"] == "measure"
        return {"decision": "allow", "reason": "ok", "off_hours": 12, "needed_hours": 15, "attempt": 2}

    report, calls = run(
        app,
        "measure",
        {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)},
        World(),
        PowerWalGuardFunction=measure_then_allow,
    )
    assert report.status == "SUCCEEDED" and len(calls["PowerWalGuardFunction"]) == 2


def test_a_stop_run_twice_changes_nothing_the_second_time_and_says_so(app: Any) -> None:
    world = World()
    stop = {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)}
    first, _ = run(app, "twice-1", stop, world)
    second, calls = run(app, "twice-2", stop, world)
    assert first.status == second.status == "SUCCEEDED"
    state = final_state(calls)
    assert state["phases"]["StopConnector"]["status"] == "unchanged"
    assert "already STOPPED" in state["phases"]["StopConnector"]["notes"][0]
    assert "already SUSPENDED" in state["phases"]["SuspendRuntime"]["notes"][0]
    assert state["outcome"]["changed"] is False and "nothing changed" in state["outcome"]["note"]
    assert world.remembered == 1  # the second stop did not overwrite the remembered size
    assert [r.action for r in records()] == ["stop"]  # one record, not two


def test_a_manual_start_during_off_hours_is_respected_until_the_next_scheduled_action(app: Any) -> None:
    world = World(connector="STOPPED", runtime="SUSPENDED", desired=0, remembered=1)
    started, _ = run(
        app, "manual-start", {"action": "start", "reason": "manual", "now": tokyo(2026, 3, 10, 22, 0)}, world
    )
    assert started.status == "SUCCEEDED" and world.runtime == "ACTIVE"
    # An override's one-time stop fires at 23:00: the manual start holds until Wednesday 08:00.
    report, calls = run(
        app,
        "override-end",
        {"action": "stop", "reason": "override-end", "now": tokyo(2026, 3, 10, 23, 0)},
        world,
    )
    assert report.status == "SUCCEEDED"
    state = final_state(calls)
    assert state["outcome"]["result"] == "skipped"
    assert "manual start" in state["outcome"]["why"] and "2026-03-11 08:00" in state["outcome"]["why"]
    assert "PowerStopConnectorFunction" not in calls and world.runtime == "ACTIVE"
    # The evening's scheduled stop, after the hold ended, stops it.
    evening, _ = run(
        app, "evening", {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 11, 20, 0)}, world
    )
    assert evening.status == "SUCCEEDED" and world.runtime == "SUSPENDED"


def test_extend_keeps_it_running_past_the_scheduled_stop(app: Any) -> None:
    world = World()
    extended, calls = run(
        app, "extend", {"action": "extend", "until": "22:00", "now": tokyo(2026, 3, 10, 19, 0)}, world
    )
    assert extended.status == "SUCCEEDED", extended.cause
    assert final_state(calls)["outcome"]["changed"] is False  # it was already running
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    override = scheduler.get_schedule(Name=f"{DEPLOYMENT}-override", GroupName="openflow-autopilot-power")
    assert override["ScheduleExpression"] == "at(2026-03-10T13:00:00)"  # 22:00 in Tokyo
    _report, calls = run(
        app, "stop-at-20", {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)}, world
    )
    assert final_state(calls)["outcome"]["result"] == "skipped"
    assert "override keeps it running until Tue 2026-03-10 22:00" in final_state(calls)["outcome"]["why"]
    assert world.runtime == "ACTIVE"


def test_a_scheduled_start_on_a_holiday_is_skipped(app: Any) -> None:
    world = World(connector="STOPPED", runtime="SUSPENDED", desired=0)
    report, calls = run(
        app,
        "holiday",
        {"action": "start", "reason": "schedule", "now": tokyo(2026, 12, 31, 8, 0)},
        world,
        stored=request(holidays=["2026-12-31"]),
    )
    assert report.status == "SUCCEEDED"
    assert "holiday" in final_state(calls)["outcome"]["why"] and world.runtime == "SUSPENDED"


def test_a_retryable_error_is_retried_and_a_permanent_one_notifies_and_fails(app: Any) -> None:
    world = World()
    flaky_calls = []

    def flaky(event: dict[str, Any], n: int) -> dict[str, Any]:
        flaky_calls.append(event["phase"])
        if len(flaky_calls) == 1:
            raise SnowflakeRetryableError("connection reset by peer")
        return world.connector_fn("stop", event, n)

    def stuck(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise BudgetExhausted("EKS node group k1-sm-group still has 1 instance(s) after 60 checks")

    report, calls = run(
        app,
        "fails",
        {"action": "stop", "reason": "manual", "now": tokyo(2026, 3, 10, 12, 0)},
        world,
        PowerStopConnectorFunction=flaky,
        PowerVerifyComputeGoneFunction=stuck,
    )
    assert flaky_calls[:2] == ["StopConnector", "StopConnector"]  # retried
    assert report.status == "FAILED" and report.error == "BudgetExhausted"
    assert "k1-sm-group" in final_state(calls)["error"]["Cause"]
    assert "RecordStop" not in states(report) and records() == []


def test_bad_input_fails_before_anything_is_touched(app: Any) -> None:
    report, calls = run(app, "bad-action", {"action": "reboot", "now": tokyo(2026, 3, 10, 12, 0)}, World())
    assert report.status == "FAILED" and report.error == "InvalidRequest"
    assert set(calls) == {"NotifyFunction"}


# --- the deployment's lock (the lock functions run for real, on moto's DynamoDB) --------------------
LOCK_KEY = f"MYORG-MYACCOUNT/{DEPLOYMENT}"


def lock_table(app: tuple[MotoSandbox, DeployedApp]) -> str:
    return app[1].resources["LockTable"]


def held_by(app: tuple[MotoSandbox, DeployedApp]) -> str | None:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=lock_table(app), Key={"deployment": {"S": LOCK_KEY}}, ConsistentRead=True
    )
    return item["Item"]["holder"]["S"] if "Item" in item else None


def provisioning_in_progress(app: tuple[MotoSandbox, DeployedApp], name: str) -> str:
    """A RUNNING execution (a long Wait) holding the lock, standing in for a provisioning run."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name=f"stand-in-{name}",
        definition=json.dumps(
            {
                "StartAt": "W",
                "States": {"W": {"Type": "Wait", "Seconds": 300, "Next": "D"}, "D": {"Type": "Succeed"}},
            }
        ),
        roleArn="arn:aws:iam::123456789012:role/stand-in",
    )["stateMachineArn"]
    arn = str(sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"])
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=lock_table(app),
        Item={
            "deployment": {"S": LOCK_KEY},
            "holder": {"S": arn},
            "kind": {"S": "provision"},
            "started_at": {"S": "2026-03-10T10:55:00Z"},
            "acquired_at": {"N": "1773140100"},
            "expires_at": {"N": str(int(datetime.now(UTC).timestamp()) + 3600)},
        },
    )
    return arn


def test_a_stop_during_provisioning_is_skipped_untouched_and_runs_once_provisioning_ended(app: Any) -> None:
    world = World()
    holder = provisioning_in_progress(app, "provisioning-in-progress")
    stop = {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)}
    report, calls = run(app, "stop-during-provisioning", stop, world)
    assert report.status == "SUCCEEDED", report.cause
    assert states(report) == ["Load", "AcquireLock", "Notify"]
    assert set(calls) == {"NotifyFunction"}  # nothing was touched
    assert (world.connector, world.runtime, world.desired) == ("RUNNING", "ACTIVE", 1)
    outcome = final_state(calls)["outcome"]
    assert outcome["result"] == "skipped"
    assert outcome["why"].startswith(
        f"skipped: provisioning execution {holder} (started 2026-03-10T10:55:00Z)"
    )
    assert "is in progress" in outcome["why"]
    assert held_by(app) == holder  # the skipped run did not give back a lock it never held
    assert records() == []

    boto3.client("stepfunctions", region_name="us-east-1").stop_execution(executionArn=holder)
    after, _ = run(app, "stop-after-provisioning", stop, world)
    assert after.status == "SUCCEEDED", after.cause
    assert (world.connector, world.runtime, world.desired) == ("STOPPED", "SUSPENDED", 0)
    assert held_by(app) is None  # taken over from the ended holder, then given back


def test_every_power_run_gives_its_lock_back_whether_it_succeeds_or_fails(app: Any) -> None:
    def stuck(_e: dict[str, Any], _n: int) -> dict[str, Any]:
        raise BudgetExhausted("EKS node group k1-sm-group still has 1 instance(s) after 60 checks")

    stop = {"action": "stop", "reason": "manual", "now": tokyo(2026, 3, 10, 12, 0)}
    ok, _ = run(app, "lock-ok", stop, World())
    assert ok.status == "SUCCEEDED" and states(ok)[-2:] == ["Notify", "ReleaseLock"]
    assert held_by(app) is None
    failed, _ = run(app, "lock-failed", stop, World(), PowerVerifyComputeGoneFunction=stuck)
    assert failed.status == "FAILED" and failed.error == "BudgetExhausted"
    assert states(failed)[-2:] == ["NotifyFailure", "ReleaseLockAfterFailure"]
    assert held_by(app) is None


# --- deep sleep: the whole data plane ------------------------------------------------------------------
@dataclass
class DeepWorld(World):
    """Adds the agent (its timers and instance) and the other node groups (management)."""

    agent: str = "running"
    timers: bool = True
    management: int = 1
    management_remembered: int | None = None
    deployment: str = "ACTIVE"

    def agent_fn(self, op: str, event: dict[str, Any], _n: int) -> dict[str, Any]:
        if op == "stop_timers":
            self.timers = False
            return phase("StopAgentTimers", True, command_id="c-1", instance_id="i-0123456789abcdef0")
        if op == "timers_stopped":
            assert event["phases"]["StopAgentTimers"]["outputs"]["command_id"] == "c-1"
            return phase("CheckAgentTimers", False, "agent timers stopped")
        if op in ("running", "stopped"):
            attempt = int((event["polls"].get(f"agent_{op}") or {}).get("attempt", 0)) + 1
            return {"attempt": attempt, "done": self.agent == op, "status": self.agent}
        if op == "stop":
            assert not self.timers, "the instance is stopped only after its timers"
            self.agent, self.deployment = "stopped", "NOT_REPORTING"
        else:
            self.agent = "running"
        return phase("Agent", True, instance_id="i-0123456789abcdef0")

    def compute_fn(self, op: str, event: dict[str, Any], n: int) -> dict[str, Any]:
        if op == "sleep":
            assert self.agent == "stopped", "the data plane sleeps only once the agent is stopped"
            state = event["polls"].get("data_plane") or {}
            attempt = int(state.get("attempt", 0)) + 1
            if self.management:
                self.management_remembered, self.management = self.management, 0
                return {
                    "attempt": attempt,
                    "done": False,
                    "forced": True,
                    "actions": [{"kind": "scale_to_zero", "target": "mgmt", "statement": None}],
                }
            return {"attempt": attempt, "done": True, "actions": list(state.get("actions") or [])}
        if op == "restore" and event.get("deep"):
            assert self.agent == "running", "node groups come back only once the agent runs"
            if self.management_remembered is not None:
                self.management, self.management_remembered = self.management_remembered, None
        return super().compute_fn(op, event, n)

    def agent_health_fn(self, event: dict[str, Any], n: int) -> dict[str, Any]:
        assert event["stack"]["agent_instance_id"] == "i-0123456789abcdef0"
        assert event["deployment"] == {"name": DEPLOYMENT, "key": "k1"}
        if self.management and self.agent == "running" and n >= 2:
            self.deployment = "ACTIVE"
        done = self.deployment == "ACTIVE"
        return phase("AgentHealth", False, f"deployment is {self.deployment}", done=done, wait_seconds=0)

    def handlers(self) -> dict[str, Handler]:
        return {**super().handlers(), "PowerCheckDeploymentAwakeFunction": self.agent_health_fn}


def test_a_deep_stop_stops_the_timers_then_the_agent_then_every_node_group_each_verified(app: Any) -> None:
    world = DeepWorld()
    report, calls = run(
        app,
        "deep-stop",
        {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)},
        world,
        stored=request(sleep="deep"),
    )
    assert report.status == "SUCCEEDED", report.cause
    expected = [
        "StopConnector",
        "SuspendRuntime",
        "VerifyComputeGone",
        "StopAgentTimers",
        "CheckAgentTimers",
        "StopAgentInstance",
        "CheckAgentStopped",
        "SleepDataPlane",
        "RecordStop",
    ]
    assert [s for s in dict.fromkeys(states(report)) if s in expected] == expected
    assert (world.agent, world.timers, world.management, world.management_remembered) == (
        "stopped",
        False,
        0,
        1,
    )
    assert len(calls["PowerSleepDataPlaneFunction"]) == 2  # scaled, then verified


def test_a_deep_start_wakes_agent_then_node_groups_then_waits_for_active_before_resuming(app: Any) -> None:
    world = DeepWorld(
        connector="STOPPED",
        runtime="SUSPENDED",
        desired=0,
        remembered=1,
        agent="stopped",
        timers=False,
        management=0,
        management_remembered=1,
        deployment="NOT_REPORTING",
    )
    report, calls = run(
        app,
        "deep-start",
        {"action": "start", "reason": "schedule", "now": tokyo(2026, 3, 11, 8, 0)},
        world,
        stored=request(sleep="deep"),
    )
    assert report.status == "SUCCEEDED", report.cause
    expected = [
        "StartAgentInstance",
        "CheckAgentRunning",
        "RestoreCompute",
        "CheckDeploymentAwake",
        "ResumeRuntime",
        "StartConnector",
        "CheckSlotAdvances",
        "WriteCanary",
        "CheckCanary",
        "RecordStart",
    ]
    assert [s for s in dict.fromkeys(states(report)) if s in expected] == expected
    assert len(calls["PowerCheckDeploymentAwakeFunction"]) == 2  # NOT_REPORTING once, then ACTIVE
    assert (world.management, world.runtime, world.connector) == (1, "ACTIVE", "RUNNING")


def test_a_deep_stop_whose_timers_do_not_stop_leaves_the_node_groups_and_alerts(app: Any) -> None:
    world = DeepWorld()

    def timers(_event: dict[str, Any], _n: int) -> dict[str, Any]:
        raise RuntimeError("openflow-apply-infrastructure is still active")

    report, _ = run(
        app,
        "deep-stop-fails",
        {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)},
        world,
        stored=request(sleep="deep"),
        PowerCheckAgentTimersFunction=timers,
    )
    assert report.status == "FAILED"
    assert "StopAgentInstance" not in states(report) and "SleepDataPlane" not in states(report)
    assert states(report)[-2:] == ["NotifyFailure", "ReleaseLockAfterFailure"]
    assert (world.agent, world.management) == ("running", 1)


def test_a_runtime_only_stop_never_touches_the_agent_or_the_other_node_groups(app: Any) -> None:
    world = DeepWorld()
    report, _ = run(
        app, "shallow-stop", {"action": "stop", "reason": "schedule", "now": tokyo(2026, 3, 10, 20, 0)}, world
    )
    assert report.status == "SUCCEEDED", report.cause
    touched = {"StopAgentTimers", "StopAgentInstance", "SleepDataPlane"} & set(states(report))
    assert not touched and (world.agent, world.management) == ("running", 1)
