"""`template doctor PATH [--fix OUT] [--json] [--expected-params FILE]`: exit codes and files written."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from openflow_autopilot_cli import template as cli_template

TEMPLATES = Path(__file__).resolve().parents[2] / "sandbox" / "openflow_sandbox" / "templates"


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    cli_template.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_template_with_the_seeds_bug_exits_1_and_names_the_line() -> None:
    code, out, _ = run("template", "doctor", str(TEMPLATES / "openflow-byoc-agent.yaml"))
    assert code == 1
    assert "openflow-byoc-agent.yaml:397: error OFD001 [OpenflowAgentInstance ensure-ecr-repo.sh:6]" in out
    assert "written: if echo ${!!exists_check}" in out
    assert "3 errors" in out


def test_the_corrected_and_the_clean_templates_exit_0() -> None:
    assert run("template", "doctor", str(TEMPLATES / "openflow-byoc-agent-fixed.yaml"))[0] == 0
    code, out, _ = run("template", "doctor", str(TEMPLATES / "clean-minimal.yaml"))
    assert code == 0 and "0 errors, 0 warnings, 0 info" in out


def test_fix_writes_the_repaired_template_and_exits_0_when_no_error_remains(tmp_path: Path) -> None:
    out_path = tmp_path / "repaired.yaml"
    code, out, _ = run(
        "template", "doctor", str(TEMPLATES / "openflow-byoc-agent.yaml"), "--fix", str(out_path)
    )
    assert code == 0
    assert out_path.read_text() == (TEMPLATES / "openflow-byoc-agent-fixed.yaml").read_text()
    assert "3 fixes applied; 0 errors remain" in out


def test_fix_exits_1_when_an_error_cannot_be_repaired(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n  Agent:\n    Type: AWS::EC2::Instance\n    Properties:\n      ImageId: ami-1\n"
        "      UserData:\n        Fn::Base64: |\n          #!/bin/bash\n          set -o pipefail\n"
        "          if aws ecr describe-repositories 2>&1 | grep -q RepositoryNotFoundException; then\n"
        "            exit 1\n          fi\n"
    )
    out_path = tmp_path / "out.yaml"
    code, _, _ = run("template", "doctor", str(template), "--fix", str(out_path))
    assert code == 1
    assert out_path.read_text() == template.read_text()


def test_json_output_is_the_report(tmp_path: Path) -> None:
    code, out, _ = run("template", "doctor", str(TEMPLATES / "openflow-byoc-agent.yaml"), "--json")
    payload = json.loads(out)
    assert code == 1
    assert payload["counts"]["error"] == 3
    assert {finding["rule_id"] for finding in payload["findings"]} >= {"OFD001", "OFD002"}
    assert "fixed_text" not in payload


@pytest.mark.parametrize(
    "content",
    [b"", b"Resources:\n  A: [1, 2\n", b"just: a config\n", b"\x89PNG\r\n\x1a\n\x00\x00", b"{not json"],
)
def test_an_unreadable_template_exits_2_with_a_message_and_writes_nothing(
    tmp_path: Path, content: bytes
) -> None:
    template = tmp_path / "t.yaml"
    template.write_bytes(content)
    out_path = tmp_path / "out.yaml"
    code, out, err = run("template", "doctor", str(template), "--fix", str(out_path))
    assert code == 2
    assert "openflow-autopilot template doctor:" in err and out == ""
    assert not out_path.exists()
    assert list(tmp_path.iterdir()) == [template]


def test_a_missing_file_exits_2() -> None:
    code, _, err = run("template", "doctor", "/nonexistent/template.yaml")
    assert code == 2 and "Cannot read the template" in err


def test_a_five_megabyte_file_exits_2(tmp_path: Path) -> None:
    template = tmp_path / "huge.yaml"
    template.write_text("Resources: {}\n" + "#" * 5_000_000)
    code, _, err = run("template", "doctor", str(template))
    assert code == 2 and "at most 1 MB" in err


def test_expected_parameters_flag_a_hand_edited_default_and_fix_restores_it(tmp_path: Path) -> None:
    expected = tmp_path / "params.json"
    expected.write_text(json.dumps([{"ParameterKey": "DataPlaneKey", "ParameterValue": "zz9"}]))
    fixed = str(TEMPLATES / "openflow-byoc-agent-fixed.yaml")
    code, out, _ = run("template", "doctor", fixed, "--expected-params", str(expected))
    assert code == 1 and "OFD004" in out
    out_path = tmp_path / "out.yaml"
    code, _, _ = run("template", "doctor", fixed, "--expected-params", str(expected), "--fix", str(out_path))
    assert code == 0
    assert '    Default: "zz9"' in out_path.read_text()


def test_an_unreadable_expected_parameters_file_exits_2(tmp_path: Path) -> None:
    expected = tmp_path / "params.yaml"
    expected.write_text("- not\n- a mapping\n")
    code, _, err = run(
        "template", "doctor", str(TEMPLATES / "clean-minimal.yaml"), "--expected-params", str(expected)
    )
    assert code == 2 and "mapping of name to value" in err
