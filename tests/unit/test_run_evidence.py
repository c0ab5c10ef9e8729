"""Evidence of each run: every statement a phase sends to Snowflake (masked, with its phase, role and
time) and every connector configuration it writes, stored with the execution's artifacts in S3."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.evidence.recording import recording
from openflow_autopilot.evidence.store import evidence_prefix, load_evidence
from openflow_autopilot.evidence.view import execution_evidence, render_text
from openflow_autopilot.handler import phase_handler
from openflow_autopilot.lambda_env import FunctionEnv
from openflow_autopilot.snowflake.login import recorded
from openflow_autopilot.snowflake.session import Sql

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ProvisionStateMachine-X:sales-cdc-1"
BUCKET = "artifacts"
PASSWORD = "s3cr3t-'pass\\word"
SECRET_SQL = (
    "CREATE OR REPLACE SECRET OPENFLOW.OPENFLOW.PG TYPE = GENERIC_STRING "
    "SECRET_STRING = 's3cr3t-\\'pass\\\\word' COMMENT = 'managed by openflow-autopilot'"
)
STAGE = "snow://openflow_connector/OPENFLOW.OPENFLOW.POSTGRES_CDC/versions/live/"


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.description: list[tuple[str]] | None = None

    def execute(self, statement: str) -> None:
        self.conn.sent.append(statement)
        if "FAIL" in statement:
            from snowflake.connector import errors as sfe

            # Snowflake's syntax errors echo the statement, secrets and all
            raise sfe.ProgrammingError(msg=f"SQL compilation error: syntax error in {statement}", errno=1003)
        self.description = [("STATUS",)]

    def fetchall(self) -> list[tuple[str]]:
        return [("ok",)]


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        pass


@contextmanager
def fake_session() -> Iterator[Sql]:
    yield Sql(FakeConnection())


def test_a_session_records_every_statement_masked_with_its_time_and_outcome() -> None:
    sql = Sql(FakeConnection())
    sql.execute("SHOW ROLES LIKE 'X'")
    sql.execute(SECRET_SQL)
    with pytest.raises(PreconditionFailed):
        sql.execute(SECRET_SQL + " FAIL")
    assert [r.ok for r in sql.records] == [True, True, False]
    assert sql.records[1].sql.endswith("SECRET_STRING = '***' COMMENT = 'managed by openflow-autopilot'")
    assert all(r.at.endswith("+00:00") and r.seconds >= 0 for r in sql.records)
    failed = sql.records[2]
    assert failed.error is not None and failed.error.startswith("PreconditionFailed: ")
    assert "s3cr3t" not in json.dumps([r.model_dump() for r in sql.records])
    # the phases' own statement list is unchanged: connector_secrets.py redacts executed[-1] itself
    assert sql.executed[1] == SECRET_SQL


def test_a_put_to_a_connector_stage_records_the_config_document_and_the_assets(tmp_path: Path) -> None:
    config = {"configFormatVersion": 1, "parameters": {"Source Database Password": "OPENFLOW.OPENFLOW.PG"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    jar = tmp_path / "postgresql-42.7.4.jar"
    jar.write_bytes(b"PK\x03\x04 jar bytes")
    sql = Sql(FakeConnection())
    sql.execute(f"PUT 'file://{tmp_path}/config.json' '{STAGE}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE")
    sql.execute(f"PUT 'file://{jar}' '{STAGE}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE")
    sql.execute("PUT 'file:///tmp/x.csv' '@MY_STAGE'")  # not a connector stage: not a configuration
    config_file, jar_file = sql.stage_files
    assert (config_file.connector, config_file.version, config_file.file) == (
        "OPENFLOW.OPENFLOW.POSTGRES_CDC",
        "live",
        "config.json",
    )
    assert config_file.document == config
    assert jar_file.file == "postgresql-42.7.4.jar" and jar_file.document is None
    assert jar_file.sha256 == hashlib.sha256(jar.read_bytes()).hexdigest()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


class Context:
    function_name = "openflow-autopilot-ConnectorFunction-X"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 512
    aws_request_id = "req-1"


def _connector_phase(event: dict[str, Any], *, env: FunctionEnv) -> dict[str, Any]:
    with recorded(fake_session(), "OPENFLOW_ADMIN_ROLE") as sql:
        sql.execute("SHOW OPENFLOW CONNECTORS LIKE 'POSTGRES_CDC' IN SCHEMA OPENFLOW.OPENFLOW")
        sql.execute(SECRET_SQL)
        if event.get("fail"):
            sql.execute(SECRET_SQL.replace("GENERIC_STRING", "FAIL"))
        sql.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.POSTGRES_CDC COMMIT")
    return {"status": "changed"}


def test_a_handler_stores_its_statements_with_the_executions_artifacts(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACT_BUCKET", BUCKET)
    handler = phase_handler(_connector_phase)
    result = handler({"execution": EXECUTION, "phase": "Connector", "request": {}}, Context())
    assert result == {"status": "changed"}  # the state payload carries nothing of the evidence
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("executions/sales-cdc-1/snowflake/")
    assert keys[0].endswith(".json") and "-Connector-" in keys[0]
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read().decode()
    assert "s3cr3t" not in body
    [invocation] = load_evidence(s3, BUCKET, EXECUTION)
    assert (invocation.execution, invocation.phase, invocation.error) == (EXECUTION, "Connector", None)
    [session] = invocation.sessions
    assert session.role == "OPENFLOW_ADMIN_ROLE" and len(session.statements) == 3


def test_a_failing_phase_still_stores_what_it_sent_including_the_failed_statement(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACT_BUCKET", BUCKET)
    handler = phase_handler(_connector_phase)
    with pytest.raises(PreconditionFailed):
        handler({"execution": EXECUTION, "phase": "Connector", "fail": True}, Context())
    [invocation] = load_evidence(s3, BUCKET, EXECUTION)
    assert invocation.error == "PreconditionFailed"
    statements = invocation.sessions[0].statements
    assert [s.ok for s in statements] == [True, True, False]
    assert "s3cr3t" not in invocation.model_dump_json()


def test_without_an_execution_in_the_event_nothing_is_stored(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACT_BUCKET", BUCKET)
    phase_handler(_connector_phase)({"request": {}}, Context())  # e.g. a test or a CLI run
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_a_failure_to_store_the_evidence_never_fails_the_phase(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenS3:
        def put_object(self, **kwargs: Any) -> None:
            raise RuntimeError("S3 is down")

    with (
        recording({"execution": EXECUTION, "phase": "Runtime"}, bucket=BUCKET, s3=BrokenS3),
        recorded(fake_session(), "R") as sql,
    ):
        sql.execute("SHOW ROLES LIKE 'X'")
    assert "were not stored: S3 is down" in caplog.text


def test_the_view_lists_statements_in_order_and_each_configuration_version_with_its_commit(
    s3: Any, tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"parameters": {"Publication Name": "openflow_pub"}}))

    with (
        recording({"execution": EXECUTION, "phase": "Connector"}, bucket=BUCKET, s3=lambda: s3),
        recorded(fake_session(), "ACCOUNTADMIN") as sql,
    ):
        sql.execute(f"PUT 'file://{tmp_path}/config.json' '{STAGE}' AUTO_COMPRESS = FALSE OVERWRITE = TRUE")
        sql.execute("ALTER OPENFLOW CONNECTOR OPENFLOW.OPENFLOW.POSTGRES_CDC COMMIT COMMENT = 'x'")
    with (
        recording({"execution": EXECUTION, "phase": "CheckConnector"}, bucket=BUCKET, s3=lambda: s3),
        recorded(fake_session(), "ACCOUNTADMIN") as sql,
    ):
        sql.execute("SELECT SYSTEM$WAIT_FOR_OPENFLOW_CONNECTOR_STATUS(5, 'RUNNING', 'OPENFLOW.OPENFLOW.X')")
        sql.execute("SELECT 42 FROM NOWHERE")

    evidence = execution_evidence(load_evidence(s3, BUCKET, EXECUTION))
    phases = [s.phase for s in evidence.snowflake_statements]
    assert phases == ["Connector", "Connector", "CheckConnector", "CheckConnector"]
    shapes = [s.shape for s in evidence.snowflake_statements]
    assert shapes == [
        "put-connector-config",
        "alter-openflow-connector-commit",
        "wait-for-openflow-connector-status",
        None,
    ]
    [version] = evidence.connector_config_versions
    assert version.config == {"parameters": {"Publication Name": "openflow_pub"}}
    assert version.committed_at is not None and version.phase == "Connector"
    text = "\n".join(render_text(evidence))
    assert "Snowflake statements: 4" in text
    assert "OPENFLOW.OPENFLOW.POSTGRES_CDC live/: config.json, committed at" in text
    assert '"Publication Name": "openflow_pub"' in text
    assert evidence_prefix(EXECUTION) == "executions/sales-cdc-1/snowflake/"
