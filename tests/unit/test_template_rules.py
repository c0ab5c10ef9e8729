"""The doctor's rules on the seed's script and on variants, judged on the script as the instance runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from openflow_autopilot.openflow.template import DoctorReport, Finding, Severity, doctor
from openflow_autopilot.openflow.template import shellcheck as shellcheck_module

TEMPLATES = Path(__file__).resolve().parents[2] / "sandbox" / "openflow_sandbox" / "templates"

# The seed's original ensure-ecr-repo.sh as the instance runs it.
SEED_SCRIPT = """\
#!/bin/bash
source /home/ec2-user/.env
instance_id=$(ec2-metadata -i | cut -d ' ' -f2)
exists_check=$(aws ecr describe-repositories --region $AWS_REGION --repository-names $1 2>&1)
if [ $? -ne 0 ]; then
  if echo ${!exists_check} | grep -q RepositoryNotFoundException; then
    aws ecr create-repository --region $AWS_REGION --repository-name $1 --tags $agent_tags
  else
    >&2 echo ${!exists_check}
  fi
fi
"""
ENV = "#!/bin/bash\nAWS_REGION=${Region}\nrepo_prefix=snowflake-openflow\n"


def template(script: str, *, sub: bool = True, escape: bool = True) -> str:
    """A one-instance template whose UserData writes `.env` and `script` (as /home/ec2-user/check.sh).

    With sub=True the UserData is an Fn::Sub list; escape=True writes the script's `${` as `${!` so that
    the instance runs `script` exactly.
    """
    written = script.replace("${", "${!") if sub and escape else script
    env = ENV if sub else ENV.replace("${Region}", "us-east-1")
    body = (
        "#!/bin/bash\ncat <<\\EOF > /home/ec2-user/.env\n" + env + "EOF\n"
        "cat <<\\EOF > /home/ec2-user/check.sh\n" + written + "EOF\n"
        "/home/ec2-user/check.sh snowflake-openflow/runtime-operator\n"
    )
    indent = 12 if sub else 10
    block = "".join(f"{' ' * indent}{line}\n" if line else "\n" for line in body.splitlines())
    if sub:
        user_data = (
            "        Fn::Base64: !Sub\n          - |\n" + block + "          - Region: !Ref AWS::Region\n"
        )
    else:
        user_data = "        Fn::Base64: |\n" + block
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Resources:\n  Agent:\n    Type: AWS::EC2::Instance\n    Properties:\n      ImageId: ami-12345678\n"
        "      UserData:\n" + user_data
    )


def rule(report: DoctorReport, rule_id: str) -> list[Finding]:
    return [finding for finding in report.findings if finding.rule_id == rule_id]


def check_script(report: DoctorReport) -> str:
    """The repaired check.sh as the instance would run it."""
    from openflow_autopilot.openflow.template import embedded_scripts

    assert report.fixed_text is not None
    return next(script.text for script in embedded_scripts(report.fixed_text) if script.name == "check.sh")


# --- OFD001: indirect expansion ----------------------------------------------------------------------


def test_the_seeds_indirect_expansion_of_captured_aws_error_text_is_an_error() -> None:
    report = doctor(template(SEED_SCRIPT))
    found = rule(report, "OFD001")
    assert [finding.evidence.script_line for finding in found] == [6, 9]
    first = found[0]
    assert first.severity is Severity.ERROR
    assert first.evidence.script == "check.sh" and first.evidence.resource == "Agent"
    assert first.evidence.text == "if echo ${!exists_check} | grep -q RepositoryNotFoundException; then"
    assert (
        first.evidence.template_text
        == "if echo ${!!exists_check} | grep -q RepositoryNotFoundException; then"
    )
    assert "captures stderr" in first.message


def test_the_fix_makes_the_instance_run_the_value_and_writes_it_in_sub_escaping() -> None:
    report = doctor(template(SEED_SCRIPT), fix=True)
    fixed = check_script(report)
    assert "if echo $exists_check | grep -q RepositoryNotFoundException; then" in fixed
    assert ">&2 echo $exists_check" in fixed
    assert "${!" not in fixed
    patch = rule(report, "OFD001")[0].fix
    assert patch is not None and patch.applied
    assert (
        patch.patch[0].before.strip()
        == "if echo ${!!exists_check} | grep -q RepositoryNotFoundException; then"
    )
    assert patch.patch[0].after.strip() == "if echo $exists_check | grep -q RepositoryNotFoundException; then"


def test_a_different_variable_name_is_flagged_the_same_way() -> None:
    script = SEED_SCRIPT.replace("exists_check", "describe_output")
    found = rule(doctor(template(script)), "OFD001")
    assert len(found) == 2
    assert "${!describe_output}" in found[0].evidence.text


def test_backtick_command_substitution_is_recognised() -> None:
    script = SEED_SCRIPT.replace(
        "exists_check=$(aws ecr describe-repositories --region $AWS_REGION --repository-names $1 2>&1)",
        "exists_check=`aws ecr describe-repositories --region $AWS_REGION --repository-names $1 2>&1`",
    )
    assert len(rule(doctor(template(script)), "OFD001")) == 2


def test_aws_cli_output_is_text_even_without_stderr_capture() -> None:
    script = "#!/bin/bash\nrepos=$(aws ecr describe-repositories)\necho ${!repos}\n"
    found = rule(doctor(template(script)), "OFD001")
    assert len(found) == 1
    assert "AWS CLI's output" in found[0].message


def test_aws_output_text_may_be_a_variable_name_and_is_not_flagged_by_itself() -> None:
    script = (
        "#!/bin/bash\nname=$(aws ssm get-parameter --name p --query Parameter.Value --output text)\n"
        'v="${!name}"\n'
    )
    assert rule(doctor(template(script)), "OFD001") == []


def test_a_value_grepped_as_text_is_flagged_when_the_variable_never_names_another() -> None:
    script = "#!/bin/bash\nstatus=$(systemctl is-active docker)\n"
    script += "if echo ${!status} | grep -q failed; then exit; fi\n"
    assert len(rule(doctor(template(script)), "OFD001")) == 1


def test_the_legitimate_version_env_indirection_in_upgrade_data_plane_is_not_flagged() -> None:
    report = doctor((TEMPLATES / "openflow-byoc-agent.yaml").read_text())
    assert {finding.evidence.script for finding in rule(report, "OFD001")} == {"ensure-ecr-repo.sh"}
    upgrade = next(script for script in report.scripts if script.name == "upgrade-data-plane.sh")
    assert upgrade.shell


def test_a_variable_that_builds_names_is_not_flagged_even_when_its_target_is_grepped() -> None:
    script = """\
#!/bin/bash
item='{"version_env":"AGENT_IMAGE_VERSION"}'
version_env=$(jq -r '.version_env' <<< $item)
latest="$version_env"_UPGRADE
echo ${!version_env} | grep -q 1.2
echo "$latest"
"""
    assert rule(doctor(template(script)), "OFD001") == []


def test_a_single_bang_in_a_sub_string_renders_to_a_plain_expansion_and_is_not_flagged() -> None:
    # Written `${!exists_check}` inside Fn::Sub: the instance runs `${exists_check}`, which is right.
    report = doctor(template(SEED_SCRIPT, escape=False))
    assert rule(report, "OFD001") == []
    rendered = next(
        f for f in report.findings if f.evidence.script == "check.sh" and f.evidence.script_line == 6
    )
    assert "${exists_check}" in rendered.evidence.text


def test_user_data_without_sub_is_judged_as_written_and_fixed_without_escaping() -> None:
    report = doctor(template(SEED_SCRIPT, sub=False), fix=True)
    found = rule(report, "OFD001")
    assert len(found) == 2 and found[0].evidence.template_text is None
    assert "if echo $exists_check | grep" in check_script(report)


def test_an_expansion_followed_by_a_word_character_keeps_its_braces_in_the_fix() -> None:
    script = "#!/bin/bash\nout=$(aws ecr describe-repositories 2>&1)\necho ${!out}_done\n"
    report = doctor(template(script), fix=True)
    assert "echo ${out}_done" in check_script(report)
    assert report.fixed_text is not None and "echo ${!out}_done" in report.fixed_text  # Sub-escaped


def test_key_listing_forms_are_not_indirect_expansion() -> None:
    script = '#!/bin/bash\nout=$(aws ecr describe-repositories 2>&1)\necho "${!out[@]}" "${!out*}"\n'
    assert rule(doctor(template(script)), "OFD001") == []


def test_indirect_expansion_inside_single_quotes_or_comments_is_ignored() -> None:
    script = "#!/bin/bash\nout=$(aws ecr describe-repositories 2>&1)\n# echo ${!out}\necho '${!out}'\n"
    assert rule(doctor(template(script)), "OFD001") == []


# --- OFD002: unset option values ---------------------------------------------------------------------


def test_an_unset_variable_passed_as_an_option_value_is_an_error_fixed_by_dropping_the_option() -> None:
    report = doctor(template(SEED_SCRIPT), fix=True)
    [finding] = rule(report, "OFD002")
    assert finding.severity is Severity.ERROR
    assert finding.evidence.script_line == 7
    assert "argument --tags: expected at least one argument" in finding.message
    assert "    aws ecr create-repository --region $AWS_REGION --repository-name $1\n" in check_script(report)


def test_the_braced_and_quoted_forms_of_an_unset_option_value_are_flagged() -> None:
    script = '#!/bin/bash\naws ecr create-repository --repository-name "$1" --tags "${agent_tags}"\n'
    report = doctor(template(script), fix=True)
    assert len(rule(report, "OFD002")) == 1
    assert 'aws ecr create-repository --repository-name "$1"\n' in check_script(report)


def test_variables_assigned_in_the_sourced_env_file_are_set() -> None:
    script = "#!/bin/bash\nsource /home/ec2-user/.env\n"
    script += "aws ecr describe-repositories --repository-names $repo_prefix/x\n"
    script += "aws ecr create-repository --repository-name $repo_prefix --region $AWS_REGION\n"
    assert rule(doctor(template(script)), "OFD002") == []


def test_variables_assigned_by_read_for_and_local_are_set() -> None:
    script = """\
#!/bin/bash
read -r -p "name? " answer
for repo in a b; do aws ecr create-repository --repository-name $repo; done
f() {
  local tags="Key=a,Value=b"
  aws ecr create-repository --repository-name $answer --tags $tags
}
f
"""
    assert rule(doctor(template(script)), "OFD002") == []


def test_all_uppercase_variables_are_taken_to_come_from_the_environment() -> None:
    script = "#!/bin/bash\naws ecr describe-repositories --profile $AWS_PROFILE\n"
    assert rule(doctor(template(script)), "OFD002") == []


# --- OFD003: errexit / pipefail ----------------------------------------------------------------------

ERREXIT_SCRIPT = """\
#!/bin/bash
set -euo pipefail
exists_check=$(aws ecr describe-repositories --repository-names "$1" 2>&1)
if [ $? -ne 0 ]; then
  if echo "$exists_check" | grep -q RepositoryNotFoundException; then
    echo "creating $1"
  fi
fi
"""


def test_errexit_with_an_unguarded_describe_capture_is_an_error() -> None:
    [finding] = rule(doctor(template(ERREXIT_SCRIPT)), "OFD003")
    assert finding.severity is Severity.ERROR
    assert finding.evidence.script_line == 3
    assert "set -e" in finding.message


def test_the_errexit_fix_keeps_the_status_and_the_repaired_script_reaches_the_check(tmp_path: Path) -> None:
    report = doctor(template(ERREXIT_SCRIPT), fix=True)
    fixed = check_script(report)
    assert "exists_check_rc=0; exists_check=$(aws" in fixed and "|| exists_check_rc=$?" in fixed
    assert "if [ $exists_check_rc -ne 0 ]; then" in fixed
    assert report.fixed_counts is not None and report.fixed_counts["error"] == 0
    # Run both versions with an `aws` that fails like the CLI does for a missing repository.
    stub = tmp_path / "bin" / "aws"
    stub.parent.mkdir()
    stub.write_text(
        "#!/bin/bash\necho 'An error occurred (RepositoryNotFoundException) when calling the "
        "DescribeRepositories operation: missing' >&2\nexit 254\n"
    )
    stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    original = tmp_path / "original.sh"
    original.write_text(ERREXIT_SCRIPT)
    repaired = tmp_path / "repaired.sh"
    repaired.write_text(fixed)
    before = subprocess.run(
        ["bash", str(original), "r1"], capture_output=True, text=True, env=env, check=False
    )
    after = subprocess.run(
        ["bash", str(repaired), "r1"], capture_output=True, text=True, env=env, check=False
    )
    assert before.returncode == 254 and "creating" not in before.stdout
    assert after.returncode == 0 and after.stdout == "creating r1\n"


def test_pipefail_with_describe_piped_to_grep_is_reported_without_an_automatic_fix() -> None:
    script = """\
#!/bin/bash
set -o pipefail
if aws ecr describe-repositories --repository-names "$1" 2>&1 | grep -q RepositoryNotFoundException; then
  aws ecr create-repository --repository-name "$1"
fi
"""
    [finding] = rule(doctor(template(script)), "OFD003")
    assert "pipefail" in finding.message
    assert finding.fix is not None and finding.fix.patch == []


def test_a_guarded_capture_under_errexit_is_not_flagged() -> None:
    script = """\
#!/bin/bash
set -e
if ! out=$(aws ecr describe-repositories --repository-names "$1" 2>&1); then
  if echo "$out" | grep -q RepositoryNotFoundException; then
    aws ecr create-repository --repository-name "$1"
  fi
fi
"""
    assert rule(doctor(template(script)), "OFD003") == []


def test_errexit_in_a_script_without_a_repository_check_is_not_flagged() -> None:
    script = (
        '#!/bin/bash\nset -e\nout=$(aws ecr describe-repositories --repository-names "$1")\necho "$out"\n'
    )
    assert rule(doctor(template(script)), "OFD003") == []


# --- OFD004: hand-edited parameters ------------------------------------------------------------------


def agent_template_text() -> str:
    return (TEMPLATES / "openflow-byoc-agent-fixed.yaml").read_text()


def test_a_hand_edited_deployment_parameter_is_an_error_and_the_fix_restores_the_value() -> None:
    expected = {"DataPlaneKey": "abc123", "SnowflakeAccount": "EXAMPLEACCT"}
    report = doctor(agent_template_text(), expected_parameters=expected, fix=True)
    [finding] = rule(report, "OFD004")
    assert finding.severity is Severity.ERROR
    assert finding.evidence.text == 'Default: "k7q2xw9mzp"'
    assert report.fixed_text is not None
    changed = [
        (a, b)
        for a, b in zip(agent_template_text().splitlines(), report.fixed_text.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [('    Default: "k7q2xw9mzp"', '    Default: "abc123"')]
    assert report.fixed_counts is not None and report.fixed_counts["error"] == 0


def test_drop_down_parameters_may_differ() -> None:
    report = doctor(agent_template_text(), expected_parameters={"UseImageRegistryOverPrivateLink": "true"})
    assert rule(report, "OFD004") == []


def test_an_expected_parameter_the_template_lacks_is_a_warning() -> None:
    [finding] = rule(doctor(agent_template_text(), expected_parameters={"DataPlaneRegion": "x"}), "OFD004")
    assert finding.severity is Severity.WARNING
    assert "DataPlaneRegion" in finding.message


def test_matching_parameters_yield_no_finding() -> None:
    expected = {"DataPlaneKey": "k7q2xw9mzp", "DataPlaneUUID": "0b6f2a3c-5d4e-4f81-9a7b-2c3d4e5f6a7b"}
    assert rule(doctor(agent_template_text(), expected_parameters=expected), "OFD004") == []


# --- ShellCheck ----------------------------------------------------------------------------------------


def test_shellcheck_findings_carry_their_codes_and_are_never_errors() -> None:
    report = doctor((TEMPLATES / "openflow-byoc-agent.yaml").read_text())
    codes = [finding for finding in report.findings if finding.rule_id.startswith("SC")]
    assert report.shellcheck
    assert codes and all(finding.severity is not Severity.ERROR for finding in codes)
    unset = [finding for finding in codes if finding.rule_id == "SC2154"]
    assert unset and unset[0].evidence.script == "ensure-ecr-repo.sh"
    assert "agent_tags" in unset[0].message


def test_files_other_scripts_source_are_not_told_their_variables_are_unused() -> None:
    report = doctor((TEMPLATES / "openflow-byoc-agent.yaml").read_text())
    assert not [
        f for f in report.findings if f.rule_id == "SC2034" and f.evidence.script in {".env", ".upgrade"}
    ]


def test_a_missing_shellcheck_is_an_info_finding_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shellcheck_module, "find_shellcheck", lambda: None)
    report = doctor(template(SEED_SCRIPT))
    notes = rule(report, "OFD000")
    assert len(notes) == 1 and notes[0].severity is Severity.INFO
    assert "shellcheck not available" in notes[0].message
    assert report.shellcheck is None
    assert not [finding for finding in report.findings if finding.rule_id.startswith("SC")]
    assert len(rule(report, "OFD001")) == 2
