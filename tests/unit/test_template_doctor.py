"""The doctor on the realistic fixtures: findings, a text-level fix, JSON templates and bad input."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.openflow.template import (
    RULES,
    TemplateError,
    doctor,
    embedded_scripts,
    load_yaml,
    to_long_form,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "sandbox" / "openflow_sandbox" / "templates"
BUGGY = (TEMPLATES / "openflow-byoc-agent.yaml").read_text()
FIXED = (TEMPLATES / "openflow-byoc-agent-fixed.yaml").read_text()
CLEAN = (TEMPLATES / "clean-minimal.yaml").read_text()


def line_number(text: str, needle: str) -> int:
    return next(index for index, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_the_template_as_the_ui_hands_it_over_has_the_seeds_three_errors() -> None:
    report = doctor(BUGGY)
    errors = [finding for finding in report.findings if finding.severity == "error"]
    assert [(finding.rule_id, finding.evidence.template_line) for finding in errors] == [
        ("OFD001", line_number(BUGGY, "if echo ${!!exists_check}")),
        ("OFD002", line_number(BUGGY, "--tags $agent_tags")),
        ("OFD001", line_number(BUGGY, ">&2 echo ${!!exists_check}")),
    ]
    assert report.counts["error"] == 3
    assert all(finding.evidence.script == "ensure-ecr-repo.sh" for finding in errors)
    assert report.fixed_text is None


def test_the_seeds_corrected_template_has_no_error() -> None:
    report = doctor(FIXED)
    assert report.counts["error"] == 0
    assert report.remaining_error_count == 0


def test_a_template_without_defects_yields_no_findings_at_all() -> None:
    report = doctor(CLEAN)
    assert report.findings == []
    assert report.counts == {"error": 0, "warning": 0, "info": 0}
    assert [script.name for script in report.scripts] == ["UserData", "ensure-ecr-repo.sh"]


def test_the_fix_reproduces_the_seeds_corrected_template_exactly() -> None:
    report = doctor(BUGGY, fix=True)
    assert report.fixed_text == FIXED
    assert report.fixed_counts is not None and report.fixed_counts["error"] == 0
    assert all(
        finding.fix.applied for finding in report.findings if finding.severity == "error" and finding.fix
    )


def test_the_fixed_template_differs_from_the_input_only_in_the_repaired_lines() -> None:
    report = doctor(BUGGY, fix=True)
    assert report.fixed_text is not None
    diff = list(difflib.unified_diff(BUGGY.splitlines(), report.fixed_text.splitlines(), lineterm="", n=0))
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    assert [line.strip() for line in removed] == [
        "if echo ${!!exists_check} | grep -q RepositoryNotFoundException; then",
        "aws ecr create-repository --region $AWS_REGION --repository-name $1 --tags $agent_tags",
        ">&2 echo ${!!exists_check}",
    ]
    assert [line.strip() for line in added] == [
        "if echo $exists_check | grep -q RepositoryNotFoundException; then",
        "aws ecr create-repository --region $AWS_REGION --repository-name $1",
        ">&2 echo $exists_check",
    ]
    patched_lines = sorted(
        patch.line for finding in report.findings if finding.fix for patch in finding.fix.patch
    )
    assert patched_lines == [
        line_number(BUGGY, "if echo ${!!exists_check}"),
        line_number(BUGGY, "--tags $agent_tags"),
        line_number(BUGGY, ">&2 echo ${!!exists_check}"),
    ]


def test_without_fix_the_patches_are_proposed_but_not_applied() -> None:
    report = doctor(BUGGY)
    ofd001 = next(finding for finding in report.findings if finding.rule_id == "OFD001")
    assert ofd001.fix is not None and not ofd001.fix.applied
    assert (
        ofd001.fix.patch[0].after.strip()
        == "if echo $exists_check | grep -q RepositoryNotFoundException; then"
    )


def test_the_report_is_json_able() -> None:
    report = doctor(BUGGY, fix=True)
    payload = json.loads(json.dumps(report.model_dump(mode="json")))
    assert payload["counts"]["error"] == 3
    assert payload["fixed_counts"]["error"] == 0
    assert payload["findings"][0]["evidence"]["resource"] == "OpenflowAgentInstance"


def test_every_rule_in_the_catalog_has_an_id_a_title_a_severity_and_a_description() -> None:
    ids = [rule.id for rule in RULES]
    assert {"OFD001", "OFD002", "OFD003", "OFD004", "SC"} <= set(ids)
    for rule in RULES:
        assert rule.title and rule.description and rule.severity in {"error", "warning", "info"}


def test_a_json_template_is_analysed_and_fixed_in_place() -> None:
    as_json = json.dumps(to_long_form(load_yaml(BUGGY)), indent=2) + "\n"
    report = doctor(as_json, fix=True)
    assert [finding.rule_id for finding in report.findings if finding.severity == "error"] == [
        "OFD001",
        "OFD002",
        "OFD001",
    ]
    assert report.fixed_text is not None
    changed = [
        (a, b) for a, b in zip(as_json.splitlines(), report.fixed_text.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and '"Fn::Sub"' not in changed[0][0]  # only the UserData string's line
    json.loads(report.fixed_text)
    script = next(s.text for s in embedded_scripts(report.fixed_text) if s.name == "ensure-ecr-repo.sh")
    assert "if echo $exists_check | grep -q RepositoryNotFoundException; then" in script
    assert "--tags" not in script
    assert report.fixed_counts is not None and report.fixed_counts["error"] == 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("Resources:\n  Agent: [1, 2\n", "not valid YAML"),
        ("Resources:\n  Agent:\n    Type: AWS::EC2::Instance\n  - bad\n", "not valid YAML"),
        ('{"Resources": {"Agent": }}', "not valid JSON"),
        ("name: a plain config file\nvalues: [1, 2]\n", "no Resources"),
        ("- just\n- a list\n", "not a CloudFormation template"),
        ("Resources:\n  A:\n    Type: X\n    Properties:\n      V: !Frobnicate x\n", "!Frobnicate"),
    ],
)
def test_input_that_is_not_a_readable_template_raises_a_clear_template_error(text: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words) as caught:
        doctor(text, fix=True)
    assert isinstance(caught.value, InvalidRequest)


def test_a_malformed_yaml_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match=r"line 3, column 1"):
        doctor("Resources:\n  Agent:\n\tType: AWS::S3::Bucket\n")


def test_a_five_megabyte_file_is_refused_with_the_size_limit() -> None:
    huge = "Resources:\n  A:\n    Type: AWS::S3::Bucket\n" + "# padding\n" * 500_000
    with pytest.raises(TemplateError, match=r"5\.0 MB.*at most 1 MB"):
        doctor(huge)


def test_a_template_with_windows_line_endings_is_fixed_keeping_them() -> None:
    report = doctor(BUGGY.replace("\n", "\r\n"), fix=True)
    assert report.counts["error"] == 3
    assert report.fixed_text == FIXED.replace("\n", "\r\n")


def test_fixing_a_template_without_defects_returns_it_unchanged() -> None:
    report = doctor(CLEAN, fix=True)
    assert report.fixed_text == CLEAN
    assert report.fixed_counts == {"error": 0, "warning": 0, "info": 0}


def test_a_join_user_data_is_analysed_and_repaired_inside_the_literal_value_holding_the_defect() -> None:
    # The defect is written wholly inside one literal value of the Fn::Join, so it can be repaired there.
    template = {
        "Resources": {
            "Agent": {
                "Type": "AWS::EC2::Instance",
                "Properties": {
                    "ImageId": "ami-12345678",
                    "UserData": {
                        "Fn::Base64": {
                            "Fn::Join": [
                                "",
                                [
                                    "#!/bin/bash\ncat <<\\EOF > /opt/ensure.sh\n#!/bin/bash\n",
                                    "out=$(aws ecr describe-repositories --repository-names $1 2>&1)\n",
                                    "echo ${!out} | grep -q RepositoryNotFoundException\nEOF\n",
                                    "echo ",
                                    {"Ref": "AWS::Region"},
                                    "\n",
                                ],
                            ]
                        }
                    },
                },
            }
        }
    }
    text = json.dumps(template, indent=2)
    report = doctor(text, fix=True)
    [finding] = [finding for finding in report.findings if finding.rule_id == "OFD001"]
    assert finding.evidence.template_line == line_number(text, '"UserData"')
    defect_line = line_number(text, "echo ${!out} | grep")
    assert finding.fix is not None and finding.fix.applied and finding.fix.manual_reason is None
    assert [patch.line for patch in finding.fix.patch] == [defect_line]
    assert report.fixed_text is not None and report.fixed_text != text
    changed = [
        (number, a, b)
        for number, (a, b) in enumerate(
            zip(text.splitlines(), report.fixed_text.splitlines(), strict=True), start=1
        )
        if a != b
    ]
    assert [(number, b.strip()) for number, _, b in changed] == [
        (defect_line, '"echo $out | grep -q RepositoryNotFoundException\\nEOF\\n",')
    ]
    assert json.loads(report.fixed_text)["Resources"]["Agent"]["Properties"]["ImageId"] == "ami-12345678"
    assert report.remaining_error_count == 0
    assert [f.rule_id for f in doctor(report.fixed_text).findings if f.severity == "error"] == []


def test_a_user_data_form_the_doctor_cannot_render_is_an_info_finding() -> None:
    text = (
        "Conditions:\n  A: !Equals [a, a]\nResources:\n  Agent:\n    Type: AWS::EC2::Instance\n"
        "    Properties:\n      ImageId: ami-1\n"
        "      UserData: !If [A, !Base64 'echo a', !Ref AWS::NoValue]\n"
    )
    [finding] = doctor(text).findings
    assert (finding.rule_id, finding.severity, finding.evidence.template_line) == ("OFD000", "info", 8)
