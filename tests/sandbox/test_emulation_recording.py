"""What the Snowflake emulation received, on disk: one masked JSON line per statement, and every file
accepted onto a connector stage under its version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from openflow_sandbox.snowflake import SnowflakeEmulator
from openflow_sandbox.snowflake.recording import STAGES_DIR, STATEMENTS_FILE, EmulationRecorder

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
SECRET = "pg-password-never-on-disk"


def _lines(directory: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (directory / STATEMENTS_FILE).read_text().splitlines()]


def test_each_statement_is_one_masked_line_with_user_role_time_and_outcome(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with SnowflakeEmulator() as emu:
        emu.add_user(
            "ADMIN", roles=["ACCOUNTADMIN"], default_role="ACCOUNTADMIN", rsa_public_key_pem=public.decode()
        )
        emu.record_to(tmp_path)
        conn = snowflake.connector.connect(**emu.connect_kwargs("ADMIN", private_key=key))
        cur = conn.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS DB")
        cur.execute("CREATE SCHEMA IF NOT EXISTS DB.S")
        cur.execute(
            f"CREATE OR REPLACE SECRET DB.S.PG TYPE = GENERIC_STRING SECRET_STRING = '{SECRET}' COMMENT = 'c'"
        )
        with pytest.raises(snowflake.connector.ProgrammingError):
            cur.execute("SHOW SCHEMAS IN DATABASE NOPE")
        conn.close()
    lines = _lines(tmp_path)
    assert [line["sql"] for line in lines[:3]] == [
        "CREATE DATABASE IF NOT EXISTS DB",
        "CREATE SCHEMA IF NOT EXISTS DB.S",
        "CREATE OR REPLACE SECRET DB.S.PG TYPE = GENERIC_STRING SECRET_STRING = '***' COMMENT = 'c'",
    ]
    assert all(line["user"] == "ADMIN" and line["role"] == "ACCOUNTADMIN" for line in lines)
    assert [line["ok"] for line in lines] == [True, True, True, False]
    assert all(str(line["at"]).endswith("+00:00") and "application" in line for line in lines)
    assert SECRET not in (tmp_path / STATEMENTS_FILE).read_text()


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[EmulationRecorder]:
    yield EmulationRecorder(tmp_path)


def test_stage_files_are_saved_under_live_and_copied_under_the_committed_version(
    recorder: EmulationRecorder, tmp_path: Path
) -> None:
    config = {"parameters": {"Snowflake Private Key Password": "not-a-reference", "Publication Name": "p"}}
    recorder.stage_file("DB.S.PG_CDC", "config.json", json.dumps(config).encode())
    recorder.stage_file("DB.S.PG_CDC", "postgresql-42.7.4.jar", b"PK jar")
    recorder.committed("DB.S.PG_CDC", "VERSION$1")
    stages = tmp_path / STAGES_DIR / "DB.S.PG_CDC"
    for version in ("live", "VERSION$1"):
        saved = json.loads((stages / version / "config.json").read_text())
        assert saved["parameters"] == {"Snowflake Private Key Password": "***", "Publication Name": "p"}
        assert (stages / version / "postgresql-42.7.4.jar").read_bytes() == b"PK jar"


def test_a_new_recorder_starts_from_nothing_and_names_never_escape_its_directory(tmp_path: Path) -> None:
    first = EmulationRecorder(tmp_path)
    first.statement({"user": "U", "sql": "SHOW ROLES"})
    first.stage_file("DB.S.C", "config.json", b"{}")
    second = EmulationRecorder(tmp_path)
    assert not (tmp_path / STATEMENTS_FILE).exists() and not (tmp_path / STAGES_DIR).exists()
    second.stage_file("..", "../../escape.txt", b"x")
    assert not (tmp_path.parent / "escape.txt").exists()
    assert [p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()] == [STAGES_DIR]
