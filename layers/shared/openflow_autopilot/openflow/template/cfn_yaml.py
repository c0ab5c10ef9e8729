"""CloudFormation YAML: a loader and a dumper that keep the short-form intrinsic tags (`!Ref`, `!Sub`, ...).

PyYAML's safe loader rejects unknown tags, and a plain loader drops them. Here a tagged node becomes a
`CfnTag(name, value)` that dumps back to the same short form, and `to_long_form` gives the equivalent
`{"Fn::Sub": ...}` structure for analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError

# Short forms CloudFormation accepts in YAML templates (intrinsic functions, condition functions, rules).
SHORT_FORM_TAGS: Final = frozenset(
    {
        "Ref",
        "Sub",
        "GetAtt",
        "Base64",
        "Join",
        "Select",
        "If",
        "Equals",
        "FindInMap",
        "GetAZs",
        "Split",
        "ImportValue",
        "Not",
        "And",
        "Or",
        "Condition",
        "Cidr",
        "Transform",
        "Length",
        "ToJsonString",
        "Contains",
        "EachMemberEquals",
        "EachMemberIn",
        "RefAll",
        "ValueOf",
        "ValueOfAll",
    }
)
# Long-form keys without the "Fn::" prefix.
_BARE_LONG_FORM: Final = frozenset({"Ref", "Condition"})


def long_form_name(short_name: str) -> str:
    """`Sub` -> `Fn::Sub`; `Ref` and `Condition` keep their name."""
    return short_name if short_name in _BARE_LONG_FORM else f"Fn::{short_name}"


@dataclass
class CfnTag:
    """A short-form intrinsic as written: `!GetAtt A.B` is CfnTag("GetAtt", "A.B")."""

    name: str
    value: Any

    def long_form(self) -> dict[str, Any]:
        value = to_long_form(self.value)
        if self.name == "GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        return {long_form_name(self.name): value}


class CfnLoader(yaml.SafeLoader):
    """Safe loader that also constructs CloudFormation's short-form tags."""


def _construct_short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> CfnTag:
    if suffix not in SHORT_FORM_TAGS:
        raise ConstructorError(
            None, None, f"!{suffix} is not a CloudFormation intrinsic function tag", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return CfnTag(suffix, value)


CfnLoader.add_multi_constructor("!", _construct_short_form)


class CfnDumper(yaml.SafeDumper):
    """Safe dumper that writes CfnTag back in short form and multi-line strings as literal blocks."""


def _represent_tag(dumper: yaml.SafeDumper, tag: CfnTag) -> yaml.Node:
    name = f"!{tag.name}"
    if isinstance(tag.value, list):
        return dumper.represent_sequence(name, tag.value)
    if isinstance(tag.value, dict):
        return dumper.represent_mapping(name, tag.value)
    text = "" if tag.value is None else str(tag.value)
    return dumper.represent_scalar(name, text, style="|" if "\n" in text else None)


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


CfnDumper.add_representer(CfnTag, _represent_tag)
CfnDumper.add_representer(str, _represent_str)


def load_yaml(text: str) -> Any:
    """Parse YAML, keeping short-form tags as CfnTag. Raises yaml.YAMLError on bad input."""
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader subclass


def dump_yaml(data: Any) -> str:
    """Write data as YAML with short-form tags, keys in their given order."""
    return yaml.dump(data, Dumper=CfnDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def to_long_form(data: Any) -> Any:
    """Replace every CfnTag with its long form (`{"Fn::Sub": ...}`), recursively."""
    if isinstance(data, CfnTag):
        return data.long_form()
    if isinstance(data, dict):
        return {key: to_long_form(value) for key, value in data.items()}
    if isinstance(data, list):
        return [to_long_form(item) for item in data]
    return data
