"""`openflow-autopilot source ...` wiring and input handling (nothing is contacted)."""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import pytest

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot_cli import source as cli_source


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_source.register(p.add_subparsers(dest="command", required=True))
    return p


def test_register_adds_doctor_and_prepare_with_their_handlers() -> None:
    args = parser().parse_args(["source", "doctor", "--dsn", "host=db", "--tables", "a,b", "--tables", "c"])
    assert args.func is cli_source.cmd_doctor
    assert args.tables == ["a,b", "c"]
    args = parser().parse_args([
        "source", "prepare", "--dsn", "host=db", "--tables", "a", "--publication", "p", "--user", "u",
        "--password-env", "PW",
    ])  # fmt: skip
    assert args.func is cli_source.cmd_prepare
    assert not args.update_password and not args.plan


def test_prepare_needs_exactly_one_password_source(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["source", "prepare", "--dsn", "host=db", "--tables", "a", "--publication", "p", "--user", "u"]
    with pytest.raises(SystemExit) as none:
        parser().parse_args(base)
    with pytest.raises(SystemExit) as both:
        parser().parse_args([*base, "--password-env", "PW", "--password-file", "f"])
    assert none.value.code == both.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_hostile_table_name_exits_2_before_anything_is_contacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli_source.main(
        ["source", "doctor", "--dsn", "host=192.0.2.1 connect_timeout=60", "--tables", "x; DROP TABLE y"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--tables: 'x; DROP TABLE y' is not a valid name" in err
    assert "Traceback" not in err


def test_a_malformed_dsn_exits_2_without_echoing_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_source.main(
        ["source", "doctor", "--dsn", "host=db password='s3cret", "--tables", "t", "--json"]
    )
    assert code == 2
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert json.loads(out)["error"] == "InvalidRequest"


def test_a_missing_password_environment_variable_is_an_invalid_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    with pytest.raises(InvalidRequest, match="NO_SUCH_PW is not set"):
        cli_source._password_from_env("NO_SUCH_PW", required=True)
    assert cli_source._password_from_env("NO_SUCH_PW", required=False).value is None


def test_a_password_file_is_generated_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "connector.pw"
    assert cli_source._password_from_file(path, create=False).value is None
    assert not path.exists()
    made = cli_source._password_from_file(path, create=True)
    assert made.generated and made.value and len(made.value) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = cli_source._password_from_file(path, create=True)
    assert again.value == made.value and not again.generated
    assert made.value not in made.describe() and made.value not in json.dumps(made.as_dict())


def test_a_password_file_readable_by_others_gets_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pw"
    path.write_text("hunter2-long-enough\n")
    os.chmod(path, 0o644)
    assert cli_source._password_from_file(path, create=True).value == "hunter2-long-enough"
    assert "chmod 600" in capsys.readouterr().err
