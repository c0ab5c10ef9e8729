"""The provisioning's end-to-end proof, with typed values: VerifyInsert writes a canary row at the
source; CheckCanary looks for it in the destination until it arrives (then removes it, when the
request says so) or the budget runs out (then the failure says what was seen on the way)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow.canary import (
    Canary,
    canary_report,
    find_canary,
    insert_canary,
    remove_canary,
)
from openflow_autopilot.openflow.names import connector_name
from openflow_autopilot.phases.verify import verification_failure
from openflow_autopilot.postgres.connection import connect
from openflow_autopilot.postgres.source_admin import slot_name, source_admin
from openflow_autopilot.snowflake.login import request_session
from openflow_autopilot.snowflake.session import Connector, _default_connector

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient


class VerifyState(BaseModel):
    """`$.verify`: the canary and the checks so far (VerifyInsert's outputs, then CheckCanary's)."""

    model_config = ConfigDict(extra="allow")

    canary: Canary
    attempt: int = 0
    found: bool = False


def insert_at_source(
    request: ProvisionRequest, *, secrets: SecretsManagerClient | None = None, rds: RDSClient | None = None
) -> PhaseResult:
    secrets = secrets or client("secretsmanager", request.aws.region)
    started = utcnow()
    with connect(source_admin(request, secrets=secrets, rds=rds).dsn()) as conn:
        canary = insert_canary(conn, slot_name=slot_name(request))
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


def look_in_destination(
    request: ProvisionRequest,
    state: VerifyState,
    *,
    max_attempts: int,
    env: FunctionEnv,
    secrets: SecretsManagerClient | None = None,
    connector: Connector = _default_connector,
) -> PhaseResult:
    """One look (as the login role); out of budget -> what was seen, as the failure."""
    secrets = secrets or client("secretsmanager", request.aws.region)
    canary = state.canary
    attempt = state.attempt + 1
    started = utcnow()
    carried = state.model_dump(mode="json")
    login = request.snowflake.login_role
    with request_session(request, login, env=env, secrets=secrets, connector=connector) as sql:
        found = find_canary(sql, destination_database=request.destination.database, canary=canary)
        if found is not None:
            report = canary_report(canary, found, polls=attempt)
            actions = []
            if request.remove_canary:
                with connect(source_admin(request, secrets=secrets).dsn()) as conn:
                    removed = remove_canary(conn, canary)
                actions.append(Action(kind="remove_canary", target=str(canary.table), statement=removed))
            return PhaseResult(
                phase="CheckCanary",
                status="changed" if actions else "unchanged",
                actions=actions,
                notes=[f"the canary row arrived in Snowflake: {json.dumps(report, default=str)}"],
                outputs={**carried, "attempt": attempt, "found": True, "report": report},
                started_at=started,
                ended_at=utcnow(),
            )
        if attempt >= max_attempts:
            with connect(source_admin(request, secrets=secrets).dsn()) as conn:
                raise verification_failure(
                    conn,
                    sql,
                    canary=canary,
                    slot_name=slot_name(request),
                    destination_database=request.destination.database,
                    connector=connector_name(request),
                    polls=attempt,
                )
    return PhaseResult(
        phase="CheckCanary",
        status="unchanged",
        notes=[f"check {attempt}: not in Snowflake yet"],
        outputs={**carried, "attempt": attempt, "found": False},
        started_at=started,
        ended_at=utcnow(),
    )
