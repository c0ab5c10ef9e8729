"""Once-only records: the first claim of a key wins, later claims are told who holds it.

Webhook retries (GitHub, Jira, ServiceNow redeliver with the same delivery id) claim the same key,
so a delivery starts at most one execution; the webhook also claims a digest of the signed body
(or of Slack's signed base string), so a captured request replayed under a new delivery id or
trigger id starts nothing either (see triggers.replays). DynamoDB's conditional put makes the claim atomic
across concurrent invocations; records expire through the table's TTL attribute, and a record
past its expiry (TTL deletion lags) counts as free.

Table: partition key `pk` (String), TTL attribute `expires_at` (Number, epoch seconds).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from openflow_autopilot.aws.calls import denied, error_code, retryable
from openflow_autopilot.errors import AwsRetryableError, ConfigurationError, PermissionDenied

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# a claim racing a transaction on the same item: DynamoDB asks to try again
_TRANSACTION_CONFLICT = frozenset({"TransactionConflictException"})


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True)

    first: bool
    note: str = ""  # what the holder recorded (an execution name, "approved by ...")


class IdempotencyStore(Protocol):
    def claim(self, key: str, *, now: float, ttl_seconds: int, note: str = "") -> Claim: ...

    def release(self, key: str) -> None:
        """Forget a claim whose action failed, so a retry may try again."""


class MemoryIdempotencyStore:
    """For tests, the benchmark and single-process use. Decides exactly like the DynamoDB store:
    whole epoch seconds, and a record is held up to and including its `expires_at` second."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, *, now: float, ttl_seconds: int, note: str = "") -> Claim:
        with self._lock:
            held = self._items.get(key)
            if held is not None and not held[0] < int(now):  # DynamoDB: `expires_at < :now` is free
                return Claim(first=False, note=held[1])
            self._items[key] = (int(now + ttl_seconds), note)
            return Claim(first=True, note=note)

    def release(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class DynamoDbIdempotencyStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def claim(self, key: str, *, now: float, ttl_seconds: int, note: str = "") -> Claim:
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": key},
                    "expires_at": {"N": str(int(now + ttl_seconds))},
                    "created_at": {"N": str(int(now))},
                    "note": {"S": note},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return Claim(first=False, note=self._note(key))
        except self._db.exceptions.ClientError as exc:
            raise _mapped(exc, "dynamodb:PutItem") from exc
        return Claim(first=True, note=note)

    def _note(self, key: str) -> str:
        try:
            item = self._db.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        except self._db.exceptions.ClientError as exc:
            raise _mapped(exc, "dynamodb:GetItem") from exc
        return str(item.get("Item", {}).get("note", {}).get("S", ""))

    def release(self, key: str) -> None:
        try:
            self._db.delete_item(TableName=self._table, Key={"pk": {"S": key}})
        except self._db.exceptions.ClientError as exc:
            raise _mapped(exc, "dynamodb:DeleteItem") from exc


def _mapped(exc: Any, call: str) -> Exception:
    code = error_code(exc)
    if retryable(exc, also=_TRANSACTION_CONFLICT):
        return AwsRetryableError(f"{call} failed: {code}", call=call)
    if denied(exc):
        return PermissionDenied(f"{call} was denied", call=call, fix=f"allow {call} on the idempotency table")
    if code == "ResourceNotFoundException":
        return ConfigurationError(f"{call}: the idempotency table does not exist", call=call)
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))
