"""Fixes written back into the template text: only the repaired spans change, never a re-dump.

A script edit is stated on the script as the instance runs it; it is mapped to the template line it
came from and re-escaped the way that line is written (`${` is `${!` inside an Fn::Sub string).
"""

from __future__ import annotations

from collections.abc import Sequence

from .context import ScriptEdit, TextEdit
from .report import LinePatch
from .source import TemplateSource, escape_for_style
from .sub import escape_sub_literal


def to_text_edit(source: TemplateSource, edit: ScriptEdit | TextEdit) -> TextEdit | None:
    """The file span an edit replaces, or None when it cannot be mapped unambiguously."""
    if isinstance(edit, TextEdit):
        return edit
    rendered = edit.script.lines[edit.line_index]
    origin = rendered.origin
    if origin is None or not edit.old:
        return None
    old = escape_sub_literal(edit.old) if origin.sub else edit.old
    new = escape_sub_literal(edit.new) if origin.sub else edit.new
    value_lines = str(origin.node.value).split("\n")
    written = value_lines[origin.line_index]
    # The rendered line and the written one must agree on how often the text occurs.
    if rendered.text.count(edit.old) != written.count(old) or edit.occurrence >= written.count(old):
        return None
    at = -len(old)
    for _ in range(edit.occurrence + 1):
        at = written.find(old, at + len(old))
    value_offset = sum(len(line) + 1 for line in value_lines[: origin.line_index]) + at
    span = source.locate(origin.node, value_offset, old)
    if span is None:
        return None
    return TextEdit(span[0], span[1], escape_for_style(new, origin.node.style))


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


def overlaps(edit: TextEdit, accepted: Sequence[TextEdit]) -> bool:
    return any(edit.start < other.end and other.start < edit.end for other in accepted)


def apply(text: str, edits: Sequence[TextEdit]) -> str:
    """Apply non-overlapping edits."""
    out = text
    for edit in sorted(edits, key=lambda item: item.start, reverse=True):
        out = out[: edit.start] + edit.new + out[edit.end :]
    return out
