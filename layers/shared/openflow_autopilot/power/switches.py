"""The power workflow's switches, with typed values: the connector, the runtime and the warehouse
(SQL; gen 1: the NiFi flow and nothing observable), the node groups and the agent instance (AWS).
steps/power.py calls one of these per state; none of them reads an event."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.power import agent as agent_power
from openflow_autopilot.power import openflow as openflow_power
from openflow_autopilot.power.compute_check import ComputeCheck, check_compute
from openflow_autopilot.power.models import Target
from openflow_autopilot.power.nifi import nifi_secret_name, read_nifi_access, set_flow_state
from openflow_autopilot.power.nodegroups import find_data_plane_groups, find_groups, restore
from openflow_autopilot.power.openflow import Poll
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, Sql, _default_connector

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

GEN1_NOT_OBSERVABLE = "gen 1 (not observable)"


def _gen1(request: ProvisionRequest) -> bool:
    return request.openflow.generation is Generation.GEN1


def _owner_role(request: ProvisionRequest) -> str:
    """Gen 2 runtimes belong to the Openflow admin role; gen 1 objects are seen by the login role."""
    return request.snowflake.login_role if _gen1(request) else request.snowflake.admin_role


def _unchanged(phase: str, note: str) -> PhaseResult:
    now = utcnow()
    return PhaseResult(phase=phase, status="unchanged", notes=[note], started_at=now, ended_at=now)


def _observed(
    request: ProvisionRequest,
    role: str,
    look: Callable[[Sql], Poll],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None,
    connector: Connector,
) -> Poll:
    """One status look in a session as `role`; gen 1 statuses are not observable over SQL, so a
    gen 1 wait is done at once."""
    if _gen1(request):
        return Poll(attempt=1, done=True, status=GEN1_NOT_OBSERVABLE)
    with request_session(request, role, env=env, secrets=secrets, connector=connector) as sql:
        return look(sql)


# --- Openflow (SQL) -------------------------------------------------------------------------------
def locate(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> dict[str, Any]:
    """The deployment's key, the runtime's node type, and the runtimes sharing its nodes."""
    with request_session(request, _owner_role(request), env=env, secrets=secrets, connector=connector) as sql:
        return openflow_power.locate(sql, request)


def set_connector(
    request: ProvisionRequest,
    want: Literal["STOPPED", "RUNNING"],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """ALTER OPENFLOW CONNECTOR ... STOP|START; gen 1: the NiFi flow, when its access is stored."""
    if _gen1(request):
        secrets = secrets or client("secretsmanager", request.aws.region)
        access = read_nifi_access(secrets, nifi_secret_name(env.secrets_prefix, request.name))
        started = utcnow()
        actions, notes = set_flow_state(access, want)
        return PhaseResult(
            phase="StopConnector" if want == "STOPPED" else "StartConnector",
            status="changed" if actions else "unchanged",
            actions=actions,
            notes=notes,
            started_at=started,
            ended_at=utcnow(),
        )
    login = request.snowflake.login_role
    with request_session(request, login, env=env, secrets=secrets, connector=connector) as sql:
        if want == "STOPPED":
            return openflow_power.stop_connector(sql, request)
        return openflow_power.start_connector(sql, request)


def connector_reached(
    request: ProvisionRequest,
    want: Literal["STOPPED", "RUNNING"],
    state: Poll,
    *,
    max_checks: int,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> Poll:
    """One look at the connector's status, as the login role."""
    return _observed(
        request,
        request.snowflake.login_role,
        lambda sql: openflow_power.connector_reached(
            sql, request, want=want, state=state, max_checks=max_checks
        ),
        env=env,
        secrets=secrets,
        connector=connector,
    )


def set_runtime(
    request: ProvisionRequest,
    want: Literal["SUSPENDED", "ACTIVE"],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """ALTER OPENFLOW RUNTIME ... SUSPEND|RESUME; gen 1 has none (its node groups are scaled)."""
    phase = "SuspendRuntime" if want == "SUSPENDED" else "ResumeRuntime"
    if _gen1(request):
        return _unchanged(
            phase, "gen 1 runtimes have no SQL suspend/resume: their node groups are scaled instead"
        )
    admin = request.snowflake.admin_role
    with request_session(request, admin, env=env, secrets=secrets, connector=connector) as sql:
        if want == "SUSPENDED":
            return openflow_power.suspend_runtime(sql, request)
        return openflow_power.resume_runtime(sql, request)


def runtime_reached(
    request: ProvisionRequest,
    want: Literal["SUSPENDED", "ACTIVE"],
    state: Poll,
    *,
    max_checks: int,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> Poll:
    """One look at the runtime's status, as the admin role (its owner)."""
    return _observed(
        request,
        request.snowflake.admin_role,
        lambda sql: openflow_power.runtime_reached(
            sql, request, want=want, state=state, max_checks=max_checks
        ),
        env=env,
        secrets=secrets,
        connector=connector,
    )


def suspend_warehouse(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    login = request.snowflake.login_role
    with request_session(request, login, env=env, secrets=secrets, connector=connector) as sql:
        return openflow_power.suspend_warehouse(sql, request)


# --- AWS compute ----------------------------------------------------------------------------------
def _compute_clients(
    request: ProvisionRequest, eks: EKSClient | None, autoscaling: AutoScalingClient | None
) -> tuple[Any, Any]:
    region = request.aws.region
    return eks or client("eks", region), autoscaling or client("autoscaling", region)


def compute_gone(
    request: ProvisionRequest,
    target: Target,
    state: ComputeCheck,
    *,
    grace_checks: int,
    max_checks: int,
    eks: EKSClient | None = None,
    autoscaling: AutoScalingClient | None = None,
) -> ComputeCheck:
    """One poll of the stop's compute check: the runtime's node groups at zero, scaled if Openflow
    did not (after the grace polls; gen 1 at once), never while another runtime shares them."""
    if not target.key:
        return _nothing_to_check(state)
    eks, autoscaling = _compute_clients(request, eks, autoscaling)
    return check_compute(
        eks,
        autoscaling,
        key=target.key,
        size=target.node_type or request.runtime.size.value,
        state=state,
        grace_checks=0 if _gen1(request) else grace_checks,
        max_checks=max_checks,
        may_force=not target.shared_with,
        shared_with=list(target.shared_with),
    )


def data_plane_asleep(
    request: ProvisionRequest,
    target: Target,
    state: ComputeCheck,
    *,
    max_checks: int,
    eks: EKSClient | None = None,
    autoscaling: AutoScalingClient | None = None,
) -> ComputeCheck:
    """Deep sleep, one poll: every node group of the deployment at zero. The agent is stopped by
    now, so nothing scales them back: they are scaled at once."""
    if not target.key:
        return _nothing_to_check(state)
    eks, autoscaling = _compute_clients(request, eks, autoscaling)
    return check_compute(
        eks,
        autoscaling,
        key=target.key,
        size=None,
        state=state,
        grace_checks=0,
        max_checks=max_checks,
        may_force=True,
        data_plane=True,
    )


def _nothing_to_check(state: ComputeCheck) -> ComputeCheck:
    note = "the deployment has no key yet: no node groups to look at"
    return ComputeCheck(attempt=state.attempt + 1, done=True, notes=[note])


def restore_compute(
    request: ProvisionRequest,
    target: Target,
    *,
    deep: bool,
    eks: EKSClient | None = None,
    autoscaling: AutoScalingClient | None = None,
) -> PhaseResult:
    """The start's remembered sizes put back: the runtime's node groups, or with `deep` every node
    group of the deployment, the management one included."""
    if not target.key:
        return _unchanged("RestoreCompute", "the deployment has no key yet: no node groups to look at")
    eks, autoscaling = _compute_clients(request, eks, autoscaling)
    started = utcnow()
    if deep:
        groups = find_data_plane_groups(eks, autoscaling, key=target.key)
    else:
        size = target.node_type or request.runtime.size.value
        groups = find_groups(eks, autoscaling, key=target.key, size=size)
    actions, notes = [], []
    for group in groups:
        done, said = restore(eks, autoscaling, group)
        actions += done
        notes += said
    if not groups:
        notes.append(f"no node group found for deployment key {target.key}: nothing to restore")
    return PhaseResult(
        phase="RestoreCompute",
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=notes,
        outputs={"groups": [g.describe() for g in groups]},
        started_at=started,
        ended_at=utcnow(),
    )


# --- the agent instance ---------------------------------------------------------------------------
def _ec2(request: ProvisionRequest, ec2: EC2Client | None) -> Any:
    return ec2 or client("ec2", request.aws.region)


def set_agent(
    request: ProvisionRequest,
    target: Target,
    want: Literal["stopped", "running"],
    *,
    ec2: EC2Client | None = None,
) -> PhaseResult:
    return agent_power.set_agent(_ec2(request, ec2), target.key, want=want)


def agent_reached(
    request: ProvisionRequest,
    target: Target,
    want: Literal["stopped", "running"],
    state: Poll,
    *,
    max_checks: int,
    ec2: EC2Client | None = None,
) -> Poll:
    return agent_power.agent_reached(
        _ec2(request, ec2), target.key, want=want, state=state, max_checks=max_checks
    )


def stop_agent_timers(
    request: ProvisionRequest, target: Target, *, ec2: EC2Client | None = None, ssm: SSMClient | None = None
) -> PhaseResult:
    ssm = ssm or client("ssm", request.aws.region)
    return agent_power.stop_timers(_ec2(request, ec2), ssm, target.key)


def agent_timers_stopped(
    request: ProvisionRequest, sent: dict[str, Any], *, ssm: SSMClient | None = None
) -> PhaseResult:
    """`sent`: the outputs of StopAgentTimers (the command and the instance)."""
    return agent_power.timers_stopped(ssm or client("ssm", request.aws.region), sent)
