"""Fixes written back into the template text: only the repaired spans change, never a re-dump.

A script edit is stated on the script as the instance runs it; it is mapped to the template line it
came from and re-escaped the way that line is written (`${` is `${!` inside an Fn::Sub string).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence

from .context import ScriptEdit, TextEdit
from .rendered_lines import Piece
from .report import LinePatch
from .source import TemplateSource, escape_for_style
from .sub import escape_sub_literal


def to_text_edit(source: TemplateSource, edit: ScriptEdit | TextEdit) -> TextEdit | str:
    """The file span an edit replaces, or why it cannot be mapped to one unambiguously.

    The edit's text is found on the rendered line; the pieces of that line say which template scalar
    writes each character (a plain string, an Fn::Sub string, one of Fn::Join's literal values) or
    that it is computed (a substitution, a Ref, Join's delimiter). Only text written wholly inside one
    scalar is rewritten, re-escaped as that scalar writes it.
    """
    if isinstance(edit, TextEdit):
        return edit
    rendered = edit.script.lines[edit.line_index]
    old = edit.old
    if not old:
        return "the fix inserts text at no particular place"
    at = -len(old)
    for _ in range(edit.occurrence + 1):
        at = rendered.text.find(old, at + len(old))
        if at < 0:
            return f"`{old}` is not on script line {edit.line_index + 1} as rendered"
    end = at + len(old)
    covering = _covering(rendered.pieces, at, end)
    if not covering or covering[0].start > at or covering[-1].end < end:
        return f"where the template writes `{old}` is not known"
    computed = next((piece for piece in covering if piece.node is None), None)
    if computed is not None:
        return f"`{old}` is partly {computed.what}, not text written there in the template"
    first, last = covering[0], covering[-1]
    node = first.node
    assert node is not None and last.node is not None
    if any(piece.node is not node for piece in covering):
        other = next(piece.node for piece in covering if piece.node is not node)
        assert other is not None
        return (
            f"`{old}` spans two values of the Fn::Join (template lines {node.start_mark.line + 1} and "
            f"{other.start_mark.line + 1}); join them into one string by hand"
        )
    if any(a.value_end != b.value_start for a, b in itertools.pairwise(covering)):
        return f"`{old}` is not written contiguously in the template"
    if (not first.verbatim and at != first.start) or (not last.verbatim and end != last.end):
        return f"`{old}` splits an Fn::Sub `${{!` escape"
    value_start = first.value_start + (at - first.start if first.verbatim else 0)
    value_end = last.value_start + (end - last.start) if last.verbatim else last.value_end
    value: str = node.value
    written = value[value_start:value_end]
    new = escape_sub_literal(edit.new) if first.sub else edit.new
    if first.sub and not _keeps_sub_tokens(value, value_start, value_end, new):
        return f"replacing `{old}` would change a neighbouring Fn::Sub `${{`"
    span = source.locate(node, value_start, written)
    if span is None:
        return (
            f"`{written}` cannot be located unambiguously in the template file (the string is folded, "
            f"or escaped differently where it is written)"
        )
    return TextEdit(span[0], span[1], escape_for_style(new, node.style))


def _covering(pieces: Sequence[Piece], start: int, end: int) -> list[Piece]:
    """The pieces overlapping [start, end) (pieces are sorted and contiguous)."""
    index = bisect.bisect_right([piece.end for piece in pieces], start)
    found: list[Piece] = []
    while index < len(pieces) and pieces[index].start < end:
        found.append(pieces[index])
        index += 1
    return found


def _keeps_sub_tokens(value: str, start: int, end: int, new: str) -> bool:
    """Replacing value[start:end] with new creates and destroys no `${` across the span's edges."""
    before, after = value[max(0, start - 2) : start], value[end : end + 2]
    old = value[start:end]

    def joined(middle: str) -> int:
        return (
            (before + middle + after).count("${")
            - before.count("${")
            - middle.count("${")
            - after.count("${")
        )

    return joined(old) == joined(new)


def line_patches(source: TemplateSource, edits: Sequence[TextEdit]) -> list[LinePatch]:
    """Before/after of every template line the edits touch."""
    by_line: dict[int, list[TextEdit]] = {}
    for edit in edits:
        by_line.setdefault(source.line_of(edit.start), []).append(edit)
    patches: list[LinePatch] = []
    for line, line_edits in sorted(by_line.items()):
        before = source.line_text(line)
        line_start = source.text.rfind("\n", 0, line_edits[0].start) + 1
        after = before
        for edit in sorted(line_edits, key=lambda item: item.start, reverse=True):
            start, end = edit.start - line_start, edit.end - line_start
            after = after[:start] + edit.new + after[end:]
        patches.append(LinePatch(line=line, before=before, after=after))
    return patches


class AcceptedEdits:
    """Non-overlapping edits, kept sorted so that an overlap check is a binary search."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._edits: list[TextEdit] = []

    def overlaps(self, edit: TextEdit) -> bool:
        index = bisect.bisect_right(self._starts, edit.start)
        before = self._edits[index - 1] if index else None
        after = self._edits[index] if index < len(self._edits) else None
        return (before is not None and edit.start < before.end and before.start < edit.end) or (
            after is not None and after.start < edit.end and edit.start < after.end
        )

    def add(self, edit: TextEdit) -> None:
        index = bisect.bisect_right(self._starts, edit.start)
        self._starts.insert(index, edit.start)
        self._edits.insert(index, edit)

    def __iter__(self) -> Iterator[TextEdit]:
        return iter(self._edits)


def apply(text: str, edits: Iterable[TextEdit]) -> str:
    """Apply non-overlapping edits (in one pass: linear in the text)."""
    out: list[str] = []
    at = 0
    for edit in sorted(edits, key=lambda item: item.start):
        out.append(text[at : edit.start])
        out.append(edit.new)
        at = edit.end
    out.append(text[at:])
    return "".join(out)
