"""OFD001: `${!name}` (bash indirect expansion) where name holds text, not a variable name."""

from __future__ import annotations

import re
from typing import Final

from .catalog import OFD001
from .context import Hit, ScriptContext, ScriptEdit
from .report import Fix
from .shell_facts import NAME, Capture, captures
from .sub import escape_sub_literal

# `${!name}` and `${!name:-x}`-style forms; not `${!name[@]}` / `${!prefix*}` / `${!prefix@}` (key lists).
_INDIRECT: Final = re.compile(rf"\$\{{!({NAME})(?![\w\[*@])")
_TEXT_CONSUMER: Final = re.compile(
    r"^[^|;&]*?\|\s*(?:sudo\s+)?(?:e|f)?(?:grep|sed|awk|cut|tr|head|tail|wc)\b"
)
_TO_STDERR: Final = re.compile(r"(?:^|\s)1?>&2\b")
_PRINTER: Final = re.compile(r"\b(?:echo|printf|logger)\b")


def check(ctx: ScriptContext) -> list[Hit]:
    captured: dict[str, list[Capture]] = {}
    for capture in captures(ctx.shell):
        captured.setdefault(capture.name, []).append(capture)
    hits: list[Hit] = []
    lines, masked_lines = ctx.shell.lines, ctx.shell.masked_lines
    for index, masked_line in enumerate(masked_lines[: len(ctx.script.lines)]):
        line = lines[index]
        for match in _INDIRECT.finditer(masked_line):
            name = match.group(1)
            if name not in captured:
                continue
            reason = _why_text(
                name, captured[name], masked_line[match.end() :], masked_line, ctx.shell.masked
            )
            if reason is None:
                continue
            hits.append(_hit(ctx, index, line, match, name, captured[name][0], reason))
    return hits


def _why_text(name: str, assigned: list[Capture], rest: str, masked_line: str, masked: str) -> str | None:
    """Why name's value is text and not a variable name, or None when it may well be a name."""
    for capture in assigned:
        if capture.captures_stderr:
            return "the substitution captures stderr, so the value is command output or an error message"
        if capture.aws_document:
            return "the value is the AWS CLI's output: a JSON document or an error message"
    used_as_text = (
        bool(_TEXT_CONSUMER.match(rest))
        or "=~" in rest
        or bool(_TO_STDERR.search(masked_line) and _PRINTER.search(masked_line))
    )
    if used_as_text and not _builds_names(name, masked):
        return "the expanded value is then used as text, and the variable never names another variable"
    return None


def _builds_names(name: str, masked: str) -> bool:
    """name's value is used to build or refer to variable names (`"$n"_SUFFIX`, `${n}_X`, `$n=`)."""
    value = rf"\$(?:\{{{name}\}}|{name}(?!\w))"
    return bool(
        re.search(rf"{value}\"*(?:_\w|=)", masked)
        or re.search(rf"\b(?:declare|local|typeset)\s+-n\s+\w+=\"?{value}", masked)
        or re.search(rf"\bprintenv\s+\"?{value}", masked)
    )


def _hit(
    ctx: ScriptContext, index: int, line: str, match: re.Match[str], name: str, capture: Capture, reason: str
) -> Hit:
    closed = match.end() < len(line) and line[match.end()] == "}"
    if closed:
        token = line[match.start() : match.end() + 1]
        following = line[match.end() + 1 : match.end() + 2]
        replacement = f"${{{name}}}" if re.match(r"\w", following) else f"${name}"
    else:
        token = line[match.start() : match.end()]
        replacement = f"${{{name}"
    occurrence = line[: match.start()].count(token)
    origin = ctx.script.lines[index].origin
    in_sub = origin is not None and origin.sub
    written = escape_sub_literal(token) if in_sub else token
    command = " ".join(capture.command.split())
    message = (
        f"`{token}` is bash indirect expansion: it expands the variable whose NAME is the value of "
        f"{name}, not {name}'s value. {name} is assigned from `$({command})` (script line "
        f'{capture.line + 1}): {reason}. bash reports "invalid variable name" and the expansion is '
        f"empty, so what it feeds never sees the text."
    )
    if in_sub:
        message += f" In the template it is written `{written}`: Fn::Sub turns `${{!` into a literal `${{`."
    spelled = escape_sub_literal(replacement) if in_sub else replacement
    fix = Fix(
        description=f"Use {name}'s value: write `{spelled}` in place of `{written}` "
        f"(the instance then runs `{replacement}`)."
    )
    finding = ctx.finding(OFD001, message, index, fix)
    return Hit(finding, [ScriptEdit(ctx.script, index, token, replacement, occurrence)])
