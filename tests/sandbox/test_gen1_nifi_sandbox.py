"""Gen 1 end to end with the runtime's NiFi REST API: no canvas step for a human."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from openflow_autopilot.openflow.connector_parameters import P, gen1_name
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import REGION, Sandbox

pytestmark = pytest.mark.sandbox


def phase(report: Any, name: str) -> Any:
    return next(p for p in report.phases if p.name == name)


def test_gen1_with_the_runtime_nifi_url_and_token_configures_the_connector_over_rest(
    sandbox: Sandbox,
) -> None:
    """An existing (repaired) gen 1 deployment; the request names the runtime's NiFi API and the token
    secret: the connector's parameters are set, its services enabled and its flow started over NiFi
    REST, and the canary row proves that rows replicate. The human only creates the runtime."""
    sandbox.add_gen1_deployment(repaired=True)
    nifi = sandbox.start_nifi()
    request = sandbox.request(
        openflow__generation=1,
        runtime__nifi_url=nifi.url,
        runtime__nifi_token_secret_arn=sandbox.nifi_token_secret_arn,
    )
    report = run_provisioning(sandbox, request, name="gen1-nifi")
    assert report.status == "SUCCEEDED", report.cause
    names = [p.name for p in report.phases]
    assert "Gen1Connector" in names and "AwaitConnector" not in names and "Connector" not in names
    assert names.index("Destination") < names.index("Gen1Connector") < names.index("VerifyInsert")
    assert names.index("VerifyInsert") < names.index("CheckCanary")
    assert any("canary row arrived" in n for n in phase(report, "CheckCanary").notes)

    # no canvas step: the human was only asked for the runtime
    assert sandbox.human is not None and sandbox.human.canvases == []
    assert not [m for m in sandbox.human.messages if "(gen1_connector)" in m.get("subject", "")]

    # the flow runs with the values pasted from Secrets Manager; the report shows none of them
    [started] = nifi.started_flows
    assert started["Replication Slot Name"] and started["Snowflake Private Key"].startswith("-----BEGIN")
    configured = phase(report, "Gen1Connector")
    shown = {a["target"].split(": ", 1)[1]: a["statement"] for a in configured.actions if ": " in a["target"]}
    assert shown[gen1_name(P.SOURCE_PASSWORD)].endswith("<sensitive>")
    assert shown[gen1_name(P.PRIVATE_KEY)].endswith("<sensitive>")
    values = nifi.values()
    text = json.dumps(report.model_dump(mode="json"))
    for key in (P.SOURCE_PASSWORD, P.PRIVATE_KEY, P.PRIVATE_KEY_PASSWORD):
        secret = values[gen1_name(key)]
        assert secret and secret not in text
    token = json.loads(
        boto3.client("secretsmanager", region_name=REGION).get_secret_value(
            SecretId=sandbox.nifi_token_secret_arn
        )["SecretString"]
    )["token"]
    assert token not in text
