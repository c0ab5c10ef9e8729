"""The deployment's agent instance (`openflow-agent-<key>`): stopped with the runtime only when the
request opts in (`schedule.stop_agent`, or `schedule.sleep: deep`, which stops its timers first),
started first on the way back, since the agent must report before a runtime can resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from openflow_autopilot.aws.calls import aws_call
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import BudgetExhausted, PreconditionFailed
from openflow_autopilot.openflow.agent.collect import completed_invocation, send_timers_stop
from openflow_autopilot.power.openflow import Poll

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient

_EC2_BUSY = frozenset({"IncorrectInstanceState"})


def _instance(ec2: EC2Client, key: str) -> dict[str, Any] | None:
    with aws_call("ec2:DescribeInstances"):
        reservations = ec2.describe_instances(
            Filters=[
                {"Name": "tag:Name", "Values": [f"openflow-agent-{key}"]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return cast("dict[str, Any]", max(instances, key=lambda i: i["LaunchTime"])) if instances else None


def set_agent(ec2: EC2Client, key: str, *, want: Literal["stopped", "running"]) -> PhaseResult:
    started = utcnow()
    phase = "StopAgent" if want == "stopped" else "StartAgent"
    actions: list[Action] = []
    notes: list[str] = []
    instance = _instance(ec2, key)
    if instance is None:
        notes.append(f"no agent instance tagged openflow-agent-{key}: nothing to do")
        return PhaseResult(
            phase=phase, status="unchanged", notes=notes, started_at=started, ended_at=utcnow()
        )
    instance_id = str(instance["InstanceId"])
    state = str(instance["State"]["Name"])
    if want == "stopped" and state in ("running", "pending"):
        with aws_call("ec2:StopInstances", busy=_EC2_BUSY):
            ec2.stop_instances(InstanceIds=[instance_id])
        actions.append(Action(kind="stop_instance", target=instance_id, statement="ec2:StopInstances"))
    elif want == "running" and state in ("stopped", "stopping"):
        with aws_call("ec2:StartInstances", busy=_EC2_BUSY):
            ec2.start_instances(InstanceIds=[instance_id])
        actions.append(Action(kind="start_instance", target=instance_id, statement="ec2:StartInstances"))
    else:
        notes.append(f"agent instance {instance_id} is already {state}: nothing to do")
    return PhaseResult(
        phase=phase,
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=notes,
        outputs={"instance_id": instance_id, "state_before": state},
        started_at=started,
        ended_at=utcnow(),
    )


def agent_reached(
    ec2: EC2Client, key: str, *, want: Literal["running", "stopped"], state: Poll, max_checks: int
) -> Poll:
    attempt = state.attempt + 1
    instance = _instance(ec2, key)
    status = str(instance["State"]["Name"]) if instance else "missing"
    done = instance is None or status == want
    if not done and attempt >= max_checks:
        again = "start" if want == "running" else "stop"
        raise BudgetExhausted(
            f"agent instance {instance['InstanceId'] if instance else ''} is still {status} "
            f"after {attempt} checks",
            fix=f"look at the instance in the EC2 console, then {again} again",
        )
    return Poll(attempt=attempt, done=done, status=status)


def stop_timers(ec2: EC2Client, ssm: SSMClient, key: str) -> PhaseResult:
    """Send the script that stops the agent's timers (deep sleep); `timers_stopped` checks it ran."""
    started = utcnow()
    instance = _instance(ec2, key)
    if instance is None or instance["State"]["Name"] != "running":
        state = instance["State"]["Name"] if instance else "missing"
        return PhaseResult(
            phase="StopAgentTimers",
            status="unchanged",
            notes=[f"agent instance is {state}: its timers are not running"],
            outputs={"command_id": None, "instance_id": instance["InstanceId"] if instance else None},
            started_at=started,
            ended_at=utcnow(),
        )
    instance_id = str(instance["InstanceId"])
    command_id = send_timers_stop(ssm, instance_id)
    return PhaseResult(
        phase="StopAgentTimers",
        status="changed",
        actions=[
            Action(
                kind="stop_agent_timers",
                target=instance_id,
                statement="systemctl stop openflow-apply-infrastructure.timer openflow-sync-images.timer",
            )
        ],
        outputs={"command_id": command_id, "instance_id": instance_id},
        started_at=started,
        ended_at=utcnow(),
    )


def timers_stopped(ssm: SSMClient, sent: dict[str, Any]) -> PhaseResult:
    """The timers' script finished and said both are inactive; a command still running is NotReadyYet
    (the state's Retry waits), a failure stops the stop before the instance or the node groups."""
    started = utcnow()
    command_id, instance_id = sent.get("command_id"), sent.get("instance_id")
    if not command_id:
        return PhaseResult(
            phase="CheckAgentTimers",
            status="unchanged",
            notes=["no command was sent"],
            started_at=started,
            ended_at=utcnow(),
        )
    done = completed_invocation(ssm, str(command_id), str(instance_id))
    if done.status != "Success":
        said = (done.inline_stdout or done.inline_stderr).strip().splitlines()[-1:] or [done.status]
        raise PreconditionFailed(
            f"the agent's timers did not stop on {instance_id}: {done.status} ({said[0][:200]})",
            fix="look at `systemctl status openflow-apply-infrastructure.timer` on the agent (SSM Session "
            "Manager); the runtime is suspended, the agent and the management node group keep running",
        )
    return PhaseResult(
        phase="CheckAgentTimers",
        status="unchanged",
        notes=[f"agent timers stopped on {instance_id}"],
        started_at=started,
        ended_at=utcnow(),
    )
