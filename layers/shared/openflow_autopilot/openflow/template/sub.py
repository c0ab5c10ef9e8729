"""`Fn::Sub` rendering for analysis: what text CloudFormation hands to the instance.

`${Name}` becomes the variable map's value, a parameter/pseudo-parameter/resource value, or a placeholder;
`${!X}` is Sub's escape and becomes the literal `${X}`. So `${!!x}` in a template runs as bash's `${!x}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Literal, NamedTuple

import yaml

from .source import TemplateSource, intrinsic

# Values pseudo parameters take during analysis; a sandbox passes the stack's real ones instead.
ANALYSIS_PSEUDO_PARAMETERS: Final[Mapping[str, str]] = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "openflow-stack",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/openflow-stack/00000000",
    "AWS::NoValue": "",
    "AWS::NotificationARNs": "",
}
_NOT_A_WORD: Final = re.compile(r"[^A-Za-z0-9_]")


# What the doctor renders of one template, all UserData together: a template is at most 1 MiB, so a
# rendering far larger comes from substitutions repeating a long value (`${P}` x 100,000).
MAX_RENDERED_CHARS: Final = 2 * 1_048_576


class RenderLimitExceeded(Exception):
    """Rendering would exceed MAX_RENDERED_CHARS (or the limit given)."""


class SubToken(NamedTuple):
    """A piece of an Fn::Sub string: literal text, the `${!` escape (renders `${`) or a `${Name}`."""

    kind: Literal["text", "escape", "variable"]
    start: int
    end: int
    name: str = ""


def sub_tokens(template: str) -> Iterator[SubToken]:
    at = 0
    size = len(template)
    while at < size:
        start = template.find("${", at)
        if start < 0:
            yield SubToken("text", at, size)
            return
        if start > at:
            yield SubToken("text", at, start)
        if template.startswith("${!", start):
            yield SubToken("escape", start, start + 3)
            at = start + 3
            continue
        end = template.find("}", start + 2)
        if end < 0:
            yield SubToken("text", start, size)
            return
        yield SubToken("variable", start, end + 1, template[start + 2 : end].strip())
        at = end + 1


def placeholder(name: str) -> str:
    """Shell-inert stand-in for a value unknown before deployment (a resource id, an attribute)."""
    return f"__{_NOT_A_WORD.sub('_', name)}__"


def render_sub(template: str, lookup: Callable[[str], str], *, limit: int | None = None) -> str:
    """Render an Fn::Sub string: `${Name}` -> lookup(Name), `${!X}` -> `${X}`.

    Raises RenderLimitExceeded when the result would be longer than `limit` characters.
    """
    out: list[str] = []
    size = 0
    for token in sub_tokens(template):
        if token.kind == "text":
            piece = template[token.start : token.end]
        elif token.kind == "escape":
            piece = "${"
        else:
            piece = lookup(token.name)
        size += len(piece)
        if limit is not None and size > limit:
            raise RenderLimitExceeded(f"more than {limit:,} characters")
        out.append(piece)
    return "".join(out)


def escape_sub_literal(text: str) -> str:
    """How literal text is written inside an Fn::Sub string so that it renders unchanged."""
    return text.replace("${", "${!")


def analysis_refs(source: TemplateSource) -> dict[str, str]:
    """Ref values for analysis: parameter defaults and sample pseudo parameters."""
    refs = dict(ANALYSIS_PSEUDO_PARAMETERS)
    parameters = source.data.get("Parameters")
    if isinstance(parameters, dict):
        for name, spec in parameters.items():
            default = spec.get("Default") if isinstance(spec, dict) else None
            if isinstance(default, list):
                refs[str(name)] = ",".join(str(item) for item in default)
            elif isinstance(default, bool):
                refs[str(name)] = str(default).lower()
            elif default is not None:
                refs[str(name)] = str(default)
    return refs


def resolve(node: yaml.Node, refs: Mapping[str, str], *, limit: int = MAX_RENDERED_CHARS) -> str:
    """Best-effort string value of a template expression (Ref, GetAtt, Sub, Join, literals).

    Raises RenderLimitExceeded when the value would be longer than `limit` characters.
    """
    function = intrinsic(node)
    if function is None:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        return placeholder("value")
    name, value = function
    if name == "Ref" and isinstance(value, yaml.ScalarNode):
        return refs.get(str(value.value), placeholder(str(value.value)))
    if name == "Fn::GetAtt":
        dotted = _getatt_name(value)
        return refs.get(dotted, placeholder(dotted))
    if name == "Fn::Sub":
        template, variables = sub_parts(value, refs, limit=limit)
        if template is not None:
            return render_sub(str(template.value), sub_lookup(variables, refs), limit=limit)
    if name == "Fn::Join" and isinstance(value, yaml.SequenceNode) and len(value.value) == 2:
        delimiter, items = value.value
        if isinstance(delimiter, yaml.ScalarNode) and isinstance(items, yaml.SequenceNode):
            separator = str(delimiter.value)
            parts: list[str] = []
            size = 0
            for index, item in enumerate(items.value):
                part = resolve(item, refs, limit=limit)
                size += len(part) + (len(separator) if index else 0)
                if size > limit:
                    raise RenderLimitExceeded(f"more than {limit:,} characters")
                parts.append(part)
            return separator.join(parts)
    if name == "Fn::Base64":
        return resolve(value, refs, limit=limit)
    return placeholder(name)


def sub_parts(
    value: yaml.Node, refs: Mapping[str, str], *, limit: int = MAX_RENDERED_CHARS
) -> tuple[yaml.ScalarNode | None, dict[str, str]]:
    """The template string node and the resolved variable map of `!Sub x` or `!Sub [x, {vars}]`."""
    if isinstance(value, yaml.ScalarNode):
        return value, {}
    if isinstance(value, yaml.SequenceNode) and len(value.value) == 2:
        template, variables = value.value
        if isinstance(template, yaml.ScalarNode):
            resolved: dict[str, str] = {}
            if isinstance(variables, yaml.MappingNode):
                for key, item in variables.value:
                    if isinstance(key, yaml.ScalarNode):
                        resolved[str(key.value)] = resolve(item, refs, limit=limit)
            return template, resolved
    return None, {}


def sub_lookup(variables: Mapping[str, str], refs: Mapping[str, str]) -> Callable[[str], str]:
    def lookup(name: str) -> str:
        if name in variables:
            return variables[name]
        return refs.get(name, placeholder(name))

    return lookup


def _getatt_name(value: yaml.Node) -> str:
    if isinstance(value, yaml.ScalarNode):
        return str(value.value)
    if isinstance(value, yaml.SequenceNode):
        return ".".join(str(item.value) for item in value.value if isinstance(item, yaml.ScalarNode))
    return "GetAtt"
