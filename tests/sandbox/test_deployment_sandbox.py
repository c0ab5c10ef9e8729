"""Deployment, template intake, template doctor and the stack, end to end in the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization

from openflow_autopilot.config import ProvisionRequest, parse_request
from openflow_autopilot.phases.deployment import ensure_deployment
from openflow_autopilot.phases.stack import stack_name_for
from openflow_autopilot.snowflake.session import Sql
from openflow_sandbox.agent import REPOSITORIES
from openflow_sandbox.demo import run_provisioning
from openflow_sandbox.environment import REGION, Sandbox
from openflow_sandbox.keys import generate_key_pair
from openflow_sandbox.openflow_ui import download_template
from openflow_sandbox.snowflake import SnowflakeEmulator

pytestmark = pytest.mark.sandbox
STACK = stack_name_for("SALES_CDC_DEPLOYMENT")
EVENTS = "OPENFLOW.OPENFLOW.OPENFLOW_EVENTS"


def phase(report: Any, name: str) -> Any:
    return next(p for p in report.phases if p.name == name)


def failure_notes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        inv.result
        for inv in sandbox.moto.registry.invocations
        if "NotifyFunction" in inv.function_name
        and inv.error_type is None
        and inv.result["status"] == "FAILED"
    ]


def s3_text(uri: str) -> str:
    bucket, key = uri[5:].split("/", 1)
    return boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def wait_for(condition: Any, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_without_a_template_location_the_run_pauses_asks_a_human_and_resumes_on_the_upload(
    sandbox: Sandbox,
) -> None:
    report = run_provisioning(sandbox, sandbox.request(), name="intake")
    assert report.status == "SUCCEEDED", report.cause
    assert sandbox.human is not None
    [asked] = [m for m in sandbox.human.messages if m["subject"].endswith("needs the deployment template")]
    upload = f"s3://{sandbox.artifact_bucket}/templates/SALES_CDC_DEPLOYMENT.yaml"
    assert upload in asked["text"] and "Openflow UI" in asked["text"]
    assert sandbox.human.uploads == [upload]

    doctor = phase(report, "TemplateDoctor")
    assert {a["target"].split()[0] for a in doctor.actions} >= {"OFD001", "OFD002"}
    outputs = report.phases  # the repaired template and the findings are in S3, referenced by URI
    assert outputs
    findings = [n for n in doctor.notes if n.startswith("found: OFD001")]
    assert findings, doctor.notes


def test_the_stack_is_created_from_the_repaired_template_and_the_agent_turns_the_deployment_active(
    sandbox: Sandbox,
) -> None:
    report = run_provisioning(sandbox, sandbox.request(), name="stack")
    assert report.status == "SUCCEEDED", report.cause
    [create] = phase(report, "Stack").actions
    assert create["kind"] == "create_stack" and create["statement"].endswith("/template/repaired.yaml")
    cfn = boto3.client("cloudformation", region_name=REGION)
    body = cfn.get_template(StackName=STACK)["TemplateBody"]
    assert "${!!exists_check}" not in body and "$exists_check" in body
    assert "--tags $agent_tags" not in body

    assert wait_for(lambda: sandbox.snowflake.state.deployments["SALES_CDC_DEPLOYMENT"].status == "ACTIVE")
    ecr = boto3.client("ecr", region_name=REGION)
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert names == {f"snowflake-openflow/{r}" for r in REPOSITORIES}


def test_a_second_run_reuses_the_uploaded_template_and_leaves_the_stack_alone(sandbox: Sandbox) -> None:
    assert run_provisioning(sandbox, sandbox.request(), name="one").status == "SUCCEEDED"
    second = run_provisioning(sandbox, sandbox.request(), name="two")
    assert second.status == "SUCCEEDED", second.cause
    assert sandbox.human is not None and len(sandbox.human.uploads) == 1
    assert phase(second, "Deployment").actions == []
    assert phase(second, "Stack").actions == []
    assert any("already runs this template" in n for n in phase(second, "Stack").notes)


def test_the_buggy_template_as_downloaded_leaves_the_repositories_missing(sandbox: Sandbox) -> None:
    """The seed's failure, reproduced: the stack created from the unrepaired template."""
    assert run_provisioning(sandbox, sandbox.request(), name="deploy").status == "SUCCEEDED"
    text = download_template(sandbox.snowflake, "SALES_CDC_DEPLOYMENT")
    assert "${!!exists_check}" in text
    assert sandbox.agents is not None
    [agent] = sandbox.agents.agents.values()
    assert agent.key == sandbox.snowflake.state.deployments["SALES_CDC_DEPLOYMENT"].key


def test_a_template_named_in_the_request_is_used_without_pausing(sandbox: Sandbox) -> None:
    # Deploy once so the deployment (and its key) exists, then hand over the template up front.
    run_provisioning(sandbox, sandbox.request(), name="first")
    text = download_template(sandbox.snowflake, "SALES_CDC_DEPLOYMENT")
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=sandbox.artifact_bucket, Key="templates/given.yaml", Body=text.encode()
    )
    uri = f"s3://{sandbox.artifact_bucket}/templates/given.yaml"
    report = run_provisioning(sandbox, sandbox.request(openflow__template_s3_uri=uri), name="given")
    assert report.status == "SUCCEEDED", report.cause
    assert "AwaitTemplate" not in [p.name for p in report.phases]
    assert s3_text(uri) == text


def test_a_template_that_is_never_uploaded_fails_with_what_to_do() -> None:
    with Sandbox(human_uploads_template=False, template_wait_seconds=2) as sandbox:
        report = run_provisioning(sandbox, sandbox.request(), name="nobody")
        assert report.status == "FAILED"
        assert report.error == "TemplateNotUploaded"
        [note] = failure_notes(sandbox)
        assert note["diagnosis"]["phase"] == "AwaitTemplate"
        assert "No template was uploaded for deployment SALES_CDC_DEPLOYMENT" in note["diagnosis"]["message"]
        assert "upload it to" in note["diagnosis"]["message"]
        cfn = boto3.client("cloudformation", region_name=REGION)
        names = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]
        assert STACK not in names


def test_a_data_plane_key_edited_by_hand_is_restored_to_the_deployments_key(sandbox: Sandbox) -> None:
    assert run_provisioning(sandbox, sandbox.request(), name="first").status == "SUCCEEDED"
    key = sandbox.snowflake.state.deployments["SALES_CDC_DEPLOYMENT"].key
    edited = download_template(sandbox.snowflake, "SALES_CDC_DEPLOYMENT").replace(
        f'Default: "{key}"', 'Default: "zzzzzzzzzzzz"', 1
    )
    assert 'Default: "zzzzzzzzzzzz"' in edited
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=sandbox.artifact_bucket, Key="templates/edited.yaml", Body=edited.encode()
    )
    uri = f"s3://{sandbox.artifact_bucket}/templates/edited.yaml"
    report = run_provisioning(sandbox, sandbox.request(openflow__template_s3_uri=uri), name="edited")
    assert report.status == "SUCCEEDED", report.cause
    assert any(a["target"].startswith("OFD004") for a in phase(report, "TemplateDoctor").actions)
    cfn = boto3.client("cloudformation", region_name=REGION)
    params = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in params}["DataPlaneKey"] == key


def test_gen1_sets_the_event_table_of_the_existing_data_plane_integration(sandbox: Sandbox) -> None:
    name, _stack = sandbox.add_gen1_deployment(repaired=True)
    report = run_provisioning(sandbox, sandbox.request(openflow__generation=1), name="gen1")
    assert report.status == "SUCCEEDED", report.cause
    kinds = [a["kind"] for a in phase(report, "Deployment").actions]
    assert "set_event_table" in kinds and "create_deployment" not in kinds
    assert (
        sandbox.snowflake.state.data_plane_integrations[name].event_table
        == "OPENFLOW.OPENFLOW.OPENFLOW_EVENTS"
    )
    assert "Stack" not in [p.name for p in report.phases]


def test_gen1_heals_the_stuck_agent_then_hands_runtime_and_canvas_to_a_human(sandbox: Sandbox) -> None:
    """An existing gen 1 deployment on the seed's template: its agent is stuck on missing ECR
    repositories; the workflow diagnoses and repairs it, waits for the agent's success line, asks a
    human for the runtime and the canvas, and ends only when the canary row arrives."""
    integration, stack = sandbox.add_gen1_deployment()
    report = run_provisioning(sandbox, sandbox.request(openflow__generation=1), name="gen1-full")
    assert report.status == "SUCCEEDED", report.cause
    names = [p.name for p in report.phases]
    assert names.index("AgentHealth") < names.index("AwaitRuntime") < names.index("AwaitConnector")
    assert names.index("AwaitConnector") < names.index("VerifyInsert") < names.index("CheckCanary")
    assert "Stack" not in names and "Connector" not in names
    agent = phase(report, "AgentHealth")
    created = [a for a in agent.actions if a["kind"] == "create_ecr_repositories"]
    assert len(created) == 1  # once: the seed's template left all ten missing
    assert created[0]["target"].count("snowflake-openflow/") == len(REPOSITORIES)
    assert any("integration ENABLED" in n and "ecr" in n.lower() for n in agent.notes), agent.notes
    ecr = boto3.client("ecr", region_name=REGION)
    repos = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert {f"snowflake-openflow/{r}" for r in REPOSITORIES} <= repos
    # the canvas got every parameter, the secrets pasted from Secrets Manager, never from the message
    [canvas] = sandbox.human.canvases
    # the canvas holds the gen 1 parameter names
    assert {"PostgreSQL Connection URL", "Snowflake Private Key", "Replication Slot Name"} <= set(canvas)
    [note] = [m for m in sandbox.human.messages if "(gen1_connector)" in m.get("subject", "")]
    assert "BEGIN ENCRYPTED PRIVATE KEY" not in note["text"] and "Secrets Manager secret" in note["text"]
    assert integration in {a["target"] for a in phase(report, "Deployment").actions}
    assert stack.startswith("openflow-gen1-")


# --- the deployment phase alone, against the emulation (no agent, no stack) ------------------------
@pytest.fixture
def emu() -> Iterator[tuple[SnowflakeEmulator, Sql]]:
    pair = generate_key_pair()
    with SnowflakeEmulator(account="MYORG-MYACCOUNT") as emulator:
        emulator.add_user(
            "ADMIN", roles=["ACCOUNTADMIN"], default_role="ACCOUNTADMIN", rsa_public_key_pem=pair.public_pem
        )
        key = serialization.load_pem_private_key(pair.private_pem.encode(), None)
        sql = Sql(snowflake.connector.connect(**emulator.connect_kwargs("ADMIN", private_key=key)))
        sql.execute("CREATE DATABASE IF NOT EXISTS OPENFLOW")
        sql.execute("CREATE SCHEMA IF NOT EXISTS OPENFLOW.OPENFLOW")
        yield emulator, sql
        sql.close()


def deployment_request(generation: int = 2) -> ProvisionRequest:
    return parse_request(
        {
            "name": "sales-cdc",
            "snowflake": {
                "account": "MYORG-MYACCOUNT",
                "admin_user": "ADMIN",
                "credentials_secret_arn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openflow-autopilot/login-AbCdEf"
                ),
            },
            "openflow": {"generation": generation, "deployment_name": "DEP"},
            "aws": {"region": REGION},
            "source": {"host": "127.0.0.1", "database": "app", "tables": ["public.sample_data"]},
        }
    )


def test_the_event_table_is_recorded_in_the_comment_and_a_second_run_is_unchanged(
    emu: tuple[SnowflakeEmulator, Sql],
) -> None:
    """SHOW/DESC OPENFLOW DEPLOYMENTS have no event_table column (show-openflow-deployments): the
    product records the table it set in the deployment's COMMENT and finds it there on a rerun."""
    emulator, sql = emu
    first = ensure_deployment(sql, deployment_request())
    [shown] = sql.query("SHOW OPENFLOW DEPLOYMENTS LIKE 'DEP'")
    [described] = sql.query("DESC OPENFLOW DEPLOYMENT DEP")
    second = ensure_deployment(sql, deployment_request())

    assert [a.kind for a in first.actions] == ["create_event_table", "create_deployment"]
    assert f"EVENT_TABLE = '{EVENTS}'" in first.actions[1].statement
    assert "event_table" not in shown and "event_table" not in described
    assert shown["comment"] == f"managed by openflow-autopilot; event_table={EVENTS}"
    assert emulator.state.deployments["DEP"].event_table == EVENTS
    assert second.status == "unchanged" and second.actions == []


def test_a_deployment_made_elsewhere_gets_its_event_table_once_and_keeps_its_comment(
    emu: tuple[SnowflakeEmulator, Sql],
) -> None:
    emulator, sql = emu
    sql.execute("CREATE EVENT TABLE OPENFLOW.OPENFLOW.OPENFLOW_EVENTS")
    sql.execute("CREATE OPENFLOW DEPLOYMENT DEP DEPLOYMENT_TYPE = BYOC VPC_TYPE = 'MANAGED' COMMENT = 'ui'")
    first = ensure_deployment(sql, deployment_request())
    second = ensure_deployment(sql, deployment_request())

    [set_it] = first.actions
    assert set_it.statement == (
        f"ALTER OPENFLOW DEPLOYMENT DEP SET EVENT_TABLE = '{EVENTS}' COMMENT = 'ui; event_table={EVENTS}'"
    )
    assert any("not created by openflow-autopilot" in n and "set to" in n for n in first.notes), first.notes
    assert emulator.state.deployments["DEP"].event_table == EVENTS
    assert emulator.state.deployments["DEP"].comment == f"ui; event_table={EVENTS}"
    assert second.status == "unchanged" and second.actions == []


def test_gen1_reads_the_data_plane_id_and_event_table_from_desc_not_show(
    emu: tuple[SnowflakeEmulator, Sql],
) -> None:
    """desc-oflow-data-plane-integration documents data_plane_id and event_table; SHOW does not."""
    emulator, sql = emu
    name = emulator.add_data_plane_integration("edf6f909-d3ff-49d6-925f-0123456789ab")
    [shown] = sql.query("SHOW OPENFLOW DATA PLANE INTEGRATIONS")
    first = ensure_deployment(sql, deployment_request(generation=1))
    second = ensure_deployment(sql, deployment_request(generation=1))

    assert "data_plane_id" not in shown and "event_table" not in shown
    assert first.outputs["deployment"] == {
        "name": name,
        "key": "edf6f909-d3ff-49d6-925f-0123456789ab",
        "status": "ENABLED",
        "generation": 1,
    }
    assert [a.kind for a in first.actions] == ["create_event_table", "set_event_table"]
    assert emulator.state.data_plane_integrations[name].event_table == EVENTS
    assert second.status == "unchanged" and second.actions == []
