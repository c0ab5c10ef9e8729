"""Fn::Sub rendering and the scripts a UserData writes, with their line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from openflow_autopilot.openflow.template import doctor, embedded_scripts, escape_sub_literal, render_sub

TEMPLATES = Path(__file__).resolve().parents[2] / "sandbox" / "openflow_sandbox" / "templates"


def lookup(name: str) -> str:
    return {"DataPlaneKey": "k1", "AWS::Region": "eu-west-1"}.get(name, f"<{name}>")


def test_sub_replaces_names_and_turns_the_bang_escape_into_a_literal() -> None:
    assert render_sub("key=${DataPlaneKey} region=${AWS::Region}", lookup) == "key=k1 region=eu-west-1"
    assert render_sub("echo ${!exists_check}", lookup) == "echo ${exists_check}"
    assert render_sub('version="${!!version_env}"', lookup) == 'version="${!version_env}"'
    assert render_sub("plain $1 and $HOME", lookup) == "plain $1 and $HOME"


def test_escaping_literal_text_for_sub_is_the_inverse_of_rendering() -> None:
    for text in ("${!exists_check}", "echo ${x}_y $z", "no braces"):
        assert render_sub(escape_sub_literal(text), lookup) == text


def _template(user_data: str) -> str:
    return (
        "Parameters:\n  DataPlaneKey:\n    Type: String\n    Default: k7\n"
        "Resources:\n  Agent:\n    Type: AWS::EC2::Instance\n    Properties:\n      ImageId: ami-1\n"
        "      UserData:\n" + user_data
    )


def _literal(lines: list[str], indent: int) -> str:
    return "".join(f"{' ' * indent}{line}\n" if line else "\n" for line in lines)


@pytest.mark.parametrize("operator", ["<<\\EOF", "<<'EOF'", '<<"EOF"', "<< 'EOF'"])
def test_quoted_heredocs_are_extracted_verbatim(operator: str) -> None:
    body = [
        "#!/bin/bash",
        f"cat {operator} > /home/ec2-user/run.sh",
        "#!/bin/bash",
        "echo $1",
        "EOF",
        "echo done",
    ]
    text = _template("        Fn::Base64: !Sub |\n" + _literal(body, 10))
    scripts = {script.name: script for script in embedded_scripts(text)}
    assert scripts["run.sh"].text == "#!/bin/bash\necho $1\n"
    assert scripts["run.sh"].verbatim
    assert scripts["run.sh"].path == "/home/ec2-user/run.sh"


def test_an_unquoted_heredoc_is_extracted_and_marked_as_expanded_when_written() -> None:
    body = ["#!/bin/bash", "cat <<EOF > /opt/run.sh", "echo $HOME", "EOF"]
    text = _template("        Fn::Base64: |\n" + _literal(body, 10))
    run = next(script for script in embedded_scripts(text) if script.name == "run.sh")
    assert not run.verbatim
    report = doctor(text)
    assert [finding.rule_id for finding in report.findings if finding.rule_id.startswith("OFD")] == ["OFD005"]


def test_tab_stripping_heredocs_drop_leading_tabs() -> None:
    body = ["#!/bin/bash", "cat <<-'EOF' > /opt/run.sh", "\techo hi", "\tEOF"]
    text = _template('        Fn::Base64: "' + "\\n".join(body).replace("\t", "\\t") + '\\n"\n')
    run = next(script for script in embedded_scripts(text) if script.name == "run.sh")
    assert run.text == "echo hi\n"


def test_the_sub_list_form_renders_the_variable_map_and_parameter_defaults() -> None:
    body = [
        "#!/bin/bash",
        "cat <<\\EOF > /home/ec2-user/.env",
        "KEY=${DataPlaneKey}",
        "REGION=${Region}",
        "EOF",
    ]
    user_data = (
        "        Fn::Base64: !Sub\n          - |\n"
        + _literal(body, 12)
        + "          - Region: !Ref AWS::Region\n"
    )
    env = next(script for script in embedded_scripts(_template(user_data)) if script.name == ".env")
    assert env.text == "KEY=k7\nREGION=us-east-1\n"
    refs = {"AWS::Region": "ap-northeast-1", "DataPlaneKey": "live"}
    env = next(
        script for script in embedded_scripts(_template(user_data), refs=refs) if script.name == ".env"
    )
    assert env.text == "KEY=live\nREGION=ap-northeast-1\n"


def test_the_openflow_template_writes_the_seeds_scripts_and_units() -> None:
    text = (TEMPLATES / "openflow-byoc-agent.yaml").read_text()
    names = [script.name for script in embedded_scripts(text)]
    assert names[:3] == ["UserData", ".env", "ensure-ecr-repo.sh"]
    for expected in (
        "sync-images.sh",
        "create.sh",
        "apply-infrastructure.sh",
        "destroy.sh",
        "diagnostics.sh",
        "upgrade-data-plane.sh",
        "openflow-sync-images.service",
        "openflow-apply-infrastructure.timer",
    ):
        assert expected in names


def test_script_lines_map_to_the_template_lines_they_are_written_on() -> None:
    text = (TEMPLATES / "openflow-byoc-agent.yaml").read_text()
    lines = text.splitlines()
    operator = next(
        i for i, line in enumerate(lines) if "cat <<\\EOF > /home/ec2-user/ensure-ecr-repo.sh" in line
    )
    report = doctor(text)
    info = next(script for script in report.scripts if script.name == "ensure-ecr-repo.sh")
    assert info.template_line == operator + 2  # 1-based line after the operator
    assert lines[info.template_line - 1].strip() == "#!/bin/bash"
    assert info.lines == 11


def test_the_shell_scanner_blanks_comments_and_quotes_and_knows_shifts_from_heredocs() -> None:
    from openflow_autopilot.openflow.template.shell_text import scan

    text = "x=$(( 1 << 2 ))\necho '${!a}' # ${!b}\ncat <<'EOF' > f\n${!c}\nEOF\necho \"${!d}\"\n"
    shell = scan(text)
    masked = shell.masked_lines
    assert masked[0] == "x=$(( 1 << 2 ))"
    assert "${!a}" not in masked[1] and "${!b}" not in masked[1]
    assert masked[3].strip() == ""  # a quoted heredoc body is written verbatim: nothing expands there
    assert masked[5] == 'echo "${!d}"'
    [heredoc] = shell.heredocs
    assert (heredoc.delimiter, heredoc.verbatim, heredoc.body_start, heredoc.body_end) == ("EOF", True, 3, 4)
