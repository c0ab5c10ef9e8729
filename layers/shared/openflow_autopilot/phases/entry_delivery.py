"""Glue for the phases after the stack: agent health, runtime, destination, connector, verify.

Each function takes the state machine's event and returns one phase result (or one poll's state);
handlers call exactly one of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, ProvisionRequest, parse_request
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import BudgetExhausted, PreconditionFailed
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow import jdbc_driver
from openflow_autopilot.openflow.endpoints import DestinationInfo, SourceEndpoint
from openflow_autopilot.openflow.names import connector_name, runtime_name
from openflow_autopilot.phases import source as source_phase
from openflow_autopilot.phases.agent_checkup import AgentBudgets, agent_checkup
from openflow_autopilot.phases.connector import connector_status, destination_from_secret, ensure_connector
from openflow_autopilot.phases.destination import ensure_destination, service_key_secret_name
from openflow_autopilot.phases.runtime import ensure_runtime, gen1_runtime_exists, runtime_status
from openflow_autopilot.phases.verify import (
    Canary,
    canary_report,
    find_canary,
    insert_canary,
    remove_canary,
    verification_failure,
)
from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector


def _bucket(env: FunctionEnv) -> str:
    return env.require_artifact_bucket()


def _snowflake(
    request: ProvisionRequest, role: str, env: FunctionEnv, secrets: Any, connector: Connector
) -> Any:
    return request_session(request, role, env=env, secrets=secrets, connector=connector)


def _budget(event: dict[str, Any], state: dict[str, Any], what: str) -> int:
    attempt = int(state.get("attempt", 0)) + 1
    if attempt > int(event.get("max_attempts", 120)):
        raise BudgetExhausted(
            f"{what} did not finish within {attempt - 1} checks",
            fix="start the workflow again with the same request to keep waiting",
        )
    return attempt


def agent_health(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> PhaseResult:
    request = parse_request(event.get("request"))
    deployment = dict(event.get("deployment") or {})
    return agent_checkup(
        request,
        instance_id=str((event.get("stack") or {}).get("agent_instance_id") or ""),
        deployment_name=str(deployment.get("name") or "") or None,
        deployment_key=str(deployment.get("key") or ""),
        state=dict(event.get("agent") or {}),
        budgets=AgentBudgets.model_validate(event.get("settings") or {}),
        execution=str(event.get("execution", "manual")),
        env=env,
        secrets=secrets,
        connector=connector,
    )


def runtime(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> PhaseResult:
    """Gen 2: CREATE OPENFLOW RUNTIME (once; on a timeout the wait is re-run, never the CREATE)."""
    request = parse_request(event.get("request"))
    deployment = str((event.get("deployment") or {}).get("name") or request.openflow.deployment_name)
    with _snowflake(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        return ensure_runtime(sql, request, deployment=deployment)


def runtime_check(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> dict[str, Any]:
    request = parse_request(event.get("request"))
    state = dict(event.get("runtime") or {})
    attempt = _budget(event, state, f"runtime {runtime_name(request)}")
    if request.openflow.generation is Generation.GEN1:
        # Gen 1 runtimes are made in the UI; the human said it is done: check it really exists.
        with _snowflake(request, request.snowflake.login_role, env, secrets, connector) as sql:
            if not gen1_runtime_exists(sql, request):
                raise PreconditionFailed(
                    f"no runtime integration for runtime {request.runtime.name} is visible",
                    call="SHOW OPENFLOW RUNTIME INTEGRATIONS",
                    fix="create the runtime in the Openflow UI as instructed, then start the execution again",
                )
        return {"done": True, "status": "EXISTS", "attempt": attempt, "name": request.runtime.name}
    with _snowflake(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        return {**runtime_status(sql, request, wait_seconds=5), "attempt": attempt}


def destination(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> PhaseResult:
    request = parse_request(event.get("request"))
    secrets = secrets or client("secretsmanager", request.aws.region)
    with _snowflake(request, request.snowflake.login_role, env, secrets, connector) as sql:
        return ensure_destination(
            sql, request, secrets=secrets, secret_name=service_key_secret_name(request, env.secrets_prefix)
        )


def _source_endpoint(request: ProvisionRequest, prepared: dict[str, Any], secrets: Any) -> SourceEndpoint:
    value = secrets.get_secret_value(SecretId=prepared["password_secret_arn"])
    return SourceEndpoint(
        host=str(prepared["host"]),
        port=int(prepared["port"]),
        database=str(prepared["database"]),
        user=str(prepared["user"]),
        password=str(json.loads(value["SecretString"])["password"]),
        publication=str(prepared["publication"]),
        slot_name=str(prepared["slot_name"]),
        tables=tuple(prepared["tables"]),
        password_version=str(value.get("VersionId") or "") or None,
    )


def connector_inputs(
    request: ProvisionRequest, event: dict[str, Any], secrets: Any
) -> tuple[SourceEndpoint, DestinationInfo]:
    """What the source and destination phases left, with the password and the service user's key
    read from Secrets Manager (in memory only): the input of both connector paths."""
    dest = event.get("destination") or {}
    target = destination_from_secret(
        request,
        secrets=secrets,
        key_secret=str(dest["key_secret_arn"]),
        key_fingerprint=dest.get("key_fingerprint"),
    )
    return _source_endpoint(request, dict(event["source"]), secrets), target


def _driver_source(
    request: ProvisionRequest, env: FunctionEnv
) -> tuple[str, Callable[[], jdbc_driver.Driver]]:
    """(the jar's file name, how to fetch it): the request's S3 jar, else the deployment's pinned one."""
    s3_uri = request.source.jdbc_driver
    name = jdbc_driver.file_name_of(s3_uri or env.jdbc_driver_url)

    def fetch() -> jdbc_driver.Driver:
        return jdbc_driver.fetch_driver(
            url=env.jdbc_driver_url,
            sha256=env.jdbc_driver_sha256,
            s3_uri=s3_uri,
            s3=client("s3", request.aws.region) if s3_uri else None,
            artifact_bucket=env.artifact_bucket,
        )

    return name, fetch


def configure_connector(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> PhaseResult:
    """CREATE ... FROM DEFINITION OPENFLOW_POSTGRES_CDC, configure (GET/edit/PUT), COMMIT; as the
    admin role, which owns the runtime (CREATE OPENFLOW CONNECTOR needs USAGE on it)."""
    request = parse_request(event.get("request"))
    secrets = secrets or client("secretsmanager", request.aws.region)
    endpoint, target = connector_inputs(request, event, secrets)
    driver_file, fetch = _driver_source(request, env)
    with _snowflake(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        return ensure_connector(
            sql,
            request,
            runtime=str(event["runtime"]),
            source=endpoint,
            destination=target,
            driver_file=driver_file,
            fetch_driver=fetch,
        )


def connector_check(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> dict[str, Any]:
    """One step of the wait: stable, then START from STOPPED, done when RUNNING (as the admin role)."""
    request = parse_request(event.get("request"))
    state = dict(event.get("connector") or {})
    attempt = _budget(event, state, "the connector")
    with _snowflake(request, request.snowflake.admin_role, env, secrets, connector) as sql:
        poll = connector_status(sql, connector_name(request), wait_seconds=5, state=state)
        return {**poll, "attempt": attempt}


def verify_insert(event: dict[str, Any], *, secrets: Any = None, rds: Any = None) -> PhaseResult:
    """Insert the canary row at the source; the state machine then polls Snowflake for it."""
    request = parse_request(event.get("request"))
    secrets = secrets or client("secretsmanager", request.aws.region)
    admin = source_phase.admin_login(
        request,
        secrets=secrets,
        rds=client("rds", request.aws.region) if request.source.rds_instance_id else None,
    )
    started = utcnow()
    with connect(admin.dsn()) as conn:
        canary = insert_canary(conn, slot_name=source_phase.slot_name(request))
    return PhaseResult(
        phase="VerifyInsert",
        status="changed",
        actions=[
            Action(kind="insert_canary", target=f"{canary.schema_name}.{canary.table_name}", statement=None)
        ],
        notes=[f"canary {canary.id} inserted at {canary.inserted_at}"],
        outputs={"canary": canary.model_dump(mode="json"), "attempt": 0, "found": False},
        started_at=started,
        ended_at=utcnow(),
    )


def verify_check(
    event: dict[str, Any], *, env: FunctionEnv, secrets: Any = None, connector: Connector = _default_connector
) -> PhaseResult:
    """One look for the canary in the destination; out of budget -> what was seen, as the failure."""
    request = parse_request(event.get("request"))
    secrets = secrets or client("secretsmanager", request.aws.region)
    state = dict(event["verify"])
    canary = Canary.model_validate(state["canary"])
    attempt = int(state.get("attempt", 0)) + 1
    started = utcnow()
    with _snowflake(request, request.snowflake.login_role, env, secrets, connector) as sql:
        found = find_canary(sql, destination_database=request.destination.database, canary=canary)
        if found is not None:
            report = canary_report(canary, found, polls=attempt)
            actions = []
            if request.remove_canary:
                admin = source_phase.admin_login(
                    request,
                    secrets=secrets,
                    rds=client("rds", request.aws.region) if request.source.rds_instance_id else None,
                )
                with connect(admin.dsn()) as conn:
                    removed = remove_canary(conn, canary)
                actions.append(Action(kind="remove_canary", target=str(canary.table), statement=removed))
            return PhaseResult(
                phase="CheckCanary",
                status="changed" if actions else "unchanged",
                actions=actions,
                notes=[f"the canary row arrived in Snowflake: {json.dumps(report, default=str)}"],
                outputs={**state, "attempt": attempt, "found": True, "report": report},
                started_at=started,
                ended_at=utcnow(),
            )
        if attempt >= int(event.get("max_attempts", 60)):
            admin = source_phase.admin_login(
                request,
                secrets=secrets,
                rds=client("rds", request.aws.region) if request.source.rds_instance_id else None,
            )
            with connect(admin.dsn()) as conn:
                raise verification_failure(
                    conn,
                    sql,
                    canary=canary,
                    slot_name=source_phase.slot_name(request),
                    destination_database=request.destination.database,
                    connector=connector_name(request),
                    polls=attempt,
                )
    return PhaseResult(
        phase="CheckCanary",
        status="unchanged",
        notes=[f"check {attempt}: not in Snowflake yet"],
        outputs={**state, "attempt": attempt, "found": False},
        started_at=started,
        ended_at=utcnow(),
    )
