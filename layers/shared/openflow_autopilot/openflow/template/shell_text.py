"""Just enough bash lexing for the doctor's rules: where code is, and where heredocs are.

`scan` returns a masked copy of the script, same length and same line breaks, in which comments and
single-quoted text are blanked (nothing expands there) and so are the bodies of quoted heredocs (written
verbatim). Rules then match expansions with regular expressions on the masked text and report the
original text at the same positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_COMMENT_STARTS_AFTER: Final = " \t\n;&|()"
_HEREDOC_WORD_END: Final = " \t\n;&|<>()"
QUOTED_MASK: Final = "_"


@dataclass(frozen=True)
class Heredoc:
    """A here-document: `cat <<\\EOF > /path` ... `EOF`."""

    line: int  # 0-based index of the line with the `<<` operator
    delimiter: str
    verbatim: bool  # quoted delimiter (`\EOF`, `'EOF'`, `"EOF"`): the body is not expanded
    strip_tabs: bool  # `<<-`
    body_start: int  # 0-based index of the first body line
    body_end: int  # index of the delimiter line (exclusive end of the body)
    terminated: bool


@dataclass(frozen=True)
class ShellText:
    text: str
    masked: str
    heredocs: tuple[Heredoc, ...]

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def masked_lines(self) -> list[str]:
        return self.masked.split("\n")


def scan(text: str) -> ShellText:
    out = list(text)
    heredocs: list[Heredoc] = []
    pending: list[tuple[str, bool, bool, int]] = []
    # contexts: N code, D double quotes, S single quotes, A $'...', C $( ) or ( ), M $(( )), B backticks,
    # P ${ }
    stack = ["N"]
    line = 0
    at = 0
    size = len(text)
    while at < size:
        char = text[at]
        top = stack[-1]
        if char == "\n":
            line += 1
            at += 1
            if pending and top not in "SAD":
                at, line = _consume_bodies(text, out, at, line, pending, heredocs)
                pending.clear()
            continue
        if top == "S":
            if char == "'":
                stack.pop()
            else:
                out[at] = QUOTED_MASK
            at += 1
            continue
        if top == "A":
            if char == "\\":
                out[at] = QUOTED_MASK
                if at + 1 < size and text[at + 1] != "\n":
                    out[at + 1] = QUOTED_MASK
                at += 2
            elif char == "'":
                stack.pop()
                at += 1
            else:
                out[at] = QUOTED_MASK
                at += 1
            continue
        if char == "\\":
            if at + 1 < size and text[at + 1] == "\n":
                line += 1
            at += 2
            continue
        if top == "D":
            if char == '"':
                stack.pop()
            elif text.startswith("$((", at):
                stack.extend("MM")
                at += 2
            elif text.startswith("$(", at):
                stack.append("C")
                at += 1
            elif text.startswith("${", at):
                stack.append("P")
                at += 1
            elif char == "`":
                stack.append("B")
            at += 1
            continue
        # code contexts: N, C, M, B, P
        if char == "'":
            stack.append("S")
        elif char == '"':
            stack.append("D")
        elif text.startswith("$'", at):
            stack.append("A")
            at += 1
        elif text.startswith("$((", at):
            stack.extend("MM")  # arithmetic: `<<` is a shift there, not a heredoc
            at += 2
        elif text.startswith("$(", at):
            stack.append("C")
            at += 1
        elif text.startswith("${", at):
            stack.append("P")
            at += 1
        elif char == "`":
            if top == "B":
                stack.pop()
            else:
                stack.append("B")
        elif char == "(" and top in "CM":
            stack.append(top)
        elif (char == ")" and top in "CM") or (char == "}" and top == "P"):
            stack.pop()
        elif char == "#" and top != "P" and (at == 0 or text[at - 1] in _COMMENT_STARTS_AFTER):
            end = text.find("\n", at)
            end = size if end < 0 else end
            for index in range(at, end):
                out[index] = " "
            at = end
            continue
        elif (
            top != "M"
            and text.startswith("<<", at)
            and not text.startswith("<<<", at)
            and (at == 0 or text[at - 1] != "<")
        ):
            at = _read_heredoc_operator(text, at + 2, line, pending)
            continue
        at += 1
    for delimiter, verbatim, strip_tabs, op_line in pending:  # operator on the last line, no body
        heredocs.append(Heredoc(op_line, delimiter, verbatim, strip_tabs, line + 1, line + 1, False))
    return ShellText(text=text, masked="".join(out), heredocs=tuple(heredocs))


def _read_heredoc_operator(text: str, at: int, line: int, pending: list[tuple[str, bool, bool, int]]) -> int:
    strip_tabs = text.startswith("-", at)
    if strip_tabs:
        at += 1
    while at < len(text) and text[at] in " \t":
        at += 1
    start = at
    quote = ""
    while at < len(text):
        char = text[at]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "\\":
            at += 1
        elif char in _HEREDOC_WORD_END:
            break
        at += 1
    word = text[start:at]
    if word:
        delimiter = re.sub(r"""['"\\]""", "", word)
        pending.append((delimiter, delimiter != word, strip_tabs, line))
    return at


def _consume_bodies(
    text: str,
    out: list[str],
    at: int,
    line: int,
    pending: list[tuple[str, bool, bool, int]],
    heredocs: list[Heredoc],
) -> tuple[int, int]:
    """Skip the bodies of the heredocs opened on the line just ended; blank verbatim ones."""
    for delimiter, verbatim, strip_tabs, op_line in pending:
        body_start = line
        terminated = False
        while at < len(text):
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            body_line = text[at:end]
            if (body_line.lstrip("\t") if strip_tabs else body_line) == delimiter:
                heredocs.append(Heredoc(op_line, delimiter, verbatim, strip_tabs, body_start, line, True))
                terminated = True
                at = end + 1
                line += 1
                break
            if verbatim:
                for index in range(at, end):
                    out[index] = " "
            at = end + 1
            line += 1
        if not terminated:
            heredocs.append(Heredoc(op_line, delimiter, verbatim, strip_tabs, body_start, line, False))
    return min(at, len(text)), line
