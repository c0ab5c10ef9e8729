"""Rendering one UserData the way CloudFormation does (a string, Fn::Base64, Fn::Sub or Fn::Join, with
Refs and substitutions resolved to their analysis values): `UserDataRenderer` collects chunks of text with
where each is written, then cuts them into `RenderedLine`s; a form it does not render, or one
CloudFormation rejects, raises `Unrendered` with the reason; `RenderBudget` caps what all UserData of a
template render to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import yaml

from .rendered_lines import LineOrigin, Piece, RenderedLine
from .source import intrinsic
from .sub import MAX_RENDERED_CHARS, RenderLimitExceeded, placeholder, resolve, sub_tokens


class Unrendered(Exception):
    def __init__(self, reason: str, node: yaml.Node, *, malformed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.node = node
        self.malformed = malformed


@dataclass
class RenderBudget:
    remaining: int


@dataclass(frozen=True)
class _Chunk:
    """Rendered text and where it is written (a Piece before it is cut into lines)."""

    text: str
    node: yaml.ScalarNode | None
    value_start: int = 0
    sub: bool = False
    what: str = ""
    escape: bool = False  # Sub's `${!`, written with three characters, rendered as `${`


_FORMS: Final = "a string, Fn::Base64, Fn::Sub or Fn::Join"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return f"a list of {len(node.value)} item{'s' if len(node.value) != 1 else ''}"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if node.tag.endswith(":null"):
        return "empty"
    return f"`{str(node.value)[:40]}`"


def _describe(node: yaml.Node) -> str:
    """`!Ref AWS::Region`, `Fn::GetAtt Agent.PrivateIp`, `Fn::If`: what a computed value is."""
    function = intrinsic(node)
    if function is None:
        return "a value"
    name, value = function
    if name == "Ref" and isinstance(value, yaml.ScalarNode):
        return f"!Ref {value.value}"
    if name == "Fn::GetAtt":
        return f"Fn::GetAtt {resolve_name(value)}"
    return name


def resolve_name(value: yaml.Node) -> str:
    if isinstance(value, yaml.ScalarNode):
        return str(value.value)
    if isinstance(value, yaml.SequenceNode):
        return ".".join(str(item.value) for item in value.value if isinstance(item, yaml.ScalarNode))
    return "?"


class UserDataRenderer:
    """Renders one UserData into chunks (text + where it is written), then cuts them into lines."""

    def __init__(self, refs: Mapping[str, str], budget: RenderBudget) -> None:
        self.refs = refs
        self.budget = budget
        self.chunks: list[_Chunk] = []
        self.origins = True  # plain string or Sub: each rendered line is one template line
        self.sub_nodes: set[int] = set()  # id() of the Fn::Sub strings rendered
        # The scalar a top-level plain or Sub UserData is, with its value's start and end offsets.
        self.start_boundary: tuple[yaml.ScalarNode, int] | None = None
        self.end_boundary: tuple[yaml.ScalarNode, int] | None = None
        self._line_counts: dict[int, tuple[int, int]] = {}

    def user_data(self, node: yaml.Node) -> list[RenderedLine]:
        function = intrinsic(node)
        while function is not None and function[0] == "Fn::Base64":
            value = function[1]
            if not isinstance(value, yaml.ScalarNode) and intrinsic(value) is None:
                raise Unrendered(
                    f"Fn::Base64 at line {_line(node)} takes one string (or a function returning one); "
                    f"here it is {_kind(value)}",
                    value,
                    malformed=True,
                )
            node, function = value, intrinsic(value)
        if function is None:
            if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
                self._bound(node)
                self._literal(node, 0, len(node.value), sub=False)
            elif isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
                raise Unrendered(
                    f"UserData at line {_line(node)} is {_kind(node)}, not a script", node, malformed=False
                )
            else:
                raise Unrendered(
                    f"UserData at line {_line(node)} must be {_FORMS} of a script; here it is {_kind(node)}",
                    node,
                    malformed=True,
                )
        elif function[0] == "Fn::Sub":
            self._bound(self._sub(node, function[1]))
        elif function[0] == "Fn::Join":
            self.origins = False
            self._join(node, function[1])
        else:
            raise Unrendered(
                f"UserData at line {_line(node)} is {function[0]}; the doctor renders only {_FORMS}",
                node,
                malformed=False,
            )
        return self._lines()

    def _bound(self, node: yaml.ScalarNode) -> None:
        self.start_boundary = (node, 0)
        self.end_boundary = (node, len(str(node.value)))

    # --- chunks ------------------------------------------------------------------------------------------
    def _spend(self, size: int, node: yaml.Node) -> None:
        self.budget.remaining -= size
        if self.budget.remaining < 0:
            raise self._over_budget(node)

    @staticmethod
    def _over_budget(node: yaml.Node) -> Unrendered:
        return Unrendered(
            f"the template's UserData render to more than {MAX_RENDERED_CHARS:,} characters (a "
            f"substitution repeats a long value?); EC2 accepts at most 16 KB of user data",
            node,
            malformed=False,
        )

    def _literal(self, node: yaml.ScalarNode, start: int, end: int, *, sub: bool) -> None:
        if end > start:
            self._spend(end - start, node)
            self.chunks.append(_Chunk(str(node.value)[start:end], node, start, sub=sub))

    def _computed(self, text: str, what: str, node: yaml.Node) -> None:
        if text:
            self._spend(len(text), node)
            self.chunks.append(_Chunk(text, None, what=what))

    def _resolve(self, node: yaml.Node) -> str:
        try:
            return resolve(node, self.refs, limit=max(self.budget.remaining, 0))
        except RenderLimitExceeded:
            raise self._over_budget(node) from None

    def _sub(self, node: yaml.Node, value: yaml.Node) -> yaml.ScalarNode:
        template, variables = self._sub_arguments(node, value)
        self.sub_nodes.add(id(template))
        text = str(template.value)
        for token in sub_tokens(text):
            if token.kind == "text":
                self._literal(template, token.start, token.end, sub=True)
            elif token.kind == "escape":
                self._spend(2, template)
                self.chunks.append(_Chunk("${", template, token.start, sub=True, escape=True))
            else:
                what = f"the value of ${{{token.name}}}"
                if token.name in variables:
                    self._computed(self._resolve(variables[token.name]), what, template)
                else:
                    self._computed(self.refs.get(token.name, placeholder(token.name)), what, template)
        return template

    def _sub_arguments(
        self, node: yaml.Node, value: yaml.Node
    ) -> tuple[yaml.ScalarNode, dict[str, yaml.Node]]:
        expected = "Fn::Sub takes a string, or [string, {variable: value, ...}]"
        if isinstance(value, yaml.ScalarNode):
            return value, {}
        if not isinstance(value, yaml.SequenceNode) or len(value.value) != 2:
            raise Unrendered(f"{expected}; at line {_line(node)} it is {_kind(value)}", value, malformed=True)
        template, variables = value.value
        if not isinstance(template, yaml.ScalarNode) or intrinsic(template) is not None:
            raise Unrendered(
                f"{expected}; at line {_line(node)} its first item is {_kind(template)}, not a string",
                template,
                malformed=True,
            )
        if not isinstance(variables, yaml.MappingNode) or intrinsic(variables) is not None:
            raise Unrendered(
                f"{expected}; at line {_line(node)} its second item is {_kind(variables)}, not a mapping "
                f"of variables",
                variables,
                malformed=True,
            )
        names = {str(key.value): item for key, item in variables.value if isinstance(key, yaml.ScalarNode)}
        return template, names

    def _join(self, node: yaml.Node, value: yaml.Node) -> None:
        expected = "Fn::Join takes [delimiter, [value, ...]]"
        if not isinstance(value, yaml.SequenceNode) or len(value.value) != 2:
            raise Unrendered(f"{expected}; at line {_line(node)} it is {_kind(value)}", value, malformed=True)
        delimiter, items = value.value
        if not isinstance(delimiter, yaml.ScalarNode) or intrinsic(delimiter) is not None:
            raise Unrendered(
                f"{expected}; at line {_line(node)} the delimiter is {_kind(delimiter)}, not a string",
                delimiter,
                malformed=True,
            )
        if not isinstance(items, yaml.SequenceNode) or intrinsic(items) is not None:
            if intrinsic(items) is not None:
                raise Unrendered(
                    f"Fn::Join at line {_line(node)} joins the values of {_describe(items)}, known only "
                    f"after deployment",
                    items,
                    malformed=False,
                )
            raise Unrendered(
                f"{expected}; at line {_line(node)} the values are {_kind(items)}, not a list",
                items,
                malformed=True,
            )
        separator = "" if delimiter.tag.endswith(":null") else str(delimiter.value)
        for index, item in enumerate(items.value):
            if index:
                self._computed(separator, "the Fn::Join delimiter", delimiter)
            function = intrinsic(item)
            if function is None:
                if not isinstance(item, yaml.ScalarNode):
                    raise Unrendered(
                        f"{expected}; at line {_line(item)} value {index + 1} is {_kind(item)}, not a string",
                        item,
                        malformed=True,
                    )
                if not item.tag.endswith(":null"):
                    self._literal(item, 0, len(str(item.value)), sub=False)
            elif function[0] == "Fn::Sub":
                self._sub(item, function[1])
            elif function[0] == "Fn::Join":
                self._join(item, function[1])
            else:
                self._computed(self._resolve(item), f"the value of {_describe(item)}", item)

    # --- lines -------------------------------------------------------------------------------------------
    def _lines(self) -> list[RenderedLine]:
        lines: list[RenderedLine] = []
        texts: list[str] = []
        pieces: list[Piece] = []
        length = 0
        # Where the current line starts: (node, value offset) when at a literal newline (or a value's
        # start) of a scalar; None when it starts inside a computed value.
        line_start = self.start_boundary

        def finish(end_boundary: tuple[yaml.ScalarNode, int] | None) -> None:
            nonlocal texts, pieces, length
            text = "".join(texts)
            origin = None
            if self.origins and line_start is not None and end_boundary is not None:
                node = line_start[0]
                if end_boundary[0] is node and all(p.node is None or p.node is node for p in pieces):
                    origin = LineOrigin(
                        node, self._line_index(node, line_start[1]), id(node) in self.sub_nodes
                    )
            lines.append(RenderedLine(text, origin, tuple(pieces)))
            texts, pieces, length = [], [], 0

        for chunk in self.chunks:
            parts = chunk.text.split("\n")
            offset = 0
            for index, part in enumerate(parts):
                if index:
                    if chunk.node is not None:
                        boundary = (chunk.node, chunk.value_start + offset - 1)
                        finish(boundary)
                        line_start = (chunk.node, chunk.value_start + offset)
                    else:
                        finish(None)
                        line_start = None
                if part:
                    if chunk.escape:
                        piece = Piece(
                            length, length + 2, chunk.node, chunk.value_start, chunk.value_start + 3, True
                        )
                    elif chunk.node is not None:
                        value_start = chunk.value_start + offset
                        piece = Piece(
                            length,
                            length + len(part),
                            chunk.node,
                            value_start,
                            value_start + len(part),
                            chunk.sub,
                        )
                    else:
                        piece = Piece(length, length + len(part), None, what=chunk.what)
                    pieces.append(piece)
                    texts.append(part)
                    length += len(part)
                offset += len(part) + 1
        finish(self.end_boundary)
        return lines

    def _line_index(self, node: yaml.ScalarNode, offset: int) -> int:
        """How many lines of node's value precede `offset` (counted incrementally: lines come in order)."""
        last_offset, last_count = self._line_counts.get(id(node), (0, 0))
        if offset < last_offset:
            last_offset, last_count = 0, 0
        count = last_count + str(node.value).count("\n", last_offset, offset)
        self._line_counts[id(node)] = (offset, count)
        return count
