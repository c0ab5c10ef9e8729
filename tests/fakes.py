"""Stand-ins the unit tests share: a Snowflake session that records what it is sent and answers
from canned rows, and urllib's urlopen that records what would have been posted. Tests whose fake
models behaviour (a runtime moving from SUSPENDING to SUSPENDED) subclass FakeSql and override
`respond`; the real services are the sandbox's business, not these."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

Rows = list[dict[str, Any]]


class FakeSql:
    """A `Sql` session (snowflake/session.py) without a server.

    `answers`: rows by exact statement; `prefixes`: rows by statement prefix (a list of row lists
    answers one per call, in order); `fail`: a statement prefix -> the exception to raise, before the
    statement is recorded. `executed` holds every statement sent (`record_queries=False`: only those
    sent with `execute`)."""

    def __init__(
        self,
        answers: Mapping[str, Rows] | None = None,
        *,
        prefixes: Mapping[str, Any] | None = None,
        fail: Mapping[str, Exception] | None = None,
        record_queries: bool = True,
    ) -> None:
        self.answers = dict(answers or {})
        self.prefixes = dict(prefixes or {})
        self.fail = dict(fail or {})
        self.record_queries = record_queries
        self.executed: list[str] = []

    def respond(self, statement: str) -> Rows:
        if statement in self.answers:
            return self.answers[statement]
        for prefix, rows in self.prefixes.items():
            if statement.startswith(prefix):
                return rows.pop(0) if rows and isinstance(rows[0], list) else rows  # type: ignore[no-any-return]
        return []

    def _raise_if_failing(self, statement: str) -> None:
        for prefix, exc in self.fail.items():
            if statement.startswith(prefix):
                raise exc

    def query(self, statement: str) -> Rows:
        self._raise_if_failing(statement)
        if self.record_queries:
            self.executed.append(statement)
        return self.respond(statement)

    def execute(self, statement: str) -> None:
        self._raise_if_failing(statement)
        self.executed.append(statement)
        self.respond(statement)

    @property
    def writes(self) -> list[str]:
        """What was sent besides SHOW and DESC."""
        return [s for s in self.executed if not s.startswith(("SHOW", "DESC"))]


class Response:
    """What urlopen returns, as a context manager."""

    def __init__(self, status: int = 200, body: bytes = b"{}") -> None:
        self.status, self.body = status, body

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return self.body


class Opener:
    """Stands in for urllib.request.urlopen and records each request it would have sent; `fail`
    raises instead (an unreachable host)."""

    def __init__(self, fail: Exception | None = None, *, status: int = 201, body: bytes = b"{}") -> None:
        self.requests: list[Any] = []
        self.fail = fail
        self.status, self.body = status, body

    def __call__(self, req: Any, timeout: float) -> Response:
        if self.fail is not None:
            raise self.fail
        self.requests.append(req)
        return Response(self.status, self.body)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.data) for r in self.requests]

    @property
    def posts(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r.full_url, json.loads(r.data)) for r in self.requests]


# --- moto worlds several test files start from ------------------------------------------------------
PASS_MACHINE = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})


@contextmanager
def webhook_world(table: str, region: str = "us-east-1") -> Iterator[dict[str, Any]]:
    """moto with what a webhook starts and remembers: a `provision` state machine (one Pass state)
    and the idempotency table (partition key `pk`)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=region)
        arn = sfn.create_state_machine(
            name="provision", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
        dynamodb = boto3.client("dynamodb", region_name=region)
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield {"sfn": sfn, "arn": arn, "dynamodb": dynamodb}
