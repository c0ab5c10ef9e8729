"""The CloudFormation YAML loader/dumper keeps short-form tags through a round trip."""

from __future__ import annotations

from pathlib import Path

from openflow_autopilot.openflow.template import CfnTag, dump_yaml, load_yaml, to_long_form

TEMPLATES = Path(__file__).resolve().parents[2] / "sandbox" / "openflow_sandbox" / "templates"

ALL_TAGS = """\
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Condition NotProd]
  Either: !Or [!Condition IsProd, !Condition NotProd]
Resources:
  Thing:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !ImportValue shared-vpc
      CidrBlock: !Select [0, !Cidr [!GetAtt Vpc.CidrBlock, 4, 8]]
      AvailabilityZone: !Select [0, !GetAZs ""]
      Tags:
        - Key: Name
          Value: !Join ["-", !Split [",", !Sub "a,${AWS::Region}"]]
        - Key: Size
          Value: !FindInMap [Sizes, !Ref Env, Small]
        - Key: Mode
          Value: !If [IsProd, prod, dev]
      UserData: !Base64 |
        #!/bin/bash
        echo hi
"""


def test_every_short_form_tag_survives_a_load_and_dump_round_trip() -> None:
    data = load_yaml(ALL_TAGS)
    dumped = dump_yaml(data)
    for tag in (
        "!Ref",
        "!Sub",
        "!GetAtt",
        "!Base64",
        "!Join",
        "!Select",
        "!If",
        "!Equals",
        "!FindInMap",
        "!GetAZs",
        "!Split",
        "!ImportValue",
        "!Not",
        "!And",
        "!Or",
        "!Condition",
        "!Cidr",
    ):
        assert tag in dumped, tag
    assert load_yaml(dumped) == data


def test_the_realistic_openflow_template_round_trips_without_losing_a_tag() -> None:
    text = (TEMPLATES / "openflow-byoc-agent.yaml").read_text()
    data = load_yaml(text)
    again = load_yaml(dump_yaml(data))
    assert again == data
    user_data = again["Resources"]["OpenflowAgentInstance"]["Properties"]["UserData"]["Fn::Base64"]
    assert isinstance(user_data, CfnTag) and user_data.name == "Sub"
    assert "${!!exists_check}" in user_data.value[0]


def test_long_form_spells_every_short_form_as_cloudformation_does() -> None:
    data = to_long_form(load_yaml(ALL_TAGS))
    properties = data["Resources"]["Thing"]["Properties"]
    assert properties["VpcId"] == {"Fn::ImportValue": "shared-vpc"}
    assert properties["AvailabilityZone"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    cidr = properties["CidrBlock"]["Fn::Select"][1]["Fn::Cidr"]
    assert cidr[0] == {"Fn::GetAtt": ["Vpc", "CidrBlock"]}
    assert data["Conditions"]["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert data["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    assert properties["UserData"] == {"Fn::Base64": "#!/bin/bash\necho hi\n"}


def test_multi_line_strings_are_dumped_as_literal_blocks() -> None:
    dumped = dump_yaml({"UserData": CfnTag("Sub", "#!/bin/bash\necho ${AWS::Region}\n")})
    assert dumped.startswith("UserData: !Sub |")
