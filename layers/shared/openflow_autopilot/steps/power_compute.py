"""The power state machine's Task states that act on AWS compute (statemachines/power.asl.json):
the node groups and the agent instance, and deep sleep's wake; the others are in steps/power.py.
One function each, named as the state; functions/power_<state>/app.py calls exactly one of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.lambda_env import ArtifactsEnv
from openflow_autopilot.phases.agent_checkup import agent_checkup
from openflow_autopilot.power import switches
from openflow_autopilot.power.compute_check import ComputeCheck
from openflow_autopilot.power.openflow import Poll
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.steps.inputs import parse
from openflow_autopilot.steps.power_inputs import (
    AwakeInput,
    CheckTimersInput,
    RestoreInput,
    TargetInput,
    TargetPollInput,
    TimersSent,
)

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient


def _parse[M: BaseModel](model: type[M], event: dict[str, Any]) -> M:
    return parse(model, event, "power")


# --- the node groups ------------------------------------------------------------------------------
def verify_compute_gone(
    event: dict[str, Any], *, eks: EKSClient | None = None, autoscaling: AutoScalingClient | None = None
) -> ComputeCheck:
    """VerifyComputeGone: one poll that the runtime's node groups reached zero (scaled if not)."""
    given = _parse(TargetPollInput, event)
    return switches.compute_gone(
        given.request,
        given.target,
        given.poll("compute", ComputeCheck),
        grace_checks=given.settings.compute_grace_checks,
        max_checks=given.settings.max_checks,
        eks=eks,
        autoscaling=autoscaling,
    )


def sleep_data_plane(
    event: dict[str, Any], *, eks: EKSClient | None = None, autoscaling: AutoScalingClient | None = None
) -> ComputeCheck:
    """SleepDataPlane (deep sleep): one poll, every node group of the deployment to zero."""
    given = _parse(TargetPollInput, event)
    return switches.data_plane_asleep(
        given.request,
        given.target,
        given.poll("data_plane", ComputeCheck),
        max_checks=given.settings.max_checks,
        eks=eks,
        autoscaling=autoscaling,
    )


def restore_compute(
    event: dict[str, Any], *, eks: EKSClient | None = None, autoscaling: AutoScalingClient | None = None
) -> PhaseResult:
    """RestoreCompute: the remembered sizes put back (deep sleep: the management group's too)."""
    given = _parse(RestoreInput, event)
    return switches.restore_compute(
        given.request, given.target, deep=given.deep, eks=eks, autoscaling=autoscaling
    )


# --- the agent instance ---------------------------------------------------------------------------
def stop_agent_timers(
    event: dict[str, Any], *, ec2: EC2Client | None = None, ssm: SSMClient | None = None
) -> PhaseResult:
    """StopAgentTimers (deep sleep): the agent's apply and sync timers stopped over SSM RunCommand."""
    given = _parse(TargetInput, event)
    return switches.stop_agent_timers(given.request, given.target, ec2=ec2, ssm=ssm)


def check_agent_timers(event: dict[str, Any], *, ssm: SSMClient | None = None) -> PhaseResult:
    """CheckAgentTimers: StopAgentTimers' command finished and both timers are inactive."""
    given = _parse(CheckTimersInput, event)
    sent = given.phases.get("StopAgentTimers") or TimersSent()
    return switches.agent_timers_stopped(given.request, sent.outputs, ssm=ssm)


def stop_agent_instance(event: dict[str, Any], *, ec2: EC2Client | None = None) -> PhaseResult:
    """StopAgentInstance: the agent instance openflow-agent-<key> stopped."""
    given = _parse(TargetInput, event)
    return switches.set_agent(given.request, given.target, "stopped", ec2=ec2)


def check_agent_stopped(event: dict[str, Any], *, ec2: EC2Client | None = None) -> Poll:
    given = _parse(TargetPollInput, event)
    state = given.poll("agent_stopped", Poll)
    return switches.agent_reached(
        given.request, given.target, "stopped", state, max_checks=given.settings.max_checks, ec2=ec2
    )


def start_agent_instance(event: dict[str, Any], *, ec2: EC2Client | None = None) -> PhaseResult:
    """StartAgentInstance: the agent instance openflow-agent-<key> started."""
    given = _parse(TargetInput, event)
    return switches.set_agent(given.request, given.target, "running", ec2=ec2)


def check_agent_running(event: dict[str, Any], *, ec2: EC2Client | None = None) -> Poll:
    given = _parse(TargetPollInput, event)
    state = given.poll("agent_running", Poll)
    return switches.agent_reached(
        given.request, given.target, "running", state, max_checks=given.settings.max_checks, ec2=ec2
    )


def check_deployment_awake(
    event: dict[str, Any],
    *,
    env: ArtifactsEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """CheckDeploymentAwake (deep sleep's wake): one step of the agent health loop, until the
    deployment reports ACTIVE again (journals read and known faults fixed on the way)."""
    given = _parse(AwakeInput, event)
    return agent_checkup(
        given.request,
        instance_id=given.stack.agent_instance_id or "",
        deployment_name=given.deployment.name,
        deployment_key=given.deployment.key or "",
        state=given.agent or {},
        budgets=given.settings,
        execution=given.execution or "manual",
        env=env,
        secrets=secrets,
        connector=connector,
    )
