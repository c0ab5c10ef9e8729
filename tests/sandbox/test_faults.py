"""Fault injection: every external call site survives a transient fault, and a permanent fault stops
the run in its phase with a diagnosis; once the cause is gone a rerun finishes without repeating
what the failed run did. Each test records its rows for the README table (openflow_sandbox.fault_table).

moto has no RedriveExecution, so "redrive" is a rerun: a new execution of the same request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from openflow_autopilot.errors import RETRYABLE_ERROR_NAMES
from openflow_autopilot.openflow.agent.repositories import OPENFLOW_REPOSITORY_NAMES
from openflow_autopilot.phases.stack import stack_name_for
from openflow_sandbox import fault_table
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import LOGIN_USER, SOURCE_DATABASE, Sandbox
from openflow_sandbox.faults import (
    PgFaultProxy,
    allow_ddl,
    cancel_ddl,
    current_function,
    ddl_cancelled,
    deny_ddl,
    uncancel_ddl,
)

pytestmark = pytest.mark.sandbox
STACK = stack_name_for("SALES_CDC_DEPLOYMENT")


@dataclass
class Faulty:
    sandbox: Sandbox
    proxy: PgFaultProxy

    def request(self, **overrides: Any) -> dict[str, Any]:
        # the handlers reach PostgreSQL through the fault proxy
        return self.sandbox.request(source__port=self.proxy.port, **overrides)


@pytest.fixture
def faulty() -> Iterator[Faulty]:
    with Sandbox() as sandbox:
        assert sandbox.postgres is not None
        proxy = PgFaultProxy(sandbox.postgres.host, sandbox.postgres.port).start()
        try:
            yield Faulty(sandbox, proxy)
        finally:
            proxy.stop()


def running(function: str) -> Callable[[], bool]:
    return lambda: function in (current_function() or "")


# --- what a run created --------------------------------------------------------------------------------
_CREATES = {
    # IAM action -> the request parameter naming what it creates
    "cloudformation:CreateStack": "StackName",
    "rds:CreateDBParameterGroup": "DBParameterGroupName",
    "rds:RebootDBInstance": "DBInstanceIdentifier",
    "secretsmanager:CreateSecret": "Name",
    "ecr:CreateRepository": "repositoryName",
    "scheduler:CreateScheduleGroup": "_path",
    "scheduler:CreateSchedule": "_path",
}


_TOKENS = ("ClientRequestToken", "ClientToken")


def aws_creations(sandbox: Sandbox) -> Counter[tuple[str, str]]:
    """(IAM action, name) of each create call our handlers made that AWS carried out. An SDK retry
    carrying the same idempotency token is the same request (AWS answers it without acting again)."""
    faults = sandbox.moto.faults
    requests = {
        (
            action,
            str(call.params.get(param)),
            next((call.params[t] for t in _TOKENS if t in call.params), id(call)),
        )
        for action, param in _CREATES.items()
        for call in faults.successful(action)
    }
    return Counter((action, name) for action, name, _ in requests)


def snowflake_writes(sandbox: Sandbox, since: int = 0) -> Counter[str]:
    """The workflow's statements that changed Snowflake (the connector stand-in's rows excluded)."""
    return Counter(
        s.sql
        for s in sandbox.snowflake.statements[since:]
        if s.kind == "write" and s.ok and s.user == LOGIN_USER and not _per_run(s.sql)
    )


def _per_run(sql: str) -> bool:
    # verification writes a fresh canary every run, by design; the connector's config PUT is a file
    return "openflow_autopilot_canary" in sql or sql.startswith(("PUT ", "GET "))


def handled_by(sandbox: Sandbox, function: str, call: str, client_retry: str) -> str:
    """Who absorbed the fault: the state machine's Retry (the handler failed with a retryable error
    naming the call) or the client library's own retry."""
    errors = [
        inv.error_type
        for inv in sandbox.moto.registry.invocations
        if function in inv.function_name
        and inv.error_type
        and call.lower() in str((inv.result or {}).get("errorMessage", "")).lower()
    ]
    if errors and errors[0] in RETRYABLE_ERROR_NAMES:
        return f"state machine Retry ({errors[0]})"
    if errors:
        return f"not retried: {errors[0]}"
    return client_retry


# --- transient faults: one at every call site, one run --------------------------------------------------
@dataclass(frozen=True)
class Site:
    phase: str
    function: str  # the handler's logical id
    call: str  # IAM action, a Snowflake statement (regex) or a PostgreSQL step
    fault: str


_AWS_ROTATION = ("throttling", "unavailable", "reset")
# (phase, handler, IAM action): every AWS call the provisioning handlers make in a run.
AWS_SITES = [
    ("AcquireLock", "AcquireLockFunction", "dynamodb:PutItem"),
    ("SourcePreflight", "SourcePreflightFunction", "rds:DescribeDBInstances"),
    ("SourcePreflight", "SourcePreflightFunction", "secretsmanager:GetSecretValue"),
    ("SnowflakePrerequisites", "SnowflakePrerequisitesFunction", "secretsmanager:GetSecretValue"),
    ("Deployment", "DeploymentFunction", "secretsmanager:GetSecretValue"),
    ("AwaitTemplate", "AwaitTemplateFunction", "s3:HeadObject"),
    ("AwaitTemplate", "AwaitTemplateFunction", "s3:PutObject"),
    ("AwaitTemplate", "AwaitTemplateFunction", "sns:Publish"),
    ("AwaitTemplate (upload event)", "TemplateUploadedFunction", "s3:GetObject"),
    ("AwaitTemplate (upload event)", "TemplateUploadedFunction", "states:SendTaskSuccess"),
    ("AwaitTemplate (upload event)", "TemplateUploadedFunction", "s3:DeleteObject"),
    ("TemplateDoctor", "TemplateDoctorFunction", "s3:GetObject"),
    ("TemplateDoctor", "TemplateDoctorFunction", "s3:PutObject"),
    ("Stack", "StackFunction", "s3:GetObject"),
    ("Stack", "StackFunction", "cloudformation:DescribeStacks"),
    ("Stack", "StackFunction", "cloudformation:CreateStack"),
    ("CheckStack", "CheckStackFunction", "cloudformation:DescribeStacks"),
    ("CheckStack", "CheckStackFunction", "ec2:DescribeInstances"),
    ("AgentHealth", "AgentHealthFunction", "secretsmanager:GetSecretValue"),
    ("AgentHealth", "AgentHealthFunction", "ssm:SendCommand"),
    ("AgentHealth", "AgentHealthFunction", "ssm:GetCommandInvocation"),
    ("AgentHealth", "AgentHealthFunction", "ssm:ListCommands"),
    ("AgentHealth", "AgentHealthFunction", "s3:GetObject"),
    ("AgentHealth", "AgentHealthFunction", "s3:PutObject"),
    ("AgentHealth", "AgentHealthFunction", "ecr:DescribeRepositories"),
    ("AgentHealth", "AgentHealthFunction", "ecr:CreateRepository"),
    ("Runtime", "RuntimeFunction", "secretsmanager:GetSecretValue"),
    ("CheckRuntime", "CheckRuntimeFunction", "secretsmanager:GetSecretValue"),
    ("SourceParameters", "SourceParametersFunction", "rds:DescribeDBInstances"),
    ("SourceParameters", "SourceParametersFunction", "rds:DescribeDBParameterGroups"),
    ("SourceParameters", "SourceParametersFunction", "rds:CreateDBParameterGroup"),
    ("SourceParameters", "SourceParametersFunction", "rds:DescribeDBParameters"),
    ("SourceParameters", "SourceParametersFunction", "rds:ModifyDBParameterGroup"),
    ("SourceParameters", "SourceParametersFunction", "rds:ModifyDBInstance"),
    ("AwaitRebootApproval", "AwaitApprovalFunction", "s3:PutObject"),
    ("AwaitRebootApproval", "AwaitApprovalFunction", "sns:Publish"),
    ("CheckSource", "CheckSourceFunction", "rds:DescribeDBInstances"),
    ("SourcePrepare", "SourcePrepareFunction", "rds:DescribeDBInstances"),
    ("SourcePrepare", "SourcePrepareFunction", "secretsmanager:GetSecretValue"),
    ("SourcePrepare", "SourcePrepareFunction", "secretsmanager:CreateSecret"),
    ("Destination", "DestinationFunction", "secretsmanager:GetSecretValue"),
    ("Destination", "DestinationFunction", "secretsmanager:CreateSecret"),
    ("Connector", "ConnectorFunction", "secretsmanager:GetSecretValue"),
    ("CheckConnector", "CheckConnectorFunction", "secretsmanager:GetSecretValue"),
    ("VerifyInsert", "VerifyInsertFunction", "rds:DescribeDBInstances"),
    ("VerifyInsert", "VerifyInsertFunction", "secretsmanager:GetSecretValue"),
    ("CheckCanary", "CheckCanaryFunction", "secretsmanager:GetSecretValue"),
    ("Schedules", "SchedulesFunction", "s3:PutObject"),
    ("Schedules", "SchedulesFunction", "scheduler:ListSchedules"),
    ("Schedules", "SchedulesFunction", "scheduler:GetScheduleGroup"),
    ("Schedules", "SchedulesFunction", "scheduler:CreateScheduleGroup"),
    ("Schedules", "SchedulesFunction", "scheduler:GetSchedule"),
    ("Schedules", "SchedulesFunction", "scheduler:CreateSchedule"),
    ("ReleaseLock", "ReleaseLockFunction", "dynamodb:DeleteItem"),
    ("NotifySuccess", "NotifyFunction", "sns:Publish"),
]


def _aws_fault(index: int, action: str) -> str:
    # A create whose answer is lost is the hard case: it happened, and the caller must not do it again.
    if action.split(":")[1].startswith("Create"):
        return "lost_response"
    return _AWS_ROTATION[index % len(_AWS_ROTATION)]


TRANSIENT_AWS = [Site(p, f, c, _aws_fault(i, c)) for i, (p, f, c) in enumerate(AWS_SITES)]
# Timeouts: moto carries the call out, the answer is held past the client's read timeout and dropped;
# armed before the faults above, so they hit a site's first call (a create: it happened). None
# before AgentHealth: a late handler there loses its race with the agent's boot, which then creates
# the ECR repositories itself and leaves ecr:CreateRepository untried.
TIMEOUT_AWS = [
    Site("CheckSource", "CheckSourceFunction", "rds:DescribeDBInstances", "timeout"),
    Site("Destination", "DestinationFunction", "secretsmanager:CreateSecret", "timeout"),
    Site("Schedules", "SchedulesFunction", "s3:PutObject", "timeout"),
]
# Short client timeouts for the run, so that a timeout costs seconds (defaults: 30 s and 60 s).
AWS_READ_TIMEOUT = "2"
SNOWFLAKE_SOCKET_TIMEOUT = "5"
# Statements the Snowflake connector sends; the emulation answers 503/429 or drops the connection once.
TRANSIENT_SNOWFLAKE = [
    Site("SnowflakePrerequisites", "SnowflakePrerequisitesFunction", "CREATE ROLE IF NOT EXISTS", "http_503"),
    Site("Deployment", "DeploymentFunction", "CREATE OPENFLOW DEPLOYMENT", "network_reset"),
    Site("AgentHealth", "AgentHealthFunction", "SHOW OPENFLOW DEPLOYMENTS", "http_429"),
    Site("Runtime", "RuntimeFunction", "CREATE OPENFLOW RUNTIME", "http_503"),
    Site("CheckRuntime", "CheckRuntimeFunction", "SYSTEM$WAIT_FOR_STABLE_OPENFLOW_RUNTIMES", "network_reset"),
    Site("Destination", "DestinationFunction", "CREATE USER IF NOT EXISTS", "http_429"),
    Site("Connector", "ConnectorFunction", "CREATE OPENFLOW CONNECTOR", "network_reset"),
    Site("Connector", "ConnectorFunction", "ALTER OPENFLOW CONNECTOR .* COMMIT", "http_503"),
    # START is sent by the wait loop once the commit has settled
    Site("CheckConnector", "CheckConnectorFunction", "ALTER OPENFLOW CONNECTOR .* START", "http_503"),
    Site(
        "CheckConnector", "CheckConnectorFunction", "SYSTEM$WAIT_FOR_STABLE_OPENFLOW_CONNECTORS", "http_429"
    ),
    Site("CheckCanary", "CheckCanaryFunction", "canary_id", "network_reset"),
    # held (not run) past the connector's socket timeout, then dropped; armed first at its site
    Site("Runtime", "RuntimeFunction", "CREATE OPENFLOW RUNTIME", "timeout"),
]
# PostgreSQL: the proxy resets the handler's connection at connect or before its n-th statement.
TRANSIENT_POSTGRES = [
    (Site("SourcePreflight", "SourcePreflightFunction", "connect", "reset_on_connect"), 0),
    (Site("SourcePrepare", "SourcePrepareFunction", "prepare transaction", "reset_after_statements"), 12),
    (Site("VerifyInsert", "VerifyInsertFunction", "canary insert", "reset_after_statements"), 2),
    # accepted and never answered: psycopg's connect_timeout (10 s, not configurable) fires
    (Site("SourcePreflight", "SourcePreflightFunction", "connect", "timeout"), 0),
]
_PG_KINDS = {"timeout": "timeout_on_connect"}
# the JDBC driver's download site answers HTTP 503 once (the handler raises NotReadyYet)
JDBC_DOWNLOAD = Site("Connector", "ConnectorFunction", "downloading the JDBC driver", "http_503")
# an event trigger cancels the command once with the statement-timeout error (SQLSTATE 57014)
STATEMENT_TIMEOUT = Site("SourcePrepare", "SourcePrepareFunction", "create publication", "timeout")


def _snowflake_pattern(call: str) -> str:
    return re.escape(call).replace(r"\.\*", ".*")


def test_a_transient_fault_at_every_call_site_is_retried_and_nothing_is_created_twice(
    faulty: Faulty, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = faulty.sandbox
    assert sandbox.postgres is not None
    source_dsn = sandbox.postgres.dsn(dbname=SOURCE_DATABASE)
    # the handlers run in-process: they see the process environment (under their functions' own)
    monkeypatch.setenv("OPENFLOW_AUTOPILOT_AWS_READ_TIMEOUT", AWS_READ_TIMEOUT)
    monkeypatch.setenv("OPENFLOW_AUTOPILOT_SNOWFLAKE_SOCKET_TIMEOUT", SNOWFLAKE_SOCKET_TIMEOUT)
    aws_rules = [
        (site, sandbox.moto.faults.arm(site.function, site.call, site.fault))  # type: ignore[arg-type]
        for site in [*TIMEOUT_AWS, *TRANSIENT_AWS]
    ]
    timeouts_first = sorted(TRANSIENT_SNOWFLAKE, key=lambda s: s.fault != "timeout")
    for site in timeouts_first:
        sandbox.snowflake.inject_fault(
            _snowflake_pattern(site.call),
            site.fault,  # type: ignore[arg-type]
            when=running(site.function),
        )
    pg_rules = [
        (site, faulty.proxy.arm(site.function, _PG_KINDS.get(site.fault, site.fault), statements=n))  # type: ignore[arg-type]
        for site, n in TRANSIENT_POSTGRES
    ]
    sandbox.jdbc_jar.fail_next = 1
    cancel_ddl(source_dsn, "CREATE PUBLICATION")
    try:
        # the template as downloaded (not repaired): the agent is stuck on the missing ECR repositories
        # whatever its speed, so AgentHealth always reads the journals over SSM and creates them
        request = faulty.request(openflow__template_repair="report")
        report = run_provisioning(sandbox, request, name="transient-faults")
        cancelled = ddl_cancelled(source_dsn)
    finally:
        uncancel_ddl(source_dsn)

    fired_sql: list[tuple[str, str]] = [(p, k) for p, k, _ in sandbox.snowflake.fired_faults]
    rows = []
    for site, aws_rule in aws_rules:
        order = _order([(s.phase, s.call) for s in TRANSIENT_AWS], site)
        rows.append(
            _row(order, site, "transient", report.status, aws_rule.fired, sandbox, "SDK retry (botocore)")
        )
    for site in TRANSIENT_SNOWFLAKE:
        order = 100 + _order([(s.phase, s.call) for s in TRANSIENT_SNOWFLAKE], site)
        fired = fired_sql.count((_snowflake_pattern(site.call), site.fault))
        rows.append(_row(order, site, "transient", report.status, fired, sandbox, "connector retry"))
    pg_sites = [(s.phase, s.call) for s, _ in TRANSIENT_POSTGRES]
    pg_sites.insert(2, (STATEMENT_TIMEOUT.phase, STATEMENT_TIMEOUT.call))  # after SourcePrepare's
    for site, pg_rule in pg_rules:
        rows.append(
            _row(200 + _order(pg_sites, site), site, "transient", report.status, pg_rule.fired, sandbox, "-")
        )
    order = 200 + _order(pg_sites, STATEMENT_TIMEOUT)
    rows.append(_row(order, STATEMENT_TIMEOUT, "transient", report.status, cancelled, sandbox, "-"))
    rows.append(_row(300, JDBC_DOWNLOAD, "transient", report.status, sandbox.jdbc_jar.failed, sandbox, "-"))
    fault_table.record(rows)

    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    # each AWS timeout held its answer until the client gave up on it: its read timeout fired
    held = [c.held for c in sandbox.moto.faults.calls if c.fault == "timeout"]
    assert len(held) == len(TIMEOUT_AWS)
    assert all(float(AWS_READ_TIMEOUT) - 0.5 <= h < float(AWS_READ_TIMEOUT) + 5 for h in held), held
    not_fired = [r for r in rows if not r["details"]["fired"]]
    assert not_fired == [], "armed faults that never fired (a call site that moved?)"

    # nothing created twice: each AWS create carried out once, each Snowflake change made once
    creations = aws_creations(sandbox)
    assert {k: n for k, n in creations.items() if n > 1} == {}
    assert creations[("cloudformation:CreateStack", STACK)] == 1
    assert sum(1 for action, _ in creations if action == "secretsmanager:CreateSecret") == 2
    assert sum(1 for action, _ in creations if action == "rds:CreateDBParameterGroup") == 1
    # the power schedules (a stop and a start), the watch's and the weekly digest's
    assert sum(1 for action, _ in creations if action == "scheduler:CreateSchedule") == 4
    # AgentHealth created the repositories the template as downloaded left missing, each once
    assert sum(1 for action, _ in creations if action == "ecr:CreateRepository") == len(
        OPENFLOW_REPOSITORY_NAMES
    )
    writes = snowflake_writes(sandbox)
    assert {sql: n for sql, n in writes.items() if n > 1} == {}
    assert sum(1 for sql in writes if sql.startswith("CREATE OPENFLOW DEPLOYMENT")) == 1
    assert sum(1 for sql in writes if sql.startswith("CREATE OPENFLOW RUNTIME")) == 1
    assert sum(1 for sql in writes if sql.startswith("CREATE OPENFLOW CONNECTOR")) == 1


def _order(sites: list[tuple[str, str]], site: Site) -> float:
    """A row's place in the table: its call site's, a timeout right after the site's other fault."""
    return sites.index((site.phase, site.call)) + (0.5 if site.fault == "timeout" else 0)


def _row(
    order: float, site: Site, kind: str, status: str, fired: int, sandbox: Sandbox, client_retry: str
) -> dict[str, Any]:
    postgres = site == STATEMENT_TIMEOUT or site in (s for s, _ in TRANSIENT_POSTGRES)
    match = "" if postgres else site.call.partition(" .*")[0]
    if postgres and site.fault == "timeout":
        # the error of this fault, not the site's other one
        match = "statement timeout" if site == STATEMENT_TIMEOUT else "timeout expired"
    how = handled_by(sandbox, site.function, match, client_retry)
    creates = site.call.partition(":")[2].startswith("Create")
    if (site.fault == "lost_response" or (site.fault == "timeout" and creates)) and how == client_retry:
        how = f"{client_retry}; the retry finds it exists"
    return {
        "order": order,
        "phase": site.phase,
        "call": site.call,
        "fault": site.fault,
        "kind": kind,
        "outcome": f"{status}, created once" if status == "SUCCEEDED" else status,
        "handled_by": how,
        "details": {"fired": fired, "function": site.function},
    }


# --- permanent faults: one run each, then a rerun once the cause is gone ------------------------------
@dataclass(frozen=True)
class Permanent:
    id: str
    phase: str
    call: str  # what the diagnosis must name
    fault: str
    arm: Callable[[Faulty], None]
    clear: Callable[[Faulty], None]


def _aws(function: str, action: str) -> tuple[Callable[[Faulty], None], Callable[[Faulty], None]]:
    def arm(f: Faulty) -> None:
        f.sandbox.moto.faults.arm(function, action, "access_denied", times=None)

    def clear(f: Faulty) -> None:
        f.sandbox.moto.faults.clear()

    return arm, clear


def _pg_arm(f: Faulty) -> None:
    assert f.sandbox.postgres is not None
    deny_ddl(
        f.sandbox.postgres.dsn(dbname=SOURCE_DATABASE),
        "CREATE PUBLICATION",
        f"permission denied for database {SOURCE_DATABASE}",
    )


def _pg_clear(f: Faulty) -> None:
    assert f.sandbox.postgres is not None
    allow_ddl(f.sandbox.postgres.dsn(dbname=SOURCE_DATABASE))


def _sf_arm(f: Faulty) -> None:
    f.sandbox.snowflake.inject_fault("^CREATE ROLE", "permission_denied", times=1000)


def _sf_clear(f: Faulty) -> None:
    f.sandbox.snowflake.clear_faults()


PERMANENT = [
    Permanent(
        "snowflake-prerequisites",
        "SnowflakePrerequisites",
        "CREATE ROLE",
        "insufficient privileges (003001)",
        _sf_arm,
        _sf_clear,
    ),
    Permanent(
        "cloudformation-stack",
        "Stack",
        "cloudformation:CreateStack",
        "AccessDenied",
        *_aws("StackFunction", "cloudformation:CreateStack"),
    ),
    Permanent(
        "ssm-agent-health",
        "AgentHealth",
        "ssm:SendCommand",
        "AccessDeniedException",
        *_aws("AgentHealthFunction", "ssm:SendCommand"),
    ),
    Permanent(
        "postgres-source-prepare",
        "SourcePrepare",
        "create publication",
        "permission denied (42501)",
        _pg_arm,
        _pg_clear,
    ),
    Permanent(
        "secretsmanager-destination",
        "Destination",
        "secretsmanager:CreateSecret",
        "AccessDeniedException",
        *_aws("DestinationFunction", "secretsmanager:CreateSecret"),
    ),
]


def _diagnosis(sandbox: Sandbox) -> dict[str, Any]:
    [note] = [
        inv.result
        for inv in sandbox.moto.registry.invocations
        if "NotifyFunction" in inv.function_name
        and inv.error_type is None
        and (inv.result or {}).get("status") == "FAILED"
    ]
    diagnosis: dict[str, Any] = note["diagnosis"]
    return diagnosis


@pytest.mark.parametrize("case", PERMANENT, ids=[c.id for c in PERMANENT])
def test_a_permanent_fault_fails_its_phase_with_a_diagnosis_and_a_rerun_finishes_without_repeating(
    faulty: Faulty, case: Permanent
) -> None:
    sandbox = faulty.sandbox
    case.arm(faulty)
    failed = run_provisioning(sandbox, faulty.request(), name=f"{case.id}-denied")
    diagnosis = _diagnosis(sandbox) if failed.status == "FAILED" else {}
    created_before = aws_creations(sandbox)
    writes_before = snowflake_writes(sandbox)
    mark = len(sandbox.snowflake.statements)

    case.clear(faulty)
    rerun = run_provisioning(sandbox, faulty.request(), name=f"{case.id}-rerun")
    created_after = aws_creations(sandbox)
    repeated_aws = sorted(k for k, n in created_after.items() if n > 1)
    repeated_sql = sorted(set(writes_before) & set(snowflake_writes(sandbox, since=mark)))
    message = str(diagnosis.get("message", ""))
    fix = message.partition("Fix: ")[2]
    fault_table.record(
        [
            {
                "order": PERMANENT.index(case),
                "phase": case.phase,
                "call": case.call,
                "fault": case.fault,
                "kind": "permanent",
                "outcome": f"{failed.status} in {diagnosis.get('phase', '?')} "
                f"({diagnosis.get('error', '?')}); rerun after the fix: {rerun.status}, "
                + ("nothing repeated" if not (repeated_aws or repeated_sql) else "REPEATED side effects"),
                "handled_by": f"Fix: {fix}" if fix else message[:200],
                "details": {"message": message, "repeated": [*map(str, repeated_aws), *repeated_sql]},
            }
        ]
    )

    assert failed.status == "FAILED", "the permanent fault did not fail the run"
    assert diagnosis["phase"] == case.phase
    assert next(p for p in failed.phases if p.name == case.phase).status == "FAILED"
    assert diagnosis["error"] == "PermissionDenied"
    assert case.call.lower() in message.lower(), message
    assert fix, f"the diagnosis names no fix: {message}"

    assert rerun.status == "SUCCEEDED", f"{rerun.error}: {rerun.cause}"
    assert repeated_aws == []
    assert repeated_sql == []  # nothing the failed run created is created again
    assert created_before.keys() <= created_after.keys()
    assert sum(n for (action, _), n in created_after.items() if action == "cloudformation:CreateStack") == 1


# --- the watch: a transient fault at each of its call sites ----------------------------------------------
WATCH_AWS = [
    ("Watch Load", "WatchLoadFunction", "s3:GetObject"),
    ("Watch Load", "WatchLoadFunction", "dynamodb:GetItem"),
    ("Watch CheckOpenflow", "WatchCheckOpenflowFunction", "secretsmanager:GetSecretValue"),
    ("Watch WriteHeartbeat", "WatchWriteHeartbeatFunction", "rds:DescribeDBInstances"),
    ("Watch WriteHeartbeat", "WatchWriteHeartbeatFunction", "secretsmanager:GetSecretValue"),
    ("Watch CheckHeartbeat", "WatchCheckHeartbeatFunction", "secretsmanager:GetSecretValue"),
    ("Watch CheckSlot", "WatchCheckSlotFunction", "cloudwatch:GetMetricStatistics"),
    ("Watch CheckSlot", "WatchCheckSlotFunction", "rds:DescribeDBInstances"),
    ("Watch CheckSlot", "WatchCheckSlotFunction", "secretsmanager:GetSecretValue"),
    ("Watch WakeEarly", "WatchWakeEarlyFunction", "states:StartExecution"),
    ("Watch Record", "WatchRecordFunction", "sns:Publish"),
    ("Watch Record", "WatchRecordFunction", "s3:PutObject"),
]
WATCH_SNOWFLAKE = [
    Site("Watch CheckOpenflow", "WatchCheckOpenflowFunction", "DESC OPENFLOW DEPLOYMENT", "http_503"),
    Site("Watch CheckOpenflow", "WatchCheckOpenflowFunction", "DESC OPENFLOW RUNTIME", "http_429"),
    Site(
        "Watch CheckOpenflow",
        "WatchCheckOpenflowFunction",
        "ALTER OPENFLOW CONNECTOR .* STOP",
        "network_reset",
    ),
    Site("Watch CheckHeartbeat", "WatchCheckHeartbeatFunction", "canary_id", "http_503"),
]
WATCH_POSTGRES = [
    Site("Watch WriteHeartbeat", "WatchWriteHeartbeatFunction", "connect", "reset_on_connect"),
    Site("Watch CheckSlot", "WatchCheckSlotFunction", "connect", "reset_on_connect"),
]


def test_a_transient_fault_at_every_watch_call_site_is_retried_and_the_watch_still_heals_and_wakes(
    faulty: Faulty,
) -> None:
    from datetime import UTC, datetime, timedelta

    import boto3

    from openflow_autopilot.power.memory import update_memory
    from openflow_autopilot_cli.executions import follow
    from openflow_sandbox.power_rehearsal import write_while_stopped
    from openflow_sandbox.watch_rehearsal import fail_connector, low_storage, run_watch

    sandbox = faulty.sandbox
    request = faulty.request()
    provisioned = run_provisioning(sandbox, request, name="watch-faults")
    assert provisioned.status == "SUCCEEDED", f"{provisioned.error}: {provisioned.cause}"
    deployment = request["openflow"]["deployment_name"]
    aws_sites = [
        Site(p, f, c, _AWS_ROTATION[i % len(_AWS_ROTATION)]) for i, (p, f, c) in enumerate(WATCH_AWS)
    ]
    aws_rules = [(s, sandbox.moto.faults.arm(s.function, s.call, s.fault)) for s in aws_sites]  # type: ignore[arg-type]
    before = len(sandbox.snowflake.fired_faults)
    for site in WATCH_SNOWFLAKE:
        sandbox.snowflake.inject_fault(_snowflake_pattern(site.call), site.fault, when=running(site.function))  # type: ignore[arg-type]
    pg_rules = [(s, faulty.proxy.arm(s.function, s.fault)) for s in WATCH_POSTGRES]  # type: ignore[arg-type]

    # on: the connector failed, so the run heals it (ALTER ... STOP, START) and alerts (sns:Publish)
    fail_connector(sandbox, request)
    on = run_watch(sandbox, deployment, name="watch-faults-on")
    # asleep, an hour later, with WAL growing and a few MiB of storage left: the run wakes it early
    s3 = boto3.client("s3", region_name="us-east-1")
    update_memory(s3, sandbox.artifact_bucket, deployment, last_action="stop")
    write_while_stopped(sandbox, mebibytes=4)
    low_storage(sandbox, request, 2 * 2**20, minutes_ago=1)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    asleep = run_watch(sandbox, deployment, now=later, name="watch-faults-asleep")
    woke = asleep.outcome
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    wakes = [
        e["executionArn"]
        for e in sfn.list_executions(stateMachineArn=sandbox.power_arn)["executions"]
        if e["name"].startswith("watch-wake-")
    ]
    for arn in wakes:  # the early start runs to its end before the sandbox stops
        follow(sfn, arn, timeout_seconds=300)

    fired_sql = [(p, k) for p, k, _ in sandbox.snowflake.fired_faults[before:]]
    rows = [
        _row(400 + i, s, "transient", on.report.status, r.fired, sandbox, "SDK retry (botocore)")
        for i, (s, r) in enumerate(aws_rules)
    ]
    for i, site in enumerate(WATCH_SNOWFLAKE):
        fired = fired_sql.count((_snowflake_pattern(site.call), site.fault))
        rows.append(_row(450 + i, site, "transient", on.report.status, fired, sandbox, "connector retry"))
    for i, (site, rule) in enumerate(pg_rules):
        rows.append(_row(470 + i, site, "transient", on.report.status, rule.fired, sandbox, "-"))
    fault_table.record(rows)

    assert on.report.status == "SUCCEEDED" and asleep.report.status == "SUCCEEDED"
    on_kinds = {f["kind"]: f["severity"] for f in on.outcome["findings"]}
    assert "watch_error" not in on_kinds, on.outcome  # every fault was absorbed: the run saw everything
    assert on.outcome["heals"] == ["STOP then START"] and on.outcome["alerts_sent"] >= 1
    assert on.outcome["heartbeat_seconds"] is not None
    assert {f["kind"] for f in woke["findings"]} >= {"wal_budget"} and "watch_error" not in str(woke)
    assert len(wakes) == 1, "the asleep run started exactly one early power start"
    not_fired = [r for r in rows if not r["details"]["fired"]]
    assert not_fired == [], "armed faults that never fired (a call site that moved?)"
