"""Hostile templates: the doctor answers each one clearly, in the CLI and in the Lambda's reader.

Every input of `openflow_sandbox.hostile_templates` either is refused (exit 2, a message naming what
is wrong and the fix, nothing written) or is answered with a finding saying why it is not analysed.
How long each takes is measured by `make bench`, not asserted here.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from openflow_autopilot.openflow.template import TemplateError, doctor
from openflow_autopilot.phases.template_intake import read_template
from openflow_autopilot_cli import template as cli_template
from openflow_sandbox.hostile_templates import ANSWERED, MIB, UNREADABLE


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_template.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unreadable_template_exits_2_naming_the_problem_and_writes_nothing(
    name: str, tmp_path: Path
) -> None:
    data, fragment = UNREADABLE[name]
    path = tmp_path / "template.yaml"
    path.write_bytes(data)
    fixed = tmp_path / "fixed.yaml"
    code, out, err = run("template", "doctor", str(path), "--fix", str(fixed))
    assert code == 2
    assert fragment.lower() in err.lower()
    assert "Traceback" not in err + out
    assert len(err) < 2_000  # one message, not the input echoed back
    assert not fixed.exists()


@pytest.mark.parametrize("name", ["alias bomb", "binary bytes", "over 1 MiB", "100k-deep JSON"])
def test_with_json_an_unreadable_template_still_prints_a_json_error_object(name: str, tmp_path: Path) -> None:
    data, fragment = UNREADABLE[name]
    path = tmp_path / "template.yaml"
    path.write_bytes(data)
    code, out, _ = run("template", "doctor", str(path), "--json")
    payload = json.loads(out)
    assert code == 2 and payload["exit_code"] == 2
    assert payload["error"] == "TemplateError"
    assert fragment.lower() in payload["message"].lower()


@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_a_template_the_doctor_cannot_analyse_fully_is_answered_with_the_reason(name: str) -> None:
    data, fragment = ANSWERED[name]
    report = doctor(data, fix=True)
    assert report.findings, "a form the doctor does not analyse must be reported"
    assert any(fragment.lower() in finding.message.lower() for finding in report.findings)
    assert report.fixed_text is not None


@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_the_cli_answers_the_same_inputs_without_a_traceback(name: str, tmp_path: Path) -> None:
    data, _ = ANSWERED[name]
    path = tmp_path / "template.yaml"
    path.write_bytes(data)
    code, out, err = run("template", "doctor", str(path), "--json")
    assert code in (0, 1)
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["findings"]


def test_a_malformed_user_data_is_an_error_so_the_command_exits_1() -> None:
    data, _ = ANSWERED["Fn::Join of two numbers"]
    report = doctor(data)
    [finding] = report.findings
    assert finding.rule_id == "OFD006" and finding.severity.value == "error"
    assert finding.evidence.template_line == 6
    assert report.remaining_error_count == 1


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: int | None = None

    def read(self, amount: int | None = None) -> bytes:
        self.asked = amount
        return self.data if amount is None else self.data[:amount]


class _S3:
    """What read_template uses of an S3 client: get_object and its NoSuchKey error."""

    class exceptions:
        class NoSuchKey(Exception):
            pass

    def __init__(self, data: bytes, length: int | None = None) -> None:
        self.body = _Body(data)
        self.length = len(data) if length is None else length

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": self.length, "Body": self.body}


def test_the_lambda_refuses_an_uploaded_template_over_1_mib_before_reading_it() -> None:
    s3 = _S3(b"", length=60 * MIB)
    with pytest.raises(TemplateError, match="1 MB"):
        read_template(s3, "s3://bucket/template.yaml")
    assert s3.body.asked is None  # never read


def test_the_lambda_reads_at_most_1_mib_even_when_the_length_is_not_given() -> None:
    s3 = _S3(b"#" * (2 * MIB), length=0)
    with pytest.raises(TemplateError, match="1 MB"):
        read_template(s3, "s3://bucket/template.yaml")
    assert s3.body.asked == MIB + 1


@pytest.mark.parametrize("name", ["binary bytes", "UTF-16 with a BOM", "Latin-1 text"])
def test_the_lambda_refuses_an_uploaded_template_that_is_not_utf8(name: str) -> None:
    data, fragment = UNREADABLE[name]
    with pytest.raises(TemplateError, match=fragment):
        read_template(_S3(data), "s3://bucket/template.yaml")


def test_the_lambda_reads_a_utf8_template_with_a_bom() -> None:
    text = "Resources:\n  T: {Type: AWS::SNS::Topic}\n"
    assert read_template(_S3(b"\xef\xbb\xbf" + text.encode()), "s3://b/t.yaml") == text


def test_expected_parameters_with_an_alias_bomb_exit_2(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("Resources:\n  T: {Type: AWS::SNS::Topic}\n")
    params = tmp_path / "params.yaml"
    params.write_bytes(UNREADABLE["alias bomb"][0])
    code, _, err = run("template", "doctor", str(template), "--expected-params", str(params))
    assert code == 2
    assert "alias" in err.lower() and "Traceback" not in err
