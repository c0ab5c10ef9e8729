"""Tear down what the provisioning workflow built for one request, in the documented BYOC order.

1. remove the deployment's EventBridge Scheduler schedules, the watch's too (so no scheduled start
   or watch runs mid-teardown);
2. stop the connector (gen 2: `ALTER OPENFLOW CONNECTOR ... STOP`) and wait until it is stopped;
3. run the agent's own `destroy.sh` on the agent instance over SSM RunCommand (AWS-RunShellScript);
4. wait until the deployment is NOT_REPORTING;
5. delete the deployment's CloudFormation stack and wait for DELETE_COMPLETE;
6. `ALTER OPENFLOW DEPLOYMENT <name> TERMINATE` and wait until it is DELETED (or gone from SHOW);
   DELETE_FAILED stops the teardown with the deployment's error_code/status_message;
7. the source's replication slot and publication: kept (their WAL keeps growing), or dropped when
   asked to.

Every step reads the current state first, so a second teardown (or one after a partial failure)
finishes and reports "already gone" for what is done. Waits poll with a growing interval and a time
budget; this runs from the command line, not from a Lambda function. Nothing secret is ever put in
the report: it carries names, statuses and statements with identifiers only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from botocore.exceptions import ClientError
from psycopg import sql as pgsql
from pydantic import BaseModel, Field

from openflow_autopilot.aws.calls import aws_call, error_code, error_message, retryable
from openflow_autopilot.config import Generation, ProvisionRequest
from openflow_autopilot.errors import (
    AutopilotError,
    BudgetExhausted,
    InvalidRequest,
    NotReadyYet,
    PreconditionFailed,
    StackFailed,
)
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.openflow.agent.collect import DELIVERY_TIMEOUT, DOCUMENT, invocation_status
from openflow_autopilot.openflow.deployments import (
    DELETE_FAILED,
    DELETED,
    DELETING,
    NOT_REPORTING,
    describe_deployment,
    status_details,
    undocumented,
)
from openflow_autopilot.openflow.names import connector_name
from openflow_autopilot.phases.stack import (
    describe,
    find_agent_instance,
    find_stack,
    first_failure,
    stack_name_for,
)
from openflow_autopilot.postgres.connection import Connection, translated_errors
from openflow_autopilot.postgres.names import check_slot_name, parse_identifier
from openflow_autopilot.postgres.source_admin import slot_name
from openflow_autopilot.power import openflow as openflow_power
from openflow_autopilot.power.restart import cancel_restart, restart_name
from openflow_autopilot.power.scheduler_api import (
    digest_schedule_name,
    name_base,
    remove_digest_schedule,
    remove_schedules,
    remove_watch_schedule,
    watch_schedule_name,
)
from openflow_autopilot.snowflake.identifiers import literal, qualified
from openflow_autopilot.snowflake.session import Sql
from openflow_autopilot_cli import errors as cli_errors

DESTROY_SCRIPT_PATH: Final = "/home/ec2-user/destroy.sh"
DESTROY_EXECUTION_TIMEOUT: Final = 3600  # destroy.sh removes the data plane's cluster: tens of minutes
# destroy.sh asks "Are you sure ...? [Y/n]" on stdin; RunCommand has no terminal, so answer it.
DESTROY_SCRIPT: Final = f"""#!/bin/bash
# Remove the Openflow data plane with the agent's own teardown script, answering its question.
set -u
if [ ! -f {DESTROY_SCRIPT_PATH} ]; then
  echo "{DESTROY_SCRIPT_PATH} is not on this instance" >&2
  exit 3
fi
cd /home/ec2-user
printf 'Y\\n' | bash {DESTROY_SCRIPT_PATH}
"""
# Deployment statuses from which the agent no longer reports (or the deployment is on its way out);
# a failed deletion happens after TERMINATE, so the agent is gone then too.
PAST_REPORTING: Final = frozenset({NOT_REPORTING, DELETING, DELETED, DELETE_FAILED})
MISSING: Final = "MISSING"  # not in SHOW OPENFLOW DEPLOYMENTS (dropped, or never created)
STACK_DELETING: Final = "DELETE_IN_PROGRESS"


class StepStatus(StrEnum):
    DONE = "done"
    ALREADY_GONE = "already gone"
    KEPT = "kept"
    FAILED = "failed"
    NOT_RUN = "not run"


class StepName(StrEnum):
    SCHEDULES = "schedules"
    CONNECTOR = "connector"
    AGENT = "agent"
    NOT_REPORTING = "not_reporting"
    STACK = "stack"
    DEPLOYMENT = "deployment"
    SOURCE = "source"


STEP_TITLES: Final[dict[StepName, str]] = {
    StepName.SCHEDULES: "remove the power schedules",
    StepName.CONNECTOR: "stop the connector",
    StepName.AGENT: "run destroy.sh on the agent",
    StepName.NOT_REPORTING: "wait until the deployment is NOT_REPORTING",
    StepName.STACK: "delete the CloudFormation stack",
    StepName.DEPLOYMENT: "terminate the deployment",
    StepName.SOURCE: "source replication slot and publication",
}


class TeardownStep(BaseModel):
    name: StepName
    title: str
    status: StepStatus
    details: list[str] = Field(default_factory=list, description="what was found and done")
    statements: list[str] = Field(
        default_factory=list, description="SQL or API calls that changed something (identifiers only)"
    )


class TeardownPlan(BaseModel):
    """What a teardown of this request removes, from the request alone (nothing is contacted)."""

    request: str
    region: str
    deployment: str
    connector: str
    stack: str
    schedule_group: str
    schedule_prefix: str
    source_database: str
    slot: str
    publication: str
    drop_source_objects: bool

    def lines(self) -> list[str]:
        source = (
            f"DROP the replication slot {self.slot} and the publication {self.publication} "
            f"in PostgreSQL database {self.source_database}"
            if self.drop_source_objects
            else f"keep the replication slot {self.slot} and the publication {self.publication} in "
            f"PostgreSQL database {self.source_database} (the WAL the slot holds keeps growing)"
        )
        return [
            f"delete the EventBridge Scheduler schedules {self.schedule_prefix}* in group "
            f"{self.schedule_group}",
            f"stop the Openflow connector {self.connector} and wait until it is STOPPED",
            f"run {DESTROY_SCRIPT_PATH} on the deployment's agent instance (openflow-agent-<key>) over "
            "SSM RunCommand: it removes the data plane and every runtime in it",
            f"wait until the Openflow deployment {self.deployment} is {NOT_REPORTING}",
            f"delete the CloudFormation stack {self.stack} ({self.region}) and wait for DELETE_COMPLETE",
            f"ALTER OPENFLOW DEPLOYMENT {self.deployment} TERMINATE and wait until it is {DELETED}",
            source,
        ]


class TeardownReport(BaseModel):
    request: str
    deployment: str
    region: str
    stack: str
    drop_source_objects: bool
    completed: bool
    steps: list[TeardownStep]
    error: str | None = None
    fix: str | None = Field(default=None, description="what to do about the error, when it is known")
    aws_access_failed: bool = Field(
        default=False,
        description="the step stopped because AWS could not be reached or refused the caller "
        "(credentials, denied, throttled, 5xx), not because of what it found",
    )


@dataclass(frozen=True)
class Timeouts:
    """Seconds each wait may take before the teardown stops with BudgetExhausted."""

    connector: float = 600
    destroy: float = DESTROY_EXECUTION_TIMEOUT + DELIVERY_TIMEOUT
    not_reporting: float = 1800
    stack: float = 3600
    deployment: float = 900


@dataclass
class Waiter:
    """Polls `check` until it returns something, sleeping a growing interval, within a deadline."""

    first_delay: float = 5.0
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def until[T](self, check: Callable[[], T | None], *, timeout: float, waiting_for: str, fix: str) -> T:
        deadline = self.clock() + timeout
        delay = self.first_delay
        while True:
            found = check()
            if found is not None:
                return found
            if self.clock() + delay > deadline:
                raise BudgetExhausted(f"gave up after {timeout:.0f} s waiting for {waiting_for}", fix=fix)
            self.sleep(delay)
            delay = min(delay * 1.5, self.max_delay)


@dataclass
class TeardownAccess:
    """Where the teardown reaches each system; the CLI builds it from the request, tests pass fakes."""

    snowflake: Callable[[str], AbstractContextManager[Sql]]  # role -> session
    cloudformation: Any
    ec2: Any
    ssm: Any
    scheduler: Any
    source: Callable[[], AbstractContextManager[Connection]]  # the source's admin connection
    schedule_group: str
    waiter: Waiter = field(default_factory=Waiter)
    timeouts: Timeouts = field(default_factory=Timeouts)


# --- input ------------------------------------------------------------------------------------------
def check_supported(request: ProvisionRequest) -> None:
    if request.openflow.generation is Generation.GEN1:
        raise InvalidRequest(
            "openflow.generation: 1 - teardown removes a gen 2 deployment the workflow created; a gen 1 "
            "deployment was created in the Openflow UI",
            fix="remove a gen 1 deployment in the Openflow UI (stop the connector, delete the runtime), "
            "then run destroy.sh on its agent and delete its stack",
        )


def plan_teardown(
    request: ProvisionRequest, *, schedule_group: str, drop_source_objects: bool
) -> TeardownPlan:
    check_supported(request)
    return TeardownPlan(
        request=request.name,
        region=request.aws.region,
        deployment=qualified(request.openflow.deployment_name),
        connector=connector_name(request),
        stack=stack_name_for(request.openflow.deployment_name),
        schedule_group=schedule_group,
        schedule_prefix=f"{name_base(request.openflow.deployment_name)}-",
        source_database=request.source.database,
        slot=_slot(request),
        publication=_publication(request),
        drop_source_objects=drop_source_objects,
    )


def _slot(request: ProvisionRequest) -> str:
    return check_slot_name(slot_name(request), "slot")


def _publication(request: ProvisionRequest) -> str:
    return parse_identifier(request.source.publication, "source.publication")


def _step(
    name: StepName, status: StepStatus, details: list[str], statements: list[str] | None = None
) -> TeardownStep:
    return TeardownStep(
        name=name, title=STEP_TITLES[name], status=status, details=details, statements=statements or []
    )


# --- 1. schedules -----------------------------------------------------------------------------------
def remove_power_schedules(request: ProvisionRequest, access: TeardownAccess) -> TeardownStep:
    deployment, group = request.openflow.deployment_name, access.schedule_group
    removed = remove_schedules(access.scheduler, deployment=deployment, group=group)
    if cancel_restart(access.scheduler, deployment=deployment, group=group):
        removed.append(restart_name(deployment))
    if remove_watch_schedule(access.scheduler, deployment=deployment, group=group):
        removed.append(watch_schedule_name(deployment))
    if remove_digest_schedule(access.scheduler, deployment=deployment, group=group):
        removed.append(digest_schedule_name(deployment))
    if not removed:
        return _step(
            StepName.SCHEDULES,
            StepStatus.ALREADY_GONE,
            [f"no schedule of {deployment} in group {group}"],
        )
    return _step(
        StepName.SCHEDULES,
        StepStatus.DONE,
        [f"deleted {', '.join(removed)} from group {group}"],
        [f"scheduler:DeleteSchedule {name}" for name in removed],
    )


# --- 2. connector -----------------------------------------------------------------------------------
def _does_not_exist(exc: PreconditionFailed) -> bool:
    return "does not exist" in exc.message.lower()


def stop_connector(request: ProvisionRequest, access: TeardownAccess) -> TeardownStep:
    name = connector_name(request)
    with access.snowflake(request.snowflake.login_role) as sql:
        try:
            result = openflow_power.stop_connector(sql, request)
        except PreconditionFailed as exc:
            if not _does_not_exist(exc):  # its database or schema is gone: so is the connector
                raise
            return _step(StepName.CONNECTOR, StepStatus.ALREADY_GONE, [f"connector {name} does not exist"])
        before = str(result.outputs["status_before"])
        polls = 0

        def stopped() -> str | None:
            nonlocal polls
            state = openflow_power.Poll(attempt=polls)
            poll = openflow_power.connector_reached(
                sql, request, want="STOPPED", state=state, max_checks=1_000_000
            )
            polls = poll.attempt
            return poll.status if poll.done else None

        final = access.waiter.until(
            stopped,
            timeout=access.timeouts.connector,
            waiting_for=f"connector {name} to be STOPPED",
            fix="look at the connector in the Openflow UI, then run teardown again",
        )
    statements = [a.statement for a in result.actions if a.statement]
    if not statements:
        if before == "MISSING":
            found = "does not exist"
        elif before in ("STOPPED", "STOPPING"):
            found = f"is already {final}"
        else:
            found = f"is {before}: it is not running, so there is nothing to stop"
        return _step(StepName.CONNECTOR, StepStatus.ALREADY_GONE, [f"connector {name} {found}"])
    return _step(
        StepName.CONNECTOR, StepStatus.DONE, [f"connector {name} was {before}, now {final}"], statements
    )


# --- 3. destroy.sh on the agent --------------------------------------------------------------------
def deployment_row(sql: Sql, deployment: str) -> dict[str, Any] | None:
    rows = sql.query(f"SHOW OPENFLOW DEPLOYMENTS LIKE {literal(deployment)}")
    exact = [r for r in rows if str(r.get("name") or "").upper() == deployment]
    return exact[0] if exact else None


def _status(row: dict[str, Any] | None) -> str:
    return str(row.get("status") or "").upper() if row is not None else MISSING


def _instance_state(ec2: Any, instance_id: str) -> str:
    with aws_call("ec2:DescribeInstances"):
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return str(instances[0]["State"]["Name"]) if instances else "missing"


def send_destroy(ssm: Any, instance_id: str) -> str:
    """Start destroy.sh on the agent instance; returns the command id."""
    with aws_call("ssm:SendCommand"):
        try:
            response = ssm.send_command(
                InstanceIds=[instance_id],
                DocumentName=DOCUMENT,
                Comment="openflow-autopilot: teardown, run the agent's destroy.sh",
                Parameters={
                    "commands": [DESTROY_SCRIPT],
                    "executionTimeout": [str(DESTROY_EXECUTION_TIMEOUT)],
                },
                TimeoutSeconds=DELIVERY_TIMEOUT,
            )
        except ClientError as exc:
            if error_code(exc) != "InvalidInstanceId":
                raise
            raise PreconditionFailed(
                f"the agent instance {instance_id} is not online in SSM",
                call="ssm:SendCommand",
                fix="check the instance is running and its SSM agent online (Fleet Manager), then run "
                "teardown again",
            ) from None
    return str(response["Command"]["CommandId"])


def _wait_for_command(access: TeardownAccess, command_id: str, instance_id: str) -> str:
    def finished() -> str | None:
        try:
            status = invocation_status(access.ssm, command_id, instance_id)
        except NotReadyYet:  # the invocation appears a moment after SendCommand
            return None
        if not status.done:
            return None
        if status.status != "Success":
            raise PreconditionFailed(
                f"destroy.sh ended {status.status} ({status.status_details}, exit code "
                f"{status.response_code}) on {instance_id}",
                call="ssm:GetCommandInvocation",
                fix=f"read the output of command {command_id} in SSM Run Command and the agent's journal "
                f"(openflow-autopilot doctor agent --instance-id {instance_id}), fix the cause, then run "
                "teardown again",
            )
        return status.status

    return access.waiter.until(
        finished,
        timeout=access.timeouts.destroy,
        waiting_for=f"destroy.sh (command {command_id}) on {instance_id}",
        fix="look at the command in SSM Run Command; run teardown again once it has finished",
    )


def run_destroy(request: ProvisionRequest, access: TeardownAccess) -> TeardownStep:
    deployment = qualified(request.openflow.deployment_name)
    with access.snowflake(request.snowflake.admin_role) as sql:
        row = deployment_row(sql, deployment)
    status = _status(row)
    if row is None or status in PAST_REPORTING:
        what = "does not exist" if row is None else f"is {status}"
        return _step(
            StepName.AGENT,
            StepStatus.ALREADY_GONE,
            [f"deployment {deployment} {what}: its agent no longer runs the data plane"],
        )
    key = str(row.get("key") or "")
    with aws_call("ec2:DescribeInstances"):
        instance_id = find_agent_instance(access.ec2, key) if key else None
    if instance_id is None:
        return _step(
            StepName.AGENT,
            StepStatus.ALREADY_GONE,
            [f"no agent instance tagged openflow-agent-{key or '<key>'}: nothing to run destroy.sh on"],
        )
    state = _instance_state(access.ec2, instance_id)
    if state != "running":
        raise PreconditionFailed(
            f"the agent instance {instance_id} is {state}: destroy.sh can only run on a running agent",
            call="ec2:DescribeInstances",
            fix=f"start it (aws ec2 start-instances --instance-ids {instance_id}), wait until the "
            "deployment is ACTIVE again, then run teardown again",
        )
    command_id = send_destroy(access.ssm, instance_id)
    _wait_for_command(access, command_id, instance_id)
    return _step(
        StepName.AGENT,
        StepStatus.DONE,
        [f"destroy.sh finished on {instance_id} (SSM command {command_id}); deployment was {status}"],
        [f"ssm:SendCommand {DOCUMENT} {DESTROY_SCRIPT_PATH} on {instance_id}"],
    )


# --- 4. NOT_REPORTING ------------------------------------------------------------------------------
def wait_not_reporting(
    request: ProvisionRequest, access: TeardownAccess, *, destroyed_now: bool = False
) -> TeardownStep:
    """`destroyed_now`: destroy.sh ran in this teardown, so reaching NOT_REPORTING is its outcome."""
    deployment = qualified(request.openflow.deployment_name)
    reads = 0
    with access.snowflake(request.snowflake.admin_role) as sql:

        def past_reporting() -> str | None:
            nonlocal reads
            reads += 1
            status = _status(deployment_row(sql, deployment))
            return status if status == MISSING or status in PAST_REPORTING else None

        status = access.waiter.until(
            past_reporting,
            timeout=access.timeouts.not_reporting,
            waiting_for=f"deployment {deployment} to be {NOT_REPORTING}",
            fix="read the agent's journal (openflow-autopilot doctor agent --instance-id ...) to see "
            "whether destroy.sh is still running; run teardown again to keep waiting",
        )
    if reads == 1 and not destroyed_now:
        return _step(
            StepName.NOT_REPORTING, StepStatus.ALREADY_GONE, [f"deployment {deployment} is {status}"]
        )
    return _step(
        StepName.NOT_REPORTING,
        StepStatus.DONE,
        [f"deployment {deployment} is {status}" + (f" after {reads} status reads" if reads > 1 else "")],
    )


# --- 5. the CloudFormation stack -------------------------------------------------------------------
def _request_stack_delete(cfn: Any, name: str, stack_id: str) -> None:
    with aws_call("cloudformation:DeleteStack"):
        try:
            cfn.delete_stack(StackName=stack_id)
        except ClientError as exc:
            if retryable(exc):
                raise  # aws_call makes it AwsRetryableError
            raise StackFailed(
                f"DeleteStack {name} was refused: {error_code(exc)}: {error_message(exc)}",
                call="cloudformation:DeleteStack",
                fix="release what the message names, then run teardown again",
            ) from None


def delete_stack(request: ProvisionRequest, access: TeardownAccess) -> TeardownStep:
    cfn = access.cloudformation
    name, stack = find_stack(cfn, request.openflow.deployment_name)  # never another deployment's
    if stack is None:
        return _step(StepName.STACK, StepStatus.ALREADY_GONE, [f"stack {name} does not exist"])
    stack_id, before = str(stack["StackId"]), str(stack["StackStatus"])
    statements: list[str] = []
    if before != STACK_DELETING:
        _request_stack_delete(cfn, name, stack_id)
        statements.append(f"cloudformation:DeleteStack {name}")

    def deleted() -> str | None:
        current = describe(cfn, stack_id)
        if current is None:
            return "DELETE_COMPLETE"
        if current["StackStatus"] == "DELETE_FAILED":
            raise StackFailed(
                f"stack {name} ended DELETE_FAILED; first failure: {first_failure(cfn, stack_id)}",
                call="cloudformation:DeleteStack",
                fix="remove or release the resource named above, then run teardown again (it deletes "
                "the stack again)",
            )
        return None

    access.waiter.until(
        deleted,
        timeout=access.timeouts.stack,
        waiting_for=f"stack {name} to be deleted",
        fix="look at the stack's events in the CloudFormation console; run teardown again to keep waiting",
    )
    return _step(
        StepName.STACK, StepStatus.DONE, [f"stack {name} was {before}, now DELETE_COMPLETE"], statements
    )


# --- 6. the deployment ------------------------------------------------------------------------------
def _delete_failed(sql: Sql, deployment: str) -> PreconditionFailed:
    """DELETE_FAILED, with what DESCRIBE says about it (error_code, status_message) when it says it."""
    details = status_details(describe_deployment(sql, deployment))
    return PreconditionFailed(
        f"deployment {deployment} is {DELETE_FAILED}" + (f": {details}" if details else ""),
        call=f"ALTER OPENFLOW DEPLOYMENT {deployment} TERMINATE",
        fix=f"fix what error_code/status_message name (DESC OPENFLOW DEPLOYMENT {deployment}), then run "
        "teardown again: it issues the TERMINATE again; if they name nothing, contact Snowflake Support "
        "with the deployment's name",
    )


def terminate_deployment(request: ProvisionRequest, access: TeardownAccess) -> TeardownStep:
    deployment = qualified(request.openflow.deployment_name)
    statements: list[str] = []
    with access.snowflake(request.snowflake.admin_role) as sql:
        before = _status(deployment_row(sql, deployment))
        if before in (MISSING, DELETED):
            what = "does not exist" if before == MISSING else f"is {DELETED}"
            return _step(StepName.DEPLOYMENT, StepStatus.ALREADY_GONE, [f"deployment {deployment} {what}"])
        if before != DELETING:  # DELETE_FAILED too: the TERMINATE is issued again
            statement = f"ALTER OPENFLOW DEPLOYMENT {deployment} TERMINATE"
            sql.execute(statement)
            statements.append(statement)

        left_failure = before != DELETE_FAILED  # a TERMINATE issued again may not show at once

        def deleted() -> str | None:
            nonlocal left_failure
            status = _status(deployment_row(sql, deployment))
            if status == DELETE_FAILED and left_failure:
                raise _delete_failed(sql, deployment)
            left_failure = left_failure or status != DELETE_FAILED
            return status if status in (MISSING, DELETED) else None

        final = access.waiter.until(
            deleted,
            timeout=access.timeouts.deployment,
            waiting_for=f"deployment {deployment} to be {DELETED}",
            fix="run teardown again to keep waiting (the TERMINATE is not issued twice)",
        )
    details = [f"deployment {deployment} was {before}, now {final}"]
    if undocumented(before):
        details.append(f"{before or 'an empty status'} is not a documented deployment status")
    return _step(StepName.DEPLOYMENT, StepStatus.DONE, details, statements)


# --- 7. the source's slot and publication -----------------------------------------------------------
@dataclass(frozen=True)
class SourceObjects:
    slot_found: bool
    slot_active_pid: int | None
    retained: str | None  # WAL the slot holds, human-readable (e.g. "12 MB")
    publication_found: bool


def read_source_objects(conn: Connection, slot: str, publication: str) -> SourceObjects:
    with translated_errors("reading pg_replication_slots"):
        row = conn.execute(
            "SELECT active_pid, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) "
            "FROM pg_replication_slots WHERE slot_name = %s",
            [slot],
        ).fetchone()
        published = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [publication]).fetchone()
    return SourceObjects(
        slot_found=row is not None,
        slot_active_pid=int(row[0]) if row is not None and row[0] is not None else None,
        retained=str(row[1]) if row is not None and row[1] is not None else None,
        publication_found=published is not None,
    )


def drop_source_objects(conn: Connection, slot: str, publication: str, found: SourceObjects) -> list[str]:
    """Drop the slot (refused while something reads it) and the publication; returns the statements."""
    statements: list[str] = []
    if found.slot_found:
        if found.slot_active_pid is not None:
            raise PreconditionFailed(
                f"replication slot {slot} is in use by server process {found.slot_active_pid}",
                call="pg_drop_replication_slot",
                fix="stop whatever still reads the slot (the connector must be stopped), then run teardown "
                "again",
            )
        with translated_errors("pg_drop_replication_slot"):
            conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])
        statements.append(f"SELECT pg_drop_replication_slot('{slot}')")
    if found.publication_found:
        statement = pgsql.SQL("DROP PUBLICATION IF EXISTS {}").format(pgsql.Identifier(publication))
        with translated_errors("DROP PUBLICATION"):
            conn.execute(statement)
            statements.append(statement.as_string(conn))
    return statements


def _names(found: SourceObjects, slot: str, publication: str) -> list[str]:
    names = [f"replication slot {slot}"] if found.slot_found else []
    return names + ([f"publication {publication}"] if found.publication_found else [])


def handle_source_objects(request: ProvisionRequest, access: TeardownAccess, *, drop: bool) -> TeardownStep:
    slot, publication, database = _slot(request), _publication(request), request.source.database
    if not drop:
        return _keep_source_objects(access, slot, publication, database)
    with access.source() as conn:
        found = read_source_objects(conn, slot, publication)
        statements = drop_source_objects(conn, slot, publication, found)
    if not statements:
        return _step(StepName.SOURCE, StepStatus.ALREADY_GONE, [_none_left(slot, publication, database)])
    details = [f"dropped {name} in database {database}" for name in _names(found, slot, publication)]
    if found.retained:
        details.append(f"the slot held {found.retained} of WAL, which the server can now recycle")
    return _step(StepName.SOURCE, StepStatus.DONE, details, statements)


def _none_left(slot: str, publication: str, database: str) -> str:
    return f"no replication slot {slot} and no publication {publication} in database {database}"


_DROP_HINT: Final = "to drop them: openflow-autopilot teardown -c FILE --drop-source-objects"


def _keep_source_objects(access: TeardownAccess, slot: str, publication: str, database: str) -> TeardownStep:
    """Nothing is changed; the slot's retained WAL is read so the user knows what keeping it costs."""
    try:
        with access.source() as conn:
            found = read_source_objects(conn, slot, publication)
    except AutopilotError as exc:  # informational only: the teardown itself is complete
        return _step(
            StepName.SOURCE,
            StepStatus.KEPT,
            [
                f"kept replication slot {slot} and publication {publication} in database {database}",
                "the WAL the slot holds keeps growing until the slot is dropped",
                f"(could not read how much it holds now: {exc.message})",
                _DROP_HINT,
            ],
        )
    if not found.slot_found and not found.publication_found:
        return _step(StepName.SOURCE, StepStatus.ALREADY_GONE, [_none_left(slot, publication, database)])
    details = [f"kept {' and '.join(_names(found, slot, publication))} in database {database}"]
    if found.slot_found:
        held = f"holds {found.retained} of WAL now" if found.retained else "holds WAL"
        details.append(f"the slot {held}; the WAL it holds keeps growing until the slot is dropped")
    return _step(StepName.SOURCE, StepStatus.KEPT, [*details, _DROP_HINT])


# --- the whole teardown ---------------------------------------------------------------------------
def _done(steps: list[TeardownStep], name: StepName) -> bool:
    return any(s.name is name and s.status is StepStatus.DONE for s in steps)


def run_teardown(
    request: ProvisionRequest,
    access: TeardownAccess,
    *,
    drop_source: bool = False,
    on_step: Callable[[TeardownStep], None] | None = None,
) -> TeardownReport:
    """Run the steps in order; the first one that fails stops the teardown (the rest are "not run")."""
    check_supported(request)
    steps: list[Callable[[], TeardownStep]] = [
        lambda: remove_power_schedules(request, access),
        lambda: stop_connector(request, access),
        lambda: run_destroy(request, access),
        lambda: wait_not_reporting(request, access, destroyed_now=_done(done, StepName.AGENT)),
        lambda: delete_stack(request, access),
        lambda: terminate_deployment(request, access),
        lambda: handle_source_objects(request, access, drop=drop_source),
    ]
    done: list[TeardownStep] = []
    error: str | None = None
    fix: str | None = None
    aws_access_failed = False
    for name, run in zip(StepName, steps, strict=True):
        if error is not None:
            done.append(_step(name, StepStatus.NOT_RUN, []))
            continue
        try:
            step = run()
        except AutopilotError as exc:
            error = f"{type(exc).__name__}: {exc}"
            fix = exc.fix
            underlying = cli_errors.aws_failure(exc)
            if underlying is not None:
                aws_access_failed = True
                error, fix = underlying.message, fix or underlying.fix
            step = _step(name, StepStatus.FAILED, [error])
        done.append(step)
        if on_step is not None:
            on_step(step)
    return TeardownReport(
        request=request.name,
        deployment=qualified(request.openflow.deployment_name),
        region=request.aws.region,
        stack=stack_name_for(request.openflow.deployment_name),
        drop_source_objects=drop_source,
        completed=error is None,
        steps=done,
        error=error,
        fix=fix,
        aws_access_failed=aws_access_failed,
    )


# --- real clients ------------------------------------------------------------------------------------
def aws_access(
    request: ProvisionRequest,
    *,
    env: FunctionEnv,
    schedule_group: str,
    waiter: Waiter | None = None,
    timeouts: Timeouts | None = None,
    secrets: Any = None,
) -> TeardownAccess:
    """Clients for the request's region; Snowflake and PostgreSQL sessions open when a step needs them.
    The Snowflake endpoint comes from `env` (empty in production: the account's own endpoint)."""
    from openflow_autopilot.aws.clients import client
    from openflow_autopilot.postgres.connection import connect
    from openflow_autopilot.postgres.source_admin import source_admin
    from openflow_autopilot.snowflake.session import load_credentials, session

    region = request.aws.region
    secrets = secrets or client("secretsmanager", region)

    @contextmanager
    def snowflake(role: str) -> Iterator[Sql]:
        creds = load_credentials(secrets, request.snowflake.credentials_secret_arn)
        with session(request.snowflake.account, creds, role=role, endpoint=env.snowflake_endpoint) as sql:
            yield sql

    @contextmanager
    def source() -> Iterator[Connection]:
        with connect(source_admin(request, secrets=secrets).dsn()) as conn:
            yield conn

    return TeardownAccess(
        snowflake=snowflake,
        cloudformation=client("cloudformation", region),
        ec2=client("ec2", region),
        ssm=client("ssm", region),
        scheduler=client("scheduler", region),
        source=source,
        schedule_group=schedule_group,
        waiter=waiter or Waiter(),
        timeouts=timeouts or Timeouts(),
    )
