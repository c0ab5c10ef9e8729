"""OFD002: an option given the value of a variable nothing assigns (`--tags $agent_tags`)."""

from __future__ import annotations

import re
from typing import Final

from .catalog import OFD002
from .context import Hit, ScriptContext, ScriptEdit
from .report import Fix
from .shell_facts import NAME, assigned_names, sourced_paths

_OPTION_VALUE: Final = re.compile(
    rf"(?:(?<=\s)|^)(--?[A-Za-z][\w-]*)[ \t]+(\"?)\$(\{{)?({NAME})(?(3)\}})\2(?=$|[\s;|&)])"
)


def check(ctx: ScriptContext) -> list[Hit]:
    assigned = assigned_names(ctx.shell) | ctx.sourced_names
    hits: list[Hit] = []
    lines, masked_lines = ctx.shell.lines, ctx.shell.masked_lines
    for index, masked_line in enumerate(masked_lines[: len(ctx.script.lines)]):
        line = lines[index]
        for match in _OPTION_VALUE.finditer(masked_line):
            variable = match.group(4)
            # All-uppercase names conventionally come from the environment (ShellCheck's SC2154 agrees).
            if variable in assigned or not any(char.islower() for char in variable):
                continue
            hits.append(_hit(ctx, index, line, match, variable))
    return hits


def _hit(ctx: ScriptContext, index: int, line: str, match: re.Match[str], variable: str) -> Hit:
    start = match.start()
    while start > 0 and line[start - 1] in " \t":
        start -= 1
    removed = line[start : match.end()]
    option = match.group(1)
    occurrence = line[:start].count(removed)
    sources = ", ".join(sorted(_sourced_files(ctx))) or "none"
    if match.group(2):
        consequence = f"{option} is passed an empty string"
    elif re.match(r"\s*(?:sudo\s+)?aws\s", line):
        consequence = (
            f"the word vanishes and the AWS CLI stops with "
            f'"argument {option}: expected at least one argument"'
        )
    else:
        consequence = f"the word vanishes and {option} takes whatever follows as its value"
    message = (
        f"`{match.group(0).strip()}`: {variable} is assigned nowhere in {ctx.script.name} or the files it "
        f"sources ({sources}), so {consequence}."
    )
    fix = Fix(description=f"Drop `{removed.strip()}` (the option and its never-set value).")
    return Hit(
        ctx.finding(OFD002, message, index, fix), [ScriptEdit(ctx.script, index, removed, "", occurrence)]
    )


def _sourced_files(ctx: ScriptContext) -> set[str]:
    return {path.rsplit("/", 1)[-1] for path in sourced_paths(ctx.shell)}
