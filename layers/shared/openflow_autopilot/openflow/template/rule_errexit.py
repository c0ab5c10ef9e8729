"""OFD003: `set -e` / `set -o pipefail` defeating a RepositoryNotFoundException check in the same script."""

from __future__ import annotations

import re
from typing import Final

from .catalog import OFD003
from .context import Hit, ScriptContext, ScriptEdit
from .report import Fix
from .shell_facts import assigned_names, captures, errexit_offset, pipefail_offset

_NOT_FOUND: Final = "RepositoryNotFoundException"
_DESCRIBE: Final = "describe-repositories"
_GUARDED: Final = re.compile(r"^\s*(?:\|\||&&)")
_STATUS_TEST: Final = re.compile(r"\[\[?\s[^]]*\$\?[^]]*\]|\btest\s+[^;]*\$\?|\(\(\s*\$\?")
_BARE_DESCRIBE: Final = re.compile(r"^\s*(?:sudo\s+)?aws\s+(?:--\S+\s+\S+\s+)*ecr\s+describe-repositories\b")
_PIPED_TO_GREP: Final = re.compile(r"describe-repositories\b[^|]*\|\s*(?:e|f)?grep\b")


def check(ctx: ScriptContext) -> list[Hit]:
    shell = ctx.shell
    if _NOT_FOUND not in shell.text:
        return []
    errexit, pipefail = errexit_offset(shell), pipefail_offset(shell)
    hits: list[Hit] = []
    if errexit is not None:
        hits.extend(_errexit_hits(ctx, errexit))
    if pipefail is not None:
        hits.extend(_pipefail_hits(ctx, pipefail))
    return hits


def _errexit_hits(ctx: ScriptContext, errexit: int) -> list[Hit]:
    shell = ctx.shell
    masked, masked_lines = shell.masked, shell.masked_lines
    hits: list[Hit] = []
    flagged_lines: set[int] = set()
    for capture in captures(shell):
        line_end = masked.find("\n", capture.end)
        rest = masked[capture.end : line_end if line_end >= 0 else len(masked)]
        if (
            _DESCRIBE not in capture.command
            or capture.start < errexit
            or not capture.statement_start
            or _GUARDED.match(rest)
        ):
            continue
        flagged_lines.add(capture.line)
        message = (
            f"With `set -e` in force, `{capture.name}=$(aws ecr describe-repositories ...)` exits the script "
            f"as soon as the repository is missing (the AWS CLI fails), before the {_NOT_FOUND} check "
            f"runs: the repository is never created."
        )
        hits.append(
            _with_fix(ctx, capture.line, capture.name, shell.text[capture.start : capture.end], message)
        )
    offset = 0
    for index, masked_line in enumerate(masked_lines[: len(ctx.script.lines)]):
        line_offset, offset = offset, offset + len(masked_line) + 1
        unguarded = "||" not in masked_line and "&&" not in masked_line
        if index in flagged_lines or line_offset < errexit or not unguarded:
            continue
        if not _BARE_DESCRIBE.match(masked_line):
            continue
        message = (
            f"With `set -e` in force, a failing `aws ecr describe-repositories` (the repository is missing) "
            f"exits the script before the {_NOT_FOUND} check runs: the repository is never created."
        )
        fix = Fix(
            description="Guard the call: `if ! out=$(aws ecr describe-repositories ... 2>&1); then ...`."
        )
        hits.append(Hit(ctx.finding(OFD003, message, index, fix)))
    return hits


def _with_fix(ctx: ScriptContext, line_index: int, name: str, statement: str, message: str) -> Hit:
    """Record the status without tripping errexit, and test that status instead of `$?`."""
    status = f"{name}_rc"
    masked_lines = ctx.shell.masked_lines
    check_index = next(
        (index for index in range(line_index + 1, len(ctx.script.lines)) if masked_lines[index].strip()),
        None,
    )
    writable = (
        "\n" not in statement
        and check_index is not None
        and masked_lines[check_index].count("$?") == 1
        and _STATUS_TEST.search(masked_lines[check_index]) is not None
        and status not in assigned_names(ctx.shell)
    )
    if not writable or check_index is None:
        fix = Fix(
            description=f"Guard the assignment: `if ! {name}=$(...); then` and test inside that branch."
        )
        return Hit(ctx.finding(OFD003, message, line_index, fix))
    guarded = f"{status}=0; {statement} || {status}=$?"
    fix = Fix(
        description=f"Keep the exit status without tripping errexit: `{guarded}`, then test `${status}`."
    )
    edits = [
        ScriptEdit(ctx.script, line_index, statement, guarded),
        ScriptEdit(ctx.script, check_index, "$?", f"${status}"),
    ]
    return Hit(ctx.finding(OFD003, message, line_index, fix), list(edits))


def _pipefail_hits(ctx: ScriptContext, pipefail: int) -> list[Hit]:
    hits: list[Hit] = []
    masked_lines = ctx.shell.masked_lines
    offset = 0
    for index, masked_line in enumerate(masked_lines[: len(ctx.script.lines)]):
        if offset >= pipefail and _PIPED_TO_GREP.search(masked_line):
            message = (
                f"With `set -o pipefail`, `aws ecr describe-repositories ... | grep {_NOT_FOUND}` returns "
                f"the AWS CLI's failure even when grep finds {_NOT_FOUND}, so the 'missing repository' "
                f"branch never runs."
            )
            fix = Fix(
                description="Capture first, then test: `if ! out=$(aws ecr describe-repositories ... 2>&1); "
                f'then if grep -q {_NOT_FOUND} <<< "$out"; then ...`. Not rewritten automatically.'
            )
            hits.append(Hit(ctx.finding(OFD003, message, index, fix)))
        offset += len(masked_line) + 1
    return hits
