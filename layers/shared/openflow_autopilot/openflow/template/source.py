"""A template as both text and YAML nodes, so findings point at file lines and fixes patch the text.

JSON templates are read too (CloudFormation accepts both): JSON is composed by the same YAML parser,
which keeps every value's position in the file.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import yaml
import yaml.reader

from .cfn_yaml import MAX_DEPTH, CfnLoader, TemplateLimitError, long_form_name, to_long_form
from .errors import TemplateError

# CloudFormation reads templates of at most 1 MB from S3 (51,200 bytes inline), so anything larger is
# not a template it would accept. 1 MiB, so that no template CloudFormation takes is refused here.
MAX_TEMPLATE_BYTES: Final = 1_048_576

_SHORT_TAG_PREFIX: Final = "!"
_INTRINSIC_KEYS: Final = frozenset({"Ref", "Condition"})
_UNTAGGED: Final = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}
_DOWNLOAD_AGAIN: Final = "Download the template again from the Openflow UI."


def too_large(size: int, *, at_least: bool = False) -> TemplateError:
    return TemplateError(
        f"The template is {'at least ' if at_least else ''}{size / 1_000_000:.1f} MB ({size:,} bytes); "
        f"CloudFormation accepts templates of at most 1 MB, so this is not the deployment's template.",
        fix=_DOWNLOAD_AGAIN,
    )


def decode_template(data: bytes) -> str:
    """The text of a template file: UTF-8 (a BOM is allowed). Raises TemplateError for anything else."""
    if len(data) > MAX_TEMPLATE_BYTES:
        raise too_large(len(data))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TemplateError(
            "The template is UTF-16 text; CloudFormation templates are UTF-8.",
            fix="Save the file as UTF-8, or download the template again from the Openflow UI.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TemplateError(
            f"The template is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start} is not "
            f"UTF-8): is it a binary file?",
            fix=_DOWNLOAD_AGAIN,
        ) from None
    if "\x00" in text:
        raise TemplateError(
            f"The template contains a NUL byte (offset {text.index(chr(0))}): it is a binary file, not a "
            f"CloudFormation template.",
            fix=_DOWNLOAD_AGAIN,
        )
    return text


@dataclass
class TemplateSource:
    """A parsed template: original text, node tree (with positions) and long-form data."""

    text: str
    root: yaml.MappingNode
    data: dict[str, Any]
    format: Literal["yaml", "json"]
    _line_starts: list[int] = field(default_factory=list, repr=False)
    _value_lines: dict[tuple[int, int], tuple[list[str], list[int]]] = field(default_factory=dict, repr=False)
    _occurrences: dict[tuple[int, int, str, str], tuple[list[int], list[int]]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        self._line_starts = [0, *(match.end() for match in re.finditer("\n", self.text))]

    @classmethod
    def parse(cls, text: str | bytes) -> TemplateSource:
        if isinstance(text, bytes | bytearray):
            text = decode_template(bytes(text))
        if len(text) > MAX_TEMPLATE_BYTES:  # every character is at least one byte
            raise too_large(len(text), at_least=True)
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise TemplateError(
                f"The template text is not valid Unicode (an unpaired surrogate at offset {exc.start}): "
                f"it was not decoded from a UTF-8 file.",
                fix=_DOWNLOAD_AGAIN,
            ) from None
        if size > MAX_TEMPLATE_BYTES:
            raise too_large(size)
        if not text.strip():
            raise TemplateError(
                "The template is empty: expected a CloudFormation template (YAML or JSON) with Resources.",
                fix=_DOWNLOAD_AGAIN,
            )
        text = text.removeprefix("\ufeff")
        fmt: Literal["yaml", "json"] = "json" if text.lstrip().startswith("{") else "yaml"
        composable = text
        if fmt == "json":
            _check_json(text)
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
                "The file is not a CloudFormation template: it has no Resources section"
                + ("." if resources is None else " (Resources is not a mapping of resources)."),
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
        if node.start_mark.line == node.end_mark.line:  # a one-line scalar (every JSON string)
            return node.start_mark.line + 1
        lines, offsets = self._lines_of_value(node)
        if 0 <= line_index < len(lines) and lines[line_index]:
            span = self.locate(node, offsets[line_index], lines[line_index])
            if span is not None:
                return self.line_of(span[0])
        return node.start_mark.line + 1

    def _lines_of_value(self, node: yaml.ScalarNode) -> tuple[list[str], list[int]]:
        """The scalar's value split into lines, and each line's offset in the value (computed once)."""
        key = (node.start_mark.index, node.end_mark.index)
        cached = self._value_lines.get(key)
        if cached is None:
            lines = str(node.value).split("\n")
            offsets = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
            cached = self._value_lines[key] = (lines, offsets)
        return cached

    def locate(self, node: yaml.ScalarNode, value_offset: int, needle: str) -> tuple[int, int] | None:
        """File span of the occurrence of `needle` that starts at `value_offset` in the scalar's value.

        Found by escaping the needle the way the scalar's style writes it and matching occurrences in
        order; None when the count in the file differs from the count in the value (ambiguous).
        """
        if not needle or "\n" in needle:
            return None
        value: str = node.value
        if not value.startswith(needle, value_offset):
            return None
        escaped = escape_for_style(needle, node.style)
        start, end = node.start_mark.index, node.end_mark.index
        key = (start, end, str(node.style), needle)
        cached = self._occurrences.get(key)
        if cached is None:
            cached = (_find_all(self.text, escaped, start, end), _find_all(value, needle, 0, len(value)))
            self._occurrences[key] = cached
        in_file, in_value = cached
        if len(in_file) != len(in_value):
            return None
        index = bisect.bisect_left(in_value, value_offset)
        if index >= len(in_value) or in_value[index] != value_offset:
            return None
        at = in_file[index]
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


def _check_json(text: str) -> None:
    """Strict JSON first, for JSON's own error messages (the YAML parser composes it afterwards)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"The template is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise TemplateError(
            f"The template cannot be read: its JSON is nested more than {MAX_DEPTH} levels deep, far deeper "
            f"than any CloudFormation template."
        ) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise TemplateError(f"The template cannot be read: {exc}.") from None


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    loader: CfnLoader | None = None
    try:
        loader = CfnLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except TemplateLimitError as exc:
        raise TemplateError(f"The template cannot be read: {exc.problem}{_where(exc)}.") from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "unreadable"
        raise TemplateError(f"The template is not valid YAML: {problem}{_where(exc)}.") from None
    except yaml.reader.ReaderError as exc:
        raise TemplateError(
            f"The template is not valid YAML: character {exc.character!r} (offset {exc.position}) is not "
            f"allowed in YAML: {exc.reason}."
        ) from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"The template is not valid YAML: {exc}.") from None
    except RecursionError:  # pragma: no cover - composition is iterative and depth-bounded
        raise TemplateError(
            f"The template cannot be read: it is nested too deeply (at most {MAX_DEPTH})."
        ) from None
    except ValueError as exc:  # a value the constructor cannot convert (an integer of 5,000 digits)
        raise TemplateError(f"The template cannot be read: {exc}.") from None
    finally:
        if loader is not None:
            loader.dispose()
    return node, data


def _where(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def untagged(node: yaml.Node) -> yaml.Node:
    """The node a short-form tag applies to, as plain YAML: `!Base64 x` is Fn::Base64 of the string x."""
    tag = _UNTAGGED[type(node)]
    if isinstance(node, yaml.ScalarNode):
        return yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark, style=node.style)
    if isinstance(node, yaml.SequenceNode):
        return yaml.SequenceNode(tag, node.value, node.start_mark, node.end_mark, flow_style=node.flow_style)
    flow_style = getattr(node, "flow_style", None)  # a MappingNode's; PyYAML's stubs omit it
    return yaml.MappingNode(tag, node.value, node.start_mark, node.end_mark, flow_style=flow_style)


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
        return long_form_name(tag[1:]), untagged(node)
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key_node, value_node = node.value[0]
        if isinstance(key_node, yaml.ScalarNode):
            name: str = key_node.value
            if name.startswith("Fn::") or name in _INTRINSIC_KEYS:
                return name, value_node
    return None
