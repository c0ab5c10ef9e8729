"""Gen 1 agent health: done only when the data plane integration is enabled AND the agent's
journal shows its success line; the agent instance is found from the deployment's stack."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from fakes import FakeSql
from moto import mock_aws

from openflow_autopilot.config import parse_request
from openflow_autopilot.errors import BudgetExhausted, PreconditionFailed
from openflow_autopilot.openflow.agent.collect import InvocationStatus
from openflow_autopilot.openflow.agent.markers import render_collected_output
from openflow_autopilot.openflow.agent.repositories import OPENFLOW_REPOSITORIES
from openflow_autopilot.phases import agent_health
from openflow_autopilot.phases.agent_health import check_agent, gen1_agent_instance, integration_status

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"
INTEGRATION = "OPENFLOW_DATAPLANE_0B6F2A3C_5D4E_4F81_9A7B_2C3D4E5F6A7B"
PLANE = "0b6f2a3c-5d4e-4f81-9a7b-2c3d4e5f6a7b"


def journal(scenario: str) -> str:
    sections = {p.stem: p.read_text(encoding="utf-8") for p in sorted((JOURNALS / scenario).glob("*.log"))}
    return render_collected_output(sections, time=NOW)


class IntegrationSql(FakeSql):
    """SHOW OPENFLOW DATA PLANE INTEGRATIONS with ours enabled or not; None: only another one."""

    def __init__(self, enabled: bool | None) -> None:
        super().__init__()
        self.enabled = enabled

    def respond(self, statement: str) -> list[dict[str, Any]]:
        if self.enabled is None:
            return [{"name": "OPENFLOW_DATAPLANE_OTHER", "enabled": "true"}]
        return [{"name": INTEGRATION, "enabled": "true" if self.enabled else "false"}]


def request() -> Any:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": "MYORG-MYACCOUNT",
                "admin_user": "JDOE",
                "credentials_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-AbCdEf"
                ),
            },
            "openflow": {"generation": 1, "deployment_name": "LEGACY"},
            "aws": {"region": "us-east-1"},
            "source": {
                "host": "db.example.com",
                "database": "sales",
                "master_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/pg-AbCdEf"
                ),
                "tables": ["public.orders"],
            },
        }
    )


@pytest.fixture
def fake_agent(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The agent's journal as SSM would return it, without SSM: `text` is what the next read returns."""
    box: dict[str, Any] = {"text": journal("healthy"), "sent": 0, "existing": set(OPENFLOW_REPOSITORIES)}

    def send(_ssm: Any, _iid: str, **_kw: Any) -> str:
        box["sent"] += 1
        return f"cmd-{box['sent']}"

    monkeypatch.setattr(agent_health, "send_collect", send)
    monkeypatch.setattr(
        agent_health,
        "invocation_status",
        lambda _ssm, cid, iid: InvocationStatus(
            command_id=cid,
            instance_id=iid,
            status="Success",
            status_details="Success",
            done=True,
            output_available=True,
            response_code=0,
            inline_stdout=box["text"],
            inline_stderr="",
            output_s3=None,
        ),
    )
    monkeypatch.setattr(agent_health, "existing_repositories", lambda _ecr: box["existing"])
    box["remediated"] = []

    def remediate(item: Any, **_kw: Any) -> Any:
        box["remediated"].append(item.id)
        return type("Result", (), {"created_repositories": [], "rerun_command_id": None})()

    monkeypatch.setattr(agent_health, "run_remediation", remediate)
    return box


class FakeS3:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def put_object(self, **kw: Any) -> None:
        self.keys.append(kw["Key"])


def step(sql: FakeSql, state: dict[str, Any], **kw: Any) -> Any:
    return check_agent(
        request(),
        sql=sql,  # type: ignore[arg-type]
        ssm=object(),
        s3=FakeS3(),
        ecr=object(),
        bucket="artifacts",
        execution="exec",
        instance_id="i-0123456789abcdef0",
        state=state,
        integration=INTEGRATION,
        max_attempts=kw.get("max_attempts", 10),
        max_remediations=2,
        base_wait_seconds=10,
        max_wait_seconds=300,
        now=NOW,
    )


def test_a_healthy_journal_and_an_enabled_integration_finish_after_a_read(
    fake_agent: dict[str, Any],
) -> None:
    sql = IntegrationSql(enabled=True)
    first = step(sql, {})
    assert first.outputs["done"] is False and first.outputs["command_id"] == "cmd-1"  # gen 1 always reads
    second = step(sql, first.outputs)
    assert second.outputs["done"] is True and second.outputs["status"] == "ENABLED"
    assert "integration ENABLED" in second.notes[-1]
    assert all("DEPLOYMENTS" not in q for q in sql.executed)  # gen 1 has no deployment status in SQL


def test_an_agent_stuck_on_missing_repositories_is_not_done_even_with_an_enabled_integration(
    fake_agent: dict[str, Any],
) -> None:
    fake_agent["text"] = journal("ecr-missing")
    fake_agent["existing"] = set()
    sql = IntegrationSql(enabled=True)
    read = step(sql, step(sql, {}).outputs)
    assert read.outputs["done"] is False
    assert "ECR_REPOSITORY_MISSING" in read.outputs["last_diagnosis"]["summary"]
    assert fake_agent["remediated"] == ["create_missing_ecr_repositories"]


def test_a_disabled_integration_is_not_done_and_the_budget_names_it(fake_agent: dict[str, Any]) -> None:
    sql = IntegrationSql(enabled=False)
    state = step(sql, {}).outputs
    with pytest.raises(BudgetExhausted) as caught:
        step(sql, state, max_attempts=2)
    assert f"{INTEGRATION} is still DISABLED without a healthy agent" in caught.value.message


def test_integration_status_matches_the_name_exactly() -> None:
    assert integration_status(IntegrationSql(enabled=True), INTEGRATION) == "ENABLED"  # type: ignore[arg-type]
    assert integration_status(IntegrationSql(enabled=None), INTEGRATION) == "MISSING"  # type: ignore[arg-type]


@mock_aws
def test_the_agent_instance_is_the_instance_of_the_stack_with_the_data_planes_uuid() -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    template = """
Parameters:
  DataPlaneUUID: {Type: String}
Resources:
  Agent:
    Type: AWS::EC2::Instance
    Properties: {ImageId: ami-12c6146b, InstanceType: t3.small}
"""
    for name, uuid in (("other", "11111111-2222-3333-4444-555555555555"), ("gen1", PLANE)):
        cfn.create_stack(
            StackName=name,
            TemplateBody=template,
            Parameters=[{"ParameterKey": "DataPlaneUUID", "ParameterValue": uuid}],
        )
    ours = cfn.describe_stack_resources(StackName="gen1")["StackResources"][0]["PhysicalResourceId"]
    assert gen1_agent_instance(cfn, data_plane_id=PLANE.upper()) == ours
    with pytest.raises(PreconditionFailed) as caught:
        gen1_agent_instance(cfn, data_plane_id="99999999-2222-3333-4444-555555555555")
    assert "request.openflow.agent_instance_id" in (caught.value.fix or "")


def test_agent_instance_id_is_only_for_gen1_and_must_look_like_one() -> None:
    from openflow_autopilot.errors import InvalidRequest

    data = request().model_dump(mode="json")
    data["openflow"]["agent_instance_id"] = "web-1"
    with pytest.raises(InvalidRequest) as caught:
        parse_request(data)
    assert "agent_instance_id" in str(caught.value) and "i-0123456789abcdef0" in str(caught.value)
    data["openflow"].update(agent_instance_id="i-0123456789abcdef0", generation=2)
    with pytest.raises(InvalidRequest) as caught:
        parse_request(data)
    assert "only used with generation 1" in str(caught.value)
