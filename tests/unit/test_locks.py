"""The per-deployment lock against moto's DynamoDB and Step Functions. moto does not execute state
machines here, so a started execution stays RUNNING until it is stopped: a live holder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.config import parse_request
from openflow_autopilot.errors import AlreadyInProgress, ConfigurationError
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.locks import (
    TTL_SECONDS,
    Lock,
    acquire,
    free_for,
    is_live,
    lock_key,
    read_lock,
    release,
)
from openflow_autopilot.steps.shared import acquire_lock, release_lock

REGION = "us-east-1"
TABLE = "locks"
NOW = 1_773_000_000  # 2026-03-08T20:00:00Z
AT_NOW = "2026-03-08T20:00:00Z"
KEY = "MYORG-MYACCOUNT/SALES_CDC_DEPLOYMENT"
ENV = FunctionEnv(lock_table=TABLE)


def request(account: str = "MYORG-MYACCOUNT", deployment: str = "sales_cdc_deployment") -> dict[str, Any]:
    return {
        "name": "sales-cdc",
        "snowflake": {
            "account": account,
            "admin_user": "JDOE",
            "credentials_secret_arn": (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-Ab"
            ),
        },
        "openflow": {"deployment_name": deployment},
        "aws": {"region": "ap-northeast-1"},
        "source": {"rds_instance_id": "sales-db", "database": "sales", "tables": ["public.sample_data"]},
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # Explicitly not executing: an earlier test in the same process may have switched it on.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        db = boto3.client("dynamodb", region_name=REGION)
        db.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "deployment", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "deployment", "KeyType": "HASH"}],
        )
        yield db, boto3.client("stepfunctions", region_name=REGION)


_machines: dict[str, str] = {}


def execution(sfn: Any, name: str, machine: str = "provision") -> str:
    """A started execution: RUNNING until stopped (moto does not execute it here)."""
    if machine not in _machines or not _machine_exists(sfn, _machines[machine]):
        _machines[machine] = sfn.create_state_machine(
            name=machine,
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=_machines[machine], name=name)["executionArn"])


def _machine_exists(sfn: Any, arn: str) -> bool:
    return any(m["stateMachineArn"] == arn for m in sfn.list_state_machines()["stateMachines"])


def take(db: Any, sfn: Any, me: str, *, kind: Any = "provision", now: int = NOW) -> Any:
    return acquire(db, sfn, TABLE, key=KEY, me=me, kind=kind, started_at="2026-03-08T08:00:00Z", now=now)


def test_the_key_is_the_snowflake_account_and_the_canonical_deployment_name() -> None:
    assert lock_key(parse_request(request())) == KEY
    other_account = lock_key(parse_request(request(account="MYORG-OTHER")))
    assert other_account != KEY and other_account.endswith("/SALES_CDC_DEPLOYMENT")


def test_the_lock_is_free_when_absent_own_or_expired() -> None:
    held = Lock(deployment=KEY, holder="a", kind="provision", acquired_at=NOW, expires_at=NOW + 10)
    assert free_for(None, me="b", now=NOW)
    assert free_for(held, me="a", now=NOW)
    assert not free_for(held, me="b", now=NOW)
    assert free_for(held, me="b", now=NOW + 11)
    assert is_live("RUNNING") and is_live("PENDING_REDRIVE")
    assert not any(is_live(s) for s in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", None))


def test_the_first_run_takes_the_lock(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    me = execution(sfn, "first")
    state = take(db, sfn, me)
    assert state.acquired and state.key == KEY and state.holder == me and state.other is None
    held = read_lock(db, TABLE, KEY)
    assert held is not None
    assert (held.holder, held.kind, held.started_at) == (me, "provision", "2026-03-08T08:00:00Z")
    assert (held.acquired_at, held.expires_at) == (NOW, NOW + TTL_SECONDS)


def test_the_same_execution_taking_it_again_keeps_it(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    me = execution(sfn, "first")
    take(db, sfn, me)
    again = take(db, sfn, me, now=NOW + 60)  # a retried invocation
    assert again.acquired and again.other is None
    held = read_lock(db, TABLE, KEY)
    assert held is not None and held.holder == me and held.acquired_at == NOW + 60


def test_a_second_provisioning_run_is_refused_with_the_holder_named(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    winner = execution(sfn, "winner")
    take(db, sfn, winner)
    loser = execution(sfn, "loser")
    event = {
        "request": request(),
        "kind": "provision",
        "execution": loser,
        "started_at": "2026-03-08T20:00:01Z",
        "now": AT_NOW,
    }
    with pytest.raises(AlreadyInProgress) as raised:
        acquire_lock(event, env=ENV, dynamodb=db, sfn=sfn)
    text = str(raised.value)
    assert "already in progress" in text
    assert f"provisioning execution {winner} (started 2026-03-08T08:00:00Z)" in text
    assert "stopped before changing anything" in text
    assert f"aws stepfunctions stop-execution --execution-arn {winner}" in text
    held = read_lock(db, TABLE, KEY)
    assert held is not None and held.holder == winner  # the winner keeps it


def test_a_power_run_while_provisioning_holds_it_is_skipped_with_the_reason(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    provisioning = execution(sfn, "provisioning")
    take(db, sfn, provisioning)
    power = execution(sfn, "scheduled-stop", machine="power")
    state = acquire_lock(
        {
            "request": request(),
            "power": {"action": "stop"},
            "kind": "power",
            "on_conflict": "skip",
            "execution": power,
            "now": AT_NOW,
        },
        env=ENV,
        dynamodb=db,
        sfn=sfn,
    )
    assert state["acquired"] is False
    assert state["why"].startswith(f"skipped: provisioning execution {provisioning} (started ")
    assert "is in progress" in state["why"] and "next schedule" in state["why"]
    assert state["other"]["holder"] == provisioning


def test_a_provisioning_run_while_a_power_run_holds_it_names_the_power_run(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    power = execution(sfn, "manual-stop", machine="power")
    take(db, sfn, power, kind="power")
    with pytest.raises(AlreadyInProgress, match=f"power execution {power}"):
        acquire_lock(
            {"request": request(), "kind": "provision", "execution": execution(sfn, "p"), "now": AT_NOW},
            env=ENV,
            dynamodb=db,
            sfn=sfn,
        )


def test_a_lock_whose_holder_has_ended_is_taken_over(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    aborted = execution(sfn, "aborted")
    take(db, sfn, aborted)
    sfn.stop_execution(executionArn=aborted)
    me = execution(sfn, "next")
    state = take(db, sfn, me)
    assert state.acquired and state.other is not None and state.other.holder == aborted
    assert any("stale" in n and "ABORTED" in n for n in state.notes)
    held = read_lock(db, TABLE, KEY)
    assert held is not None and held.holder == me


def test_a_lock_whose_holder_no_longer_exists_is_taken_over(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    gone = "arn:aws:states:us-east-1:123456789012:execution:provision:long-gone"
    take(db, sfn, gone)
    state = take(db, sfn, execution(sfn, "next"))
    assert state.acquired and any("gone" in n for n in state.notes)


def test_an_expired_lock_is_free_even_while_its_holder_runs(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    take(db, sfn, execution(sfn, "forgotten"))
    state = take(db, sfn, execution(sfn, "much-later"), now=NOW + TTL_SECONDS + 1)
    assert state.acquired and state.other is None


def test_two_runs_taking_over_a_stale_lock_at_once_cannot_both_win(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    stale = execution(sfn, "stale")
    take(db, sfn, stale)
    sfn.stop_execution(executionArn=stale)
    rival = execution(sfn, "rival")

    class RivalFirst:
        """The rival's takeover lands between this run's read and its own takeover."""

        def __init__(self) -> None:
            self.raced = False

        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def put_item(self, **kwargs: Any) -> Any:
            if kwargs["ConditionExpression"] == "holder = :old" and not self.raced:
                self.raced = True
                take(db, sfn, rival)  # the rival finds it stale too and takes it over first
            return db.put_item(**kwargs)

    me = execution(sfn, "me")
    state = acquire(RivalFirst(), sfn, TABLE, key=KEY, me=me, kind="provision", started_at="", now=NOW)
    assert not state.acquired and state.other is not None and state.other.holder == rival
    held = read_lock(db, TABLE, KEY)
    assert held is not None and held.holder == rival


def test_only_the_holder_gives_the_lock_back(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    winner = execution(sfn, "winner")
    take(db, sfn, winner)
    loser = execution(sfn, "loser")
    refused = release(db, TABLE, key=KEY, me=loser)
    assert not refused.released and winner in refused.note
    assert read_lock(db, TABLE, KEY) is not None
    done = release(db, TABLE, key=KEY, me=winner)
    assert done.released and read_lock(db, TABLE, KEY) is None
    again = release(db, TABLE, key=KEY, me=winner)
    assert not again.released and "already given back" in again.note


def test_the_release_step_releases_nothing_for_a_run_that_never_took_the_lock(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    winner = execution(sfn, "winner")
    take(db, sfn, winner)
    skipped = {"acquired": False, "key": KEY, "holder": "arn:me", "kind": "power"}
    result = release_lock({"lock": skipped, "execution": "arn:me"}, env=ENV, dynamodb=db)
    assert result["released"] is False
    held = read_lock(db, TABLE, KEY)
    assert held is not None and held.holder == winner
    mine = {"acquired": True, "key": KEY, "holder": winner, "kind": "provision"}
    assert release_lock({"lock": mine, "execution": winner}, env=ENV, dynamodb=db)["released"] is True


def test_a_missing_table_is_a_configuration_error(aws: tuple[Any, Any]) -> None:
    db, sfn = aws
    with pytest.raises(ConfigurationError, match="does not exist"):
        acquire(db, sfn, "no-such-table", key=KEY, me="arn:me", kind="provision", started_at="", now=NOW)
    with pytest.raises(ConfigurationError, match="LOCK_TABLE"):
        acquire_lock({"request": request(), "kind": "provision", "execution": "arn:me"}, env=FunctionEnv())
