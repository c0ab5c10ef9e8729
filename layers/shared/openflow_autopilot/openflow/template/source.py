"""A template as both text and YAML nodes, so findings point at file lines and fixes patch the text.

JSON templates are read too (CloudFormation accepts both): JSON is composed by the same YAML parser,
which keeps every value's position in the file.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import yaml

from .cfn_yaml import CfnLoader, long_form_name, to_long_form
from .errors import TemplateError

# CloudFormation reads templates of at most 1 MB (from S3; 51,200 bytes inline), so anything larger is
# not a template it would accept.
MAX_TEMPLATE_BYTES: Final = 1_000_000

_SHORT_TAG_PREFIX: Final = "!"
_INTRINSIC_KEYS: Final = frozenset({"Ref", "Condition"})


@dataclass
class TemplateSource:
    """A parsed template: original text, node tree (with positions) and long-form data."""

    text: str
    root: yaml.MappingNode
    data: dict[str, Any]
    format: Literal["yaml", "json"]
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        starts.extend(index + 1 for index, char in enumerate(self.text) if char == "\n")
        self._line_starts = starts

    @classmethod
    def parse(cls, text: str) -> TemplateSource:
        size = len(text.encode("utf-8"))
        if size > MAX_TEMPLATE_BYTES:
            raise TemplateError(
                f"The template is {size / 1_000_000:.1f} MB; CloudFormation accepts templates of at most "
                f"1 MB, so this is not the deployment's template.",
                fix="Download the template again from the Openflow UI.",
            )
        if not text.strip():
            raise TemplateError(
                "The template is empty: expected a CloudFormation template (YAML or JSON) with Resources.",
                fix="Download the template again from the Openflow UI.",
            )
        text = text.removeprefix("\ufeff")
        fmt: Literal["yaml", "json"] = "json" if text.lstrip().startswith("{") else "yaml"
        composable = text
        if fmt == "json":
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                raise TemplateError(
                    f"The template is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
                ) from exc
            # Raw tabs in valid JSON are only whitespace between tokens, which YAML rejects; same length.
            composable = text.replace("\t", " ")
        root, data = _compose(composable)
        if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
            raise TemplateError(
                "The file is not a CloudFormation template: its top level is not a mapping with Resources."
            )
        resources = data.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise TemplateError(
                "The file is not a CloudFormation template: it has no Resources section.",
                fix="Check that the file is the template downloaded from the Openflow UI.",
            )
        return cls(text=text, root=root, data=to_long_form(data), format=fmt)

    # --- positions -------------------------------------------------------------------------------------
    def line_of(self, offset: int) -> int:
        """1-based line number of a character offset."""
        return bisect.bisect_right(self._line_starts, offset)

    def line_text(self, line: int) -> str:
        """Text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)]

    def value_line_to_file_line(self, node: yaml.ScalarNode, line_index: int) -> int:
        """1-based file line of line `line_index` of a scalar's value (exact for literal blocks)."""
        if node.style == "|":
            return node.start_mark.line + 2 + line_index
        lines = node.value.split("\n")
        if 0 <= line_index < len(lines) and lines[line_index]:
            span = self.locate(node, sum(len(part) + 1 for part in lines[:line_index]), lines[line_index])
            if span is not None:
                return self.line_of(span[0])
        return node.start_mark.line + 1

    def locate(self, node: yaml.ScalarNode, value_offset: int, needle: str) -> tuple[int, int] | None:
        """File span of the occurrence of `needle` that starts at `value_offset` in the scalar's value.

        Found by escaping the needle the way the scalar's style writes it and matching occurrences in
        order; None when the count in the file differs from the count in the value (ambiguous).
        """
        if not needle or "\n" in needle:
            return None
        value: str = node.value
        if value.find(needle, value_offset) != value_offset:
            return None
        escaped = escape_for_style(needle, node.style)
        start, end = node.start_mark.index, node.end_mark.index
        in_file = _find_all(self.text, escaped, start, end)
        in_value = _find_all(value, needle, 0, len(value))
        if len(in_file) != len(in_value) or value_offset not in in_value:
            return None
        at = in_file[in_value.index(value_offset)]
        return at, at + len(escaped)

    # --- structure --------------------------------------------------------------------------------------
    def resources(self) -> Iterator[tuple[str, yaml.MappingNode]]:
        resources = mapping_get(self.root, "Resources")
        if not isinstance(resources, yaml.MappingNode):
            return
        for key, value in resources.value:
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.MappingNode):
                yield key.value, value

    def parameters(self) -> dict[str, yaml.MappingNode]:
        parameters = mapping_get(self.root, "Parameters")
        if not isinstance(parameters, yaml.MappingNode):
            return {}
        return {
            key.value: value
            for key, value in parameters.value
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.MappingNode)
        }


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    loader = CfnLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "unreadable"
        raise TemplateError(f"The template is not valid YAML: {problem}{where}.") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"The template is not valid YAML: {exc}.") from exc
    finally:
        loader.dispose()
    return node, data


def _find_all(text: str, needle: str, start: int, end: int) -> list[int]:
    found: list[int] = []
    at = text.find(needle, start, end)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + len(needle), end)
    return found


def escape_for_style(text: str, style: str | None) -> str:
    """How `text` appears inside a scalar of the given YAML style (JSON strings are double-quoted)."""
    if style == '"':
        return json.dumps(text, ensure_ascii=False)[1:-1]
    if style == "'":
        return text.replace("'", "''")
    return text


def mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def intrinsic(node: yaml.Node) -> tuple[str, yaml.Node] | None:
    """(`Fn::Sub`, value node) for `!Sub x` or `{"Fn::Sub": x}`; None for anything else."""
    tag: str = node.tag
    if tag.startswith(_SHORT_TAG_PREFIX) and not tag.startswith("!!"):
        return long_form_name(tag[1:]), node
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key_node, value_node = node.value[0]
        if isinstance(key_node, yaml.ScalarNode):
            name: str = key_node.value
            if name.startswith("Fn::") or name in _INTRINSIC_KEYS:
                return name, value_node
    return None
