"""One step of the agent's health loop with typed values: which instance, which deployment, the
loop's state and budgets in; the session and clients opened here. The provisioning's AgentHealth
and the power start's CheckDeploymentAwake (deep sleep's wake) both run it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.phases.agent_health import check_agent, gen1_agent_instance
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class AgentBudgets(BaseModel):
    """The loop's budgets, from the state machine's `settings`."""

    model_config = ConfigDict(extra="ignore")

    agent_max_checks: int = 60
    max_remediations: int = 2
    poll_seconds: int = 30
    agent_max_wait_seconds: int = 300


def agent_checkup(
    request: ProvisionRequest,
    *,
    instance_id: str,
    deployment_name: str | None,
    deployment_key: str,
    state: dict[str, Any],
    budgets: AgentBudgets,
    execution: str,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    region = request.aws.region
    gen1 = request.openflow.generation is Generation.GEN1
    instance_id = (
        instance_id or str(state.get("instance_id") or "") or (request.openflow.agent_instance_id or "")
    )
    if not instance_id and gen1:
        instance_id = gen1_agent_instance(client("cloudformation", region), data_plane_id=deployment_key)
    # gen 1 integrations are visible to the login role (they were made in the UI, not by our admin role)
    role = request.snowflake.login_role if gen1 else request.snowflake.admin_role
    with request_session(request, role, env=env, secrets=secrets, connector=connector) as sql:
        return check_agent(
            request,
            sql=sql,
            ssm=client("ssm", region),
            s3=client("s3", region),
            ecr=client("ecr", region),
            bucket=env.require_artifact_bucket(),
            execution=execution,
            instance_id=instance_id,
            state=state,
            integration=deployment_name or None,
            max_attempts=budgets.agent_max_checks,
            max_remediations=budgets.max_remediations,
            base_wait_seconds=budgets.poll_seconds,
            max_wait_seconds=budgets.agent_max_wait_seconds,
        )
