"""The provisioning state machine's Task states after the stack (statemachines/provision.asl.json):
agent health, the runtime, the destination, the connector and the canary, one function each, named
as the state; functions/<state>/app.py calls exactly one of them. Each parses its state's input
(steps/provision_inputs.py) and calls phases/ with typed values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.errors import BudgetExhausted, InvalidRequest, PreconditionFailed
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv
from openflow_autopilot.openflow.names import connector_name, runtime_name
from openflow_autopilot.openflow.nifi import configure_gen1_connector
from openflow_autopilot.openflow.nifi_session import read_nifi_access
from openflow_autopilot.phases.agent_checkup import agent_checkup
from openflow_autopilot.phases.canary import insert_at_source, look_in_destination
from openflow_autopilot.phases.connector import connector_status, ensure_connector
from openflow_autopilot.phases.connector_inputs import connector_inputs, driver_source
from openflow_autopilot.phases.destination import ensure_destination
from openflow_autopilot.phases.runtime import ensure_runtime, gen1_runtime_exists, runtime_status
from openflow_autopilot.phases.service_key import service_key_secret_name
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector
from openflow_autopilot.steps.inputs import parse
from openflow_autopilot.steps.provision_inputs import (
    AgentHealthInput,
    CheckCanaryInput,
    CheckConnectorInput,
    CheckRuntimeInput,
    ConnectorInput,
    ConnectorPartsInput,
    DeploymentInput,
    StepInput,
)

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient


def _parse[M: BaseModel](model: type[M], event: dict[str, Any]) -> M:
    return parse(model, event, "provisioning")


def _attempt(state: dict[str, Any], max_attempts: int, what: str) -> int:
    attempt = int(state.get("attempt", 0)) + 1
    if attempt > max_attempts:
        raise BudgetExhausted(
            f"{what} did not finish within {attempt - 1} checks",
            fix="start the workflow again with the same request to keep waiting",
        )
    return attempt


def _session(
    request: ProvisionRequest,
    role: str,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None,
    connector: Connector,
) -> Any:
    return request_session(request, role, env=env, secrets=secrets, connector=connector)


# --- the agent and the runtime ----------------------------------------------------------------------
def agent_health(
    event: dict[str, Any],
    *,
    env: ArtifactsEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """AgentHealth: one step of check deployment -> read journals over SSM -> diagnose -> remediate."""
    given = _parse(AgentHealthInput, event)
    deployment = given.deployment
    return agent_checkup(
        given.request,
        instance_id=given.stack.agent_instance_id or "",
        deployment_name=deployment.name if deployment else None,
        deployment_key=(deployment.key if deployment else None) or "",
        state=given.agent or {},
        budgets=given.settings,
        execution=given.execution or "manual",
        env=env,
        secrets=secrets,
        connector=connector,
    )


def runtime(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """Runtime. Gen 2: CREATE OPENFLOW RUNTIME (once; on a timeout the wait is re-run, never the CREATE)."""
    given = _parse(DeploymentInput, event)
    request = given.request
    deployment = (given.deployment.name if given.deployment else None) or request.openflow.deployment_name
    with _session(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        return ensure_runtime(sql, request, deployment=deployment)


def check_runtime(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> dict[str, Any]:
    """CheckRuntime: one poll of the runtime's status (gen 1: the runtime the human made exists)."""
    given = _parse(CheckRuntimeInput, event)
    request = given.request
    attempt = _attempt(given.runtime, given.max_attempts, f"runtime {runtime_name(request)}")
    if request.openflow.generation is Generation.GEN1:
        # Gen 1 runtimes are made in the UI; the human said it is done: check it really exists.
        with _session(request, request.snowflake.login_role, env, secrets, connector) as sql:
            if not gen1_runtime_exists(sql, request):
                raise PreconditionFailed(
                    f"no runtime integration for runtime {request.runtime.name} is visible",
                    call="SHOW OPENFLOW RUNTIME INTEGRATIONS",
                    fix="create the runtime in the Openflow UI as instructed, then start the execution again",
                )
        return {"done": True, "status": "EXISTS", "attempt": attempt, "name": request.runtime.name}
    with _session(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        return {**runtime_status(sql, request, wait_seconds=5), "attempt": attempt}


# --- the destination and the connector --------------------------------------------------------------
def destination(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """Destination: the database, warehouse, service user (its key in Secrets Manager) and role."""
    request = _parse(StepInput, event).request
    secrets = secrets or client("secretsmanager", request.aws.region)
    with _session(request, request.snowflake.login_role, env, secrets, connector) as sql:
        return ensure_destination(
            sql, request, secrets=secrets, secret_name=service_key_secret_name(request, env.secrets_prefix)
        )


def gen1_connector(
    event: dict[str, Any], *, secrets: SecretsManagerClient | None = None, api_client: Any = None
) -> PhaseResult:
    """Gen1Connector: a gen 1 connector configured over the runtime's NiFi REST API. The state
    machine takes this path only when the request gives runtime.nifi_url and
    runtime.nifi_token_secret_arn; otherwise a human configures the canvas (AwaitConnector)."""
    given = _parse(ConnectorPartsInput, event)
    request = given.request
    if request.openflow.generation is not Generation.GEN1 or not request.runtime.configures_nifi:
        raise InvalidRequest(
            "the Gen1Connector step needs a gen 1 request with runtime.nifi_url and "
            "runtime.nifi_token_secret_arn",
            fix="add both to the request, or let the state machine ask a human (AwaitConnector)",
        )
    secrets = secrets or client("secretsmanager", request.aws.region)
    source, target = connector_inputs(request, given.source, given.destination, secrets)
    return configure_gen1_connector(
        request,
        access=read_nifi_access(secrets, request.runtime),
        source=source,
        destination=target,
        api_client=api_client,
    )


def connector(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """Connector: CREATE ... FROM DEFINITION OPENFLOW_POSTGRES_CDC, configure (GET/edit/PUT),
    COMMIT; as the admin role, which owns the runtime (CREATE OPENFLOW CONNECTOR needs USAGE on it)."""
    given = _parse(ConnectorInput, event)
    request = given.request
    secrets = secrets or client("secretsmanager", request.aws.region)
    endpoint, target = connector_inputs(request, given.source, given.destination, secrets)
    driver_file, fetch = driver_source(request, env)
    with _session(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        return ensure_connector(
            sql,
            request,
            runtime=given.runtime,
            source=endpoint,
            destination=target,
            driver_file=driver_file,
            fetch_driver=fetch,
        )


def check_connector(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> dict[str, Any]:
    """CheckConnector: one step of the wait: stable, then START from STOPPED, done when RUNNING."""
    given = _parse(CheckConnectorInput, event)
    request = given.request
    attempt = _attempt(given.connector, given.max_attempts, "the connector")
    with _session(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        poll = connector_status(sql, connector_name(request), wait_seconds=5, state=given.connector)
        return {**poll, "attempt": attempt}


# --- the canary ------------------------------------------------------------------------------------
def verify_insert(
    event: dict[str, Any], *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> PhaseResult:
    """VerifyInsert: the canary row at the source; CheckCanary then looks for it in Snowflake."""
    request = _parse(StepInput, event).request
    return insert_at_source(request, secrets=secrets, rds=rds)


def check_canary(
    event: dict[str, Any],
    *,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """CheckCanary: one look for the canary in the destination; out of budget, what was seen."""
    given = _parse(CheckCanaryInput, event)
    return look_in_destination(
        given.request,
        given.verify,
        max_attempts=given.max_attempts,
        env=env,
        secrets=secrets,
        connector=connector,
    )
