"""The IAM wildcard lint: every "*" left in template.yaml says why AWS requires it."""

from __future__ import annotations

from pathlib import Path

from openflow_autopilot_cli.lint.template_lint import unexplained_wildcards

ROOT = Path(__file__).resolve().parents[2]

STATEMENT = """\
      Policies:
        - Statement:
{comment}            - Effect: Allow
              Action: {action}
              Resource: {resource}
"""


def policy(action: str = "ec2:DescribeInstances", resource: str = '"*"', comment: str = "") -> str:
    return STATEMENT.format(action=action, resource=resource, comment=comment)


def test_the_projects_template_has_no_unexplained_wildcard() -> None:
    assert unexplained_wildcards((ROOT / "template.yaml").read_text()) == []


def test_a_star_resource_without_a_reason_is_reported_with_its_line() -> None:
    [(line, text)] = unexplained_wildcards(policy())
    assert line == 5 and text == 'Resource: "*"'


def test_a_star_resource_with_an_aws_requires_comment_passes() -> None:
    comment = (
        '            # ec2:DescribeInstances supports no resource-level permissions: AWS requires "*".\n'
    )
    assert unexplained_wildcards(policy(comment=comment)) == []


def test_a_comment_in_another_statement_does_not_justify_this_one() -> None:
    justified = policy(comment='            # AWS requires "*" here.\n')
    text = justified + policy(resource='"*"').split("      Policies:\n", 1)[1]
    assert [line for line, _ in unexplained_wildcards(text)] == [10]


def test_an_action_wildcard_is_reported_too() -> None:
    resource = '"arn:aws:s3:::bucket/*"'
    assert [t for _, t in unexplained_wildcards(policy(action="s3:*", resource=resource))] == ["Action: s3:*"]


def test_a_specific_resource_arn_ending_in_a_path_wildcard_is_not_a_wildcard_resource() -> None:
    assert (
        unexplained_wildcards(policy(action="s3:GetObject", resource='"arn:aws:s3:::bucket/templates/*"'))
        == []
    )
