"""A state's input that is not what its ASL Parameters give is refused before anything is touched,
naming the field and the machine whose Parameters to look at."""

from __future__ import annotations

from typing import Any

import pytest

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.steps import delivery, power, provision, shared

REQUEST: dict[str, Any] = {
    "name": "sales-cdc",
    "snowflake": {
        "account": "MYORG-MYACCOUNT",
        "admin_user": "JDOE",
        "credentials_secret_arn": (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/x-Ab"
        ),
    },
    "openflow": {"deployment_name": "SALES_CDC_DEPLOYMENT"},
    "aws": {"region": "us-east-1"},
    "source": {"rds_instance_id": "sales-db", "database": "sales", "tables": ["public.sample_data"]},
}


def no_snowflake(**_kw: Any) -> Any:
    raise AssertionError("a refused input opens no session")


@pytest.mark.parametrize(
    ("step", "event", "field", "machine"),
    [
        (power.check_canary, {"request": REQUEST, "polls": {}}, "canary", "power"),
        (power.wal_guard, {"request": REQUEST, "power": {"deployment": "D"}}, "power.action", "power"),
        (
            power.check_connector_stopped,
            {"request": REQUEST, "settings": {"max_checks": "many"}},
            "settings.max_checks",
            "power",
        ),
        (provision.stack, {"request": REQUEST}, "template_s3_uri", "provisioning"),
        (
            delivery.connector,
            {"request": REQUEST, "runtime": "R", "destination": {}},
            "source",
            "provisioning",
        ),
        (
            shared.acquire_lock,
            {"request": REQUEST, "kind": "teardown", "execution": "arn:x"},
            "kind",
            "calling",
        ),
        (
            provision.source_preflight,
            {"request": {**REQUEST, "aws": {"region": 5}}},
            "request.aws.region",
            "provisioning",
        ),
    ],
)
def test_a_state_input_its_parameters_never_give_is_refused_naming_the_field(
    step: Any, event: dict[str, Any], field: str, machine: str
) -> None:
    kwargs: dict[str, Any] = {}
    if "env" in step.__code__.co_varnames:
        kwargs["env"] = FunctionEnv(artifact_bucket="b", lock_table="t", scheduler_role_arn="arn:r")
    if "connector" in step.__code__.co_varnames:
        kwargs["connector"] = no_snowflake
    with pytest.raises(InvalidRequest) as caught:
        step(event, **kwargs)
    assert str(caught.value).startswith(f"{field}: "), str(caught.value)
    assert f"the {machine} state machine's Parameters" in str(caught.value.fix)
