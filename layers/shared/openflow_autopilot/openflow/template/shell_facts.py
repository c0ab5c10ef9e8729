"""Facts about a bash script the rules rely on: assignments, captured command output, sourced files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .shell_text import ShellText

NAME: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_DECLARATION: Final = r"(?:(?:local|export|declare|typeset|readonly)(?:\s+-[A-Za-z]+)*\s+)"
# `name=$(`, `name="$(`, name=`...`, optionally after local/export/declare; at a command position.
_CAPTURE: Final = re.compile(rf"(?:^|(?<=[\s;&|(!{{]))({_DECLARATION})?({NAME})=(\"?)(\$\(|`)", re.M)
_ASSIGNMENT: Final = re.compile(rf"(?<![\w$-])({NAME})(?:\[[^\]\n]*\])?\+?=")
_DECLARED: Final = re.compile(rf"\b(?:local|export|declare|typeset|readonly)((?:[ \t]+-?{NAME})+)")
_READ: Final = re.compile(r"\bread\b([^;&|\n]*)")
_LOOP: Final = re.compile(rf"\b(?:for|select)\s+({NAME})\s+in\b")
_OTHER_ASSIGNERS: Final = re.compile(
    rf"\b(?:getopts\s+\S+\s+({NAME})|(?:mapfile|readarray)(?:\s+-\w+(?:\s+[^-\s]\S*)?)*\s+({NAME})"
    rf"|printf\s+-v\s+({NAME}))"
)
_READ_OPTIONS_WITH_ARGUMENT: Final = frozenset({"-p", "-t", "-d", "-n", "-N", "-u", "-i", "-a"})
_SOURCE: Final = re.compile(r"(?:^|(?<=[\s;&|(]))(?:source|\.)\s+(['\"]?)([^\s'\";&|]+)\1", re.M)
_STDERR_CAPTURE: Final = re.compile(r"2>&1|&>|\|&")
_OUTPUT_TEXT: Final = re.compile(r"--output(?:\s+|=)text\b")
_COMMAND_PREFIXES: Final = frozenset({"sudo", "command", "env", "time", "exec", "nice"})


@dataclass(frozen=True)
class Capture:
    """`name=$(command)`: a variable assigned from a command's output."""

    name: str
    line: int  # 0-based script line of the assignment
    start: int  # offset of the name in the script text
    end: int  # offset just after the command substitution
    command: str  # the text inside `$( )` or backticks
    statement_start: bool  # the assignment is the whole start of its line (not after if/&&/;)

    @property
    def captures_stderr(self) -> bool:
        return bool(_STDERR_CAPTURE.search(self.command))

    @property
    def last_command(self) -> str:
        """First word of the last stage of the substitution's pipeline (sudo/env prefixes skipped)."""
        stage = re.split(r"\|(?!\|)", self.command)[-1]
        for word in stage.split():
            if "=" in word and not word.startswith("-"):
                continue
            if word in _COMMAND_PREFIXES:
                continue
            return word
        return ""

    @property
    def aws_document(self) -> bool:
        """The AWS CLI prints a JSON document (or error text) unless told `--output text`."""
        stage = re.split(r"\|(?!\|)", self.command)[-1]
        return self.last_command == "aws" and not _OUTPUT_TEXT.search(stage)


def captures(shell: ShellText) -> list[Capture]:
    found: list[Capture] = []
    masked, text = shell.masked, shell.text
    for match in _CAPTURE.finditer(masked):
        opener = match.group(4)
        body_start = match.end()
        body_end = _closing(masked, body_start, opener)
        if body_end is None:
            continue
        line_start = masked.rfind("\n", 0, match.start()) + 1
        statement_start = not masked[line_start : match.start()].strip() and not match.group(1)
        found.append(
            Capture(
                name=match.group(2),
                line=masked.count("\n", 0, match.start()),
                start=match.start(2),
                end=body_end + 1,
                command=text[body_start:body_end],
                statement_start=statement_start,
            )
        )
    return found


def _closing(masked: str, at: int, opener: str) -> int | None:
    """Offset of the `)` (or backtick) closing a substitution whose body starts at `at`."""
    if opener == "`":
        end = masked.find("`", at)
        return end if end >= 0 else None
    depth = 0
    for index in range(at, len(masked)):
        char = masked[index]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return index
            depth -= 1
    return None


def assigned_names(shell: ShellText) -> set[str]:
    """Every variable the script assigns, declares, reads into or loops over."""
    masked = shell.masked
    names = {match.group(1) for match in _ASSIGNMENT.finditer(masked)}
    for match in _DECLARED.finditer(masked):
        names.update(word for word in match.group(1).split() if not word.startswith("-"))
    names.update(match.group(1) for match in _LOOP.finditer(masked))
    for match in _OTHER_ASSIGNERS.finditer(masked):
        names.update(group for group in match.groups() if group)
    for match in _READ.finditer(masked):
        words = match.group(1).split()
        skip_next = False
        for word in words:
            if skip_next:
                skip_next = False
            elif word.startswith("-"):
                skip_next = word in _READ_OPTIONS_WITH_ARGUMENT or (
                    len(word) > 2 and word[-1] in "ptdnNuia" and not word.startswith("--")
                )
            elif re.fullmatch(NAME, word):
                names.add(word)
    return names


def sourced_paths(shell: ShellText) -> list[str]:
    return [match.group(2) for match in _SOURCE.finditer(shell.masked)]


def errexit_offset(shell: ShellText) -> int | None:
    """Offset from which `set -e` is in force (0 when the shebang says `bash -e`)."""
    first = shell.lines[0] if shell.lines else ""
    if first.startswith("#!") and re.search(r"\s-[A-Za-z]*e", first):
        return 0
    match = re.search(
        r"(?:^|[;&|]\s*)set\s+(?:-[A-Za-z]*e[A-Za-z]*\b|(?:-\w+\s+)*-o\s+errexit\b)", shell.masked, re.M
    )
    return match.start() if match else None


def pipefail_offset(shell: ShellText) -> int | None:
    match = re.search(r"(?:^|[;&|]\s*)set\s+[^\n;]*-[A-Za-z]*o\s+pipefail\b", shell.masked, re.M)
    return match.start() if match else None
