"""The rendered line model of a UserData script: each `RenderedLine` is the text the instance sees, the
`LineOrigin` (template scalar and line) it comes from when it is one template line, and the `Piece`s that
say where each part of it is written in the template (literally, or computed), so that evidence can point
at the template and fixes can be written back into it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import yaml


@dataclass(frozen=True)
class LineOrigin:
    """Where a rendered line comes from: line `line_index` of a template string scalar."""

    node: yaml.ScalarNode
    line_index: int
    sub: bool  # the scalar is an Fn::Sub template, where a literal `${` is written `${!`


@dataclass(frozen=True)
class Piece:
    """Characters [start, end) of a rendered line and where the template writes them.

    A literal piece is `node.value[value_start:value_end]`, rendered unchanged (or, for Sub's `${!`
    escape, a 3-character `${!` rendered as `${`). A computed piece (node None) is a value the template
    does not write literally there: a substitution, a Ref, a Join delimiter; `what` says which.
    """

    start: int
    end: int
    node: yaml.ScalarNode | None
    value_start: int = 0
    value_end: int = 0
    sub: bool = False
    what: str = ""

    @property
    def verbatim(self) -> bool:
        """Rendered character for character as written (not an escape, not computed)."""
        return self.node is not None and self.value_end - self.value_start == self.end - self.start


@dataclass(frozen=True)
class RenderedLine:
    text: str
    origin: LineOrigin | None  # None when the line is not one template line (Fn::Join, multi-line value)
    pieces: tuple[Piece, ...] = ()  # where each part of the line is written (for mapping fixes back)

    def without_leading_tabs(self) -> RenderedLine:
        """The line as a `<<-` heredoc writes it, its pieces shifted to match."""
        stripped = self.text.lstrip("\t")
        cut = len(self.text) - len(stripped)
        if not cut:
            return self
        pieces: list[Piece] = []
        for piece in self.pieces:
            if piece.end <= cut:
                continue
            if piece.start >= cut:
                pieces.append(replace(piece, start=piece.start - cut, end=piece.end - cut))
            elif piece.verbatim:
                skip = cut - piece.start
                pieces.append(
                    replace(piece, start=0, end=piece.end - cut, value_start=piece.value_start + skip)
                )
            else:
                pieces.append(
                    replace(piece, start=0, end=piece.end - cut, node=None, what="a computed value")
                )
        return RenderedLine(stripped, self.origin, tuple(pieces))
