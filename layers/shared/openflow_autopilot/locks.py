"""One lock per deployment, so two runs never act on the same deployment at the same time.

A provisioning run takes the lock before its first change and gives it back at its end, on the
success and the failure path; a power run takes it before it decides anything and gives it back at
its end. Whoever comes second is told who holds it: a provisioning run stops at once with
AlreadyInProgress (naming the other execution, what it is and when it started), a power run ends
"skipped" with the same facts (a scheduled stop or start simply happens at its next schedule).
The watch takes it only while it heals (a remedy and its bounded wait): whoever comes then waits
for it (HealInProgress, retried by both workflows) rather than giving up, and the watch itself
neither heals nor judges while another run holds it.

DynamoDB's conditional writes make taking the lock atomic. A lock whose holder is no longer running
(stopped by hand, timed out, or failed before it could give it back) is stale: the next run takes it
over, conditionally on the old holder, so two runs taking over at once cannot both win. The watch is
an Express workflow, whose executions DescribeExecution does not answer
(docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html): its lock lives
no longer than an Express execution may run (5 minutes) and is stale once expired. Giving it
back is conditional on the holder too: a run never deletes a lock another run holds.

Table (LockTable in template.yaml): partition key `deployment` (String) - the Snowflake account and
the deployment's name; TTL attribute `expires_at` (Number, epoch seconds). The table belongs to one
stack, so one AWS account and region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import (
    AlreadyInProgress,
    AwsRetryableError,
    ConfigurationError,
    HealInProgress,
    NotReadyYet,
)
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.snowflake.identifiers import check_identifier

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

Kind = Literal["provision", "power", "watch"]
OnConflict = Literal["fail", "skip"]

# Longer than any run can last (the longest pauses - a template upload, two approvals - are a day
# each by default). It only matters for a holder that is still RUNNING: a holder that ended, however
# it ended, is taken over at once. DynamoDB's TTL deletes forgotten items some time after it.
TTL_SECONDS = 30 * 24 * 3600
# An Express execution runs at most five minutes (docs.aws.amazon.com/step-functions/latest/dg/
# choosing-workflow-type.html): a watch's lock never outlives its run.
WATCH_TTL_SECONDS = 300
# Statuses of an execution that may still act (PENDING_REDRIVE: a redrive is about to resume it).
LIVE_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
_ATTEMPTS = 3
_FREE = "attribute_not_exists(deployment) OR holder = :me OR expires_at < :now"
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionConflictException",
    }
)
_WHAT = {"provision": "provisioning", "power": "power", "watch": "watch"}


class Lock(BaseModel):
    """The item: who holds the deployment's lock, since when, until when at the latest."""

    model_config = ConfigDict(frozen=True)

    deployment: str  # the key: <SNOWFLAKE ACCOUNT>/<DEPLOYMENT>
    holder: str  # the holding execution's ARN
    kind: Kind
    started_at: str = ""  # when the holding execution started
    acquired_at: int
    expires_at: int

    def item(self) -> dict[str, dict[str, str]]:
        return {
            "deployment": {"S": self.deployment},
            "holder": {"S": self.holder},
            "kind": {"S": self.kind},
            "started_at": {"S": self.started_at},
            "acquired_at": {"N": str(self.acquired_at)},
            "expires_at": {"N": str(self.expires_at)},
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Lock:
        def value(name: str) -> str:
            cell = item.get(name) or {}
            return str(cell.get("S", cell.get("N", "")))

        kind = value("kind")
        return cls(
            deployment=value("deployment"),
            holder=value("holder"),
            kind=kind if kind in ("power", "watch") else "provision",
            started_at=value("started_at"),
            acquired_at=int(value("acquired_at") or 0),
            expires_at=int(value("expires_at") or 0),
        )


class LockState(BaseModel):
    """What AcquireLock returns into the execution's state (`$.lock`); ReleaseLock reads it back."""

    acquired: bool
    key: str
    holder: str  # this execution
    kind: Kind
    expires_at: int | None = None
    other: Lock | None = None  # the holder this run found (not acquired) or took over from (stale)
    why: str | None = None  # not acquired: who holds it, for the notification
    notes: list[str] = Field(default_factory=list)


class Released(BaseModel):
    released: bool
    key: str | None = None
    note: str


# --- pure decisions -------------------------------------------------------------------------------------
def lock_key(request: ProvisionRequest) -> str:
    """A deployment is named within a Snowflake account: two accounts' deployments never share a key."""
    account = request.snowflake.account.upper()
    return f"{account}/{check_identifier(request.openflow.deployment_name, 'deployment')}"


def free_for(current: Lock | None, *, me: str, now: int) -> bool:
    """What the conditional put allows: no lock, this execution's own, or one past its expiry."""
    return current is None or current.holder == me or current.expires_at < now


def is_live(status: str | None) -> bool:
    """A holder that is not running (or no longer exists) will never give the lock back."""
    return status in LIVE_STATUSES


def describe_holder(lock: Lock) -> str:
    started = f" (started {lock.started_at})" if lock.started_at else ""
    return f"{_WHAT[lock.kind]} execution {lock.holder}{started}"


def refusal(lock: Lock, *, deployment: str, kind: Kind) -> AlreadyInProgress:
    """The error a second provisioning run stops with: who holds the lock, and what to do."""
    return AlreadyInProgress(
        f"deployment {deployment} is already in progress: {describe_holder(lock)} holds its lock, so "
        f"this {_WHAT[kind]} run stopped before changing anything.",
        fix=(
            "wait for that execution to finish, then start this one again; or stop it first with "
            f"`aws stepfunctions stop-execution --execution-arn {lock.holder}` (the next run takes over "
            "the lock of a stopped execution)"
        ),
        call="dynamodb:PutItem",
    )


def skip_reason(lock: Lock, *, action: str) -> str:
    """Why a power run did nothing: the outcome's `why`."""
    return (
        f"skipped: {describe_holder(lock)} is in progress. Nothing was touched, so the two runs never "
        f"interleave; a scheduled {action} happens at its next schedule, a manual one can be run again "
        "when that execution has ended."
    )


# --- DynamoDB and Step Functions ------------------------------------------------------------------------
def _failure(exc: ClientError, call: str, table: str) -> Exception:
    code = error_code(exc)
    if code in _RETRYABLE_CODES:
        return AwsRetryableError(f"{call} failed: {code}", call=call)
    if code == "ResourceNotFoundException":
        return ConfigurationError(
            f"the lock table {table} does not exist", fix="deploy with template.yaml (LockTable)", call=call
        )
    return exc


def _put(db: DynamoDBClient, table: str, lock: Lock, condition: str, values: dict[str, Any]) -> bool:
    """False when the condition did not hold."""
    try:
        with aws_call("dynamodb:PutItem"):
            db.put_item(
                TableName=table,
                Item=lock.item(),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise _failure(exc, "dynamodb:PutItem", table) from exc
    return True


def read_lock(db: DynamoDBClient, table: str, key: str) -> Lock | None:
    try:
        with aws_call("dynamodb:GetItem"):
            found = db.get_item(TableName=table, Key={"deployment": {"S": key}}, ConsistentRead=True)
    except ClientError as exc:
        raise _failure(exc, "dynamodb:GetItem", table) from exc
    item = found.get("Item")
    return Lock.from_item(item) if item else None


def live_holder(db: DynamoDBClient, sfn: SFNClient, table: str, key: str, *, now: int) -> Lock | None:
    """Who holds the lock and may still act: None when it is free, expired or its holder has ended."""
    current = read_lock(db, table, key)
    if current is None or current.expires_at < now:
        return None
    if current.kind == "watch":  # an Express execution: live until its lock expires
        return current
    return current if is_live(execution_status(sfn, current.holder)) else None


def execution_status(sfn: SFNClient, arn: str) -> str | None:
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE; None when it does not exist."""
    try:
        with aws_call("states:DescribeExecution"):
            return str(sfn.describe_execution(executionArn=arn)["status"])
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            return None
        raise


def acquire(
    db: DynamoDBClient,
    sfn: SFNClient,
    table: str,
    *,
    key: str,
    me: str,
    kind: Kind,
    started_at: str,
    now: int,
    ttl_seconds: int = TTL_SECONDS,
) -> LockState:
    """Take the deployment's lock for execution `me`; taking it again is a no-op. When another
    execution holds it: not acquired, naming it - unless that execution has ended, then it is taken
    over."""
    mine = Lock(
        deployment=key,
        holder=me,
        kind=kind,
        started_at=started_at,
        acquired_at=now,
        expires_at=now + ttl_seconds,
    )
    for _ in range(_ATTEMPTS):
        if _put(db, table, mine, _FREE, {":me": {"S": me}, ":now": {"N": str(now)}}):
            return LockState(acquired=True, key=key, holder=me, kind=kind, expires_at=mine.expires_at)
        current = read_lock(db, table, key)
        if current is None or free_for(current, me=me, now=now):
            continue  # given back or expired between the put and the read: try again
        status = "RUNNING" if current.kind == "watch" else execution_status(sfn, current.holder)
        if is_live(status):
            return LockState(
                acquired=False,
                key=key,
                holder=me,
                kind=kind,
                other=current,
                why=f"{describe_holder(current)} is in progress",
            )
        if _put(db, table, mine, "holder = :old", {":old": {"S": current.holder}}):
            return LockState(
                acquired=True,
                key=key,
                holder=me,
                kind=kind,
                expires_at=mine.expires_at,
                other=current,
                notes=[
                    f"took over a stale lock: {describe_holder(current)} is {status or 'gone'} and never "
                    "gave the lock back"
                ],
            )
    raise NotReadyYet(f"the lock on {key} changed hands {_ATTEMPTS} times while this run tried to take it")


def release(db: DynamoDBClient, table: str, *, key: str, me: str) -> Released:
    """Give the lock back - only if execution `me` holds it."""
    try:
        with aws_call("dynamodb:DeleteItem"):
            db.delete_item(
                TableName=table,
                Key={"deployment": {"S": key}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": me}},
            )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise _failure(exc, "dynamodb:DeleteItem", table) from exc
        current = read_lock(db, table, key)
        note = (
            "nothing to release: the lock was already given back"
            if current is None
            else f"not released: {describe_holder(current)} holds the lock now"
        )
        return Released(released=False, key=key, note=note)
    return Released(released=True, key=key, note=f"released the lock on {key}")


# --- the Lambda entry points (AcquireLock / ReleaseLock in both state machines) -------------------------
def _table(env: FunctionEnv) -> str:
    if not env.lock_table:
        raise ConfigurationError("LOCK_TABLE is not set", fix="deploy with template.yaml, which sets it")
    return env.lock_table


def take_lock(
    request: ProvisionRequest,
    *,
    kind: Literal["provision", "power"],
    on_conflict: Literal["fail", "skip"],
    me: str,
    started_at: str,
    now: int,
    action: str,
    env: FunctionEnv,
    dynamodb: DynamoDBClient | None = None,
    sfn: SFNClient | None = None,
) -> LockState:
    """`fail` raises AlreadyInProgress when another live execution holds the lock; `skip` returns
    `acquired: false` with `why` (naming `action`), for the state machine to end without doing
    anything. A lock the watch holds while it heals is waited for (HealInProgress, retried)."""
    state = acquire(
        dynamodb or client("dynamodb"),
        sfn or client("stepfunctions"),
        _table(env),
        key=lock_key(request),
        me=me,
        kind=kind,
        started_at=started_at,
        now=now,
    )
    if not state.acquired and state.other is not None and state.other.kind == "watch":
        raise HealInProgress(
            f"the watch is healing deployment {request.openflow.deployment_name} "
            f"({describe_holder(state.other)}); this run waits for it",
            fix="nothing to do: the state retries until the watch gives the lock back (5 minutes at most)",
            call="dynamodb:PutItem",
        )
    if not state.acquired and state.other is not None:
        deployment = request.openflow.deployment_name
        if on_conflict != "skip":
            raise refusal(state.other, deployment=deployment, kind=state.kind)
        state = state.model_copy(update={"why": skip_reason(state.other, action=action)})
    return state


def give_back(key: str, *, me: str, env: FunctionEnv, dynamodb: DynamoDBClient | None = None) -> Released:
    """Gives the lock back if this execution holds it (conditionally on the holder)."""
    return release(dynamodb or client("dynamodb"), _table(env), key=key, me=me)
