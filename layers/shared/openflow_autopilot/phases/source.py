"""The source database phases: pre-flight doctor (read-only, before any change), RDS logical
replication (parameter group, reboot), and the connector's user, publication and grants.

The admin login comes from Secrets Manager (the RDS-managed master secret, or one named in the
request: postgres/source_admin.py); the connector's generated password goes to Secrets Manager and
nowhere else.
"""

from __future__ import annotations

import json
import secrets as pysecrets
from typing import TYPE_CHECKING, Any

from openflow_autopilot.aws.rds import ensure_logical_replication, rds_status
from openflow_autopilot.aws.secret_owner import check_secret_owner, owner_tags
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import BudgetExhausted, InvalidRequest, PreconditionFailed
from openflow_autopilot.openflow.canary import CANARY_TABLE, create_canary_table
from openflow_autopilot.postgres.connection import Connection, connect
from openflow_autopilot.postgres.doctor import run_doctor
from openflow_autopilot.postgres.prepare import prepare_source
from openflow_autopilot.postgres.source_admin import SourceAdmin, slot_name

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient


def connector_secret_name(request: ProvisionRequest, prefix: str = "openflow-autopilot/") -> str:
    return f"{prefix}{request.name}/source-connector"


def _connect(admin: SourceAdmin) -> Connection:
    return connect(admin.dsn())


def preflight(request: ProvisionRequest, admin: SourceAdmin) -> PhaseResult:
    """Read-only checks (issue: pre-flight doctor). Blocking findings stop the workflow here,
    before anything anywhere has changed."""
    started = utcnow()
    with _connect(admin) as conn:
        report = run_doctor(conn, request.source.tables, connector_slot=slot_name(request))
    notes = [f"{f.severity}: {f.id} {f.subject}: {f.evidence}" for f in report.findings]
    if report.blocking:
        blocking = [f for f in report.findings if f.severity == "blocking"]
        raise PreconditionFailed(
            f"the source database has {len(blocking)} blocking finding(s): "
            + "; ".join(f"{f.id} ({f.subject}): {f.evidence}" for f in blocking[:5]),
            call="source pre-flight doctor",
            fix=" | ".join(f.fix for f in blocking[:3]),
        )
    return PhaseResult(
        phase="SourcePreflight",
        status="unchanged",
        notes=notes or ["no findings"],
        outputs={"server": report.server.model_dump(mode="json"), "warnings": report.warnings},
        started_at=started,
        ended_at=utcnow(),
    )


def rds_parameters(
    request: ProvisionRequest, *, rds: RDSClient, allow_reboot: bool | None = None
) -> PhaseResult:
    started = utcnow()
    src = request.source
    if not src.rds_instance_id:
        return PhaseResult(
            phase="SourceParameters",
            status="unchanged",
            notes=["not an RDS instance: wal_level is checked by the pre-flight doctor"],
            outputs={"reboot_required": False, "rebooted": False, "rds": False},
            started_at=started,
            ended_at=utcnow(),
        )
    result = ensure_logical_replication(
        rds,
        src.rds_instance_id,
        allow_reboot=src.allow_reboot if allow_reboot is None else allow_reboot,
        parameter_group_name=src.parameter_group_name,
    )
    actions = [
        Action(kind="rds", target=f"{src.rds_instance_id}: {a}"[:200], statement=a) for a in result.actions
    ]
    return PhaseResult(
        phase="SourceParameters",
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=[result.message, *result.notes],
        outputs={
            "rds": True,
            "instance_id": src.rds_instance_id,
            "parameter_group": result.parameter_group,
            "reboot_required": result.reboot_required,
            "rebooted": result.rebooted,
            "attempt": 0,
        },
        started_at=started,
        ended_at=utcnow(),
    )


def rds_ready(
    request: ProvisionRequest, *, rds: RDSClient, state: dict[str, Any], max_attempts: int
) -> dict[str, Any]:
    """One poll of the instance: available and parameters in-sync."""
    attempt = int(state.get("attempt", 0)) + 1
    if not request.source.rds_instance_id:
        return {**state, "attempt": attempt, "ready": True}
    status = rds_status(rds, request.source.rds_instance_id)
    if status.ready:
        return {**state, "attempt": attempt, "ready": True, "status": status.status}
    if attempt >= max_attempts:
        raise BudgetExhausted(
            f"RDS instance {request.source.rds_instance_id} is still {status.status} "
            f"(parameters {status.parameter_apply_status}) after {attempt} checks",
            call="rds:DescribeDBInstances",
            fix="look at the instance in the RDS console; start the workflow again to keep waiting",
        )
    return {**state, "attempt": attempt, "ready": False, "status": status.status}


def _connector_password(
    secrets: SecretsManagerClient, name: str, user: str, *, existing_role: bool, deployment: str
) -> tuple[str, str, bool]:
    """(password, secret ARN, created now). An existing secret is reused, never rotated here (unless
    it is another deployment's: refused). A role the workflow did not create keeps its password, so
    its secret must be there already."""
    check_secret_owner(secrets, name, deployment)
    try:
        value = secrets.get_secret_value(SecretId=name)
        return json.loads(value["SecretString"])["password"], str(value["ARN"]), False
    except secrets.exceptions.ResourceNotFoundException:
        if existing_role:
            raise InvalidRequest(
                f"source.use_existing_replication_user: the secret {name} with role {user}'s password does "
                "not exist, and the password of a role the workflow did not create is never set",
                fix=f"aws secretsmanager create-secret --name {name} --secret-string "
                f'\'{{"username": "{user}", "password": "<its password>"}}\', then start the workflow again',
            ) from None
    password = pysecrets.token_urlsafe(32)
    arn = secrets.create_secret(
        Name=name,
        Description="Openflow PostgreSQL CDC connector login (managed by openflow-autopilot)",
        SecretString=json.dumps({"username": user, "password": password}),
        Tags=owner_tags(deployment),
    )["ARN"]
    return password, str(arn), True


def prepare(
    request: ProvisionRequest, admin: SourceAdmin, *, secrets: SecretsManagerClient, secret_name: str
) -> PhaseResult:
    started = utcnow()
    src = request.source
    password, secret_arn, created = _connector_password(
        secrets,
        secret_name,
        src.replication_user,
        existing_role=src.use_existing_replication_user,
        deployment=request.openflow.deployment_name,
    )
    with _connect(admin) as conn:
        # The canary table the verify phase writes to is replicated like the requested tables.
        canary_actions = create_canary_table(conn)
        result = prepare_source(
            conn,
            tables=[*src.tables, str(CANARY_TABLE)],
            publication=src.publication,
            user=src.replication_user,
            password=password,
            update_password=created and not src.use_existing_replication_user,
            connector_slot=slot_name(request),
            use_existing=src.use_existing_replication_user,
        )
    actions = [
        Action(kind="postgres", target=a[:200], statement=a) for a in [*canary_actions, *result.actions]
    ]
    if created:
        actions.insert(
            0, Action(kind="create_secret", target=secret_name, statement="generated connector password")
        )
    return PhaseResult(
        phase="SourcePrepare",
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=[f"publication {result.publication}: {', '.join(result.tables)}"]
        + (
            [
                f"publication {result.publication} also publishes {', '.join(result.kept_tables)}: kept, "
                "since it may be shared (`openflow-autopilot source prepare --exact` removes them)"
            ]
            if result.kept_tables
            else []
        ),
        outputs={
            "host": admin.host,
            "port": admin.port,
            "database": admin.database,
            "user": result.user,
            "publication": result.publication,
            "slot_name": slot_name(request),
            "tables": result.tables,
            "password_secret_arn": secret_arn,
        },
        started_at=started,
        ended_at=utcnow(),
    )
