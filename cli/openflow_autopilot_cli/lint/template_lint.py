"""A lint step for template.yaml's IAM: every remaining wildcard ("*" resource, or an action
ending in *) must be justified by a comment in its statement saying AWS requires it.

`python -m openflow_autopilot_cli.lint.template_lint template.yaml` exits 1 and names each line otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_RESOURCE_STAR = re.compile(r"""^\s*(-\s*)?(Resource:\s*)?["']\*["']\s*$|^\s*Resource:\s*["']\*["']""")
_ACTION_STAR = re.compile(r"""^\s*(-\s*|Action:\s*)\[?\s*["']?[a-z0-9-]+:[A-Za-z]*\*""")
_STATEMENT_START = re.compile(r"^\s*-\s*(Effect|Sid):")
_JUSTIFIED = re.compile(r"#.*AWS requires", re.IGNORECASE)


def unexplained_wildcards(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each wildcard whose statement carries no 'AWS requires' comment."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if not (_RESOURCE_STAR.search(code) or _ACTION_STAR.search(code)):
            continue
        start = i
        while start > 0 and not _STATEMENT_START.match(lines[start]):
            start -= 1
        # the statement's own lines, plus the comment lines right above it
        first = start
        while first > 0 and lines[first - 1].strip().startswith("#"):
            first -= 1
        if not any(_JUSTIFIED.search(candidate) for candidate in lines[first : i + 1]):
            found.append((i + 1, line.strip()))
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "template.yaml")
    problems = unexplained_wildcards(path.read_text())
    for number, line in problems:
        print(
            f"{path}:{number}: wildcard without an 'AWS requires' comment in its statement: {line}",
            file=sys.stderr,
        )
    print(f"IAM wildcard check: {len(problems)} unexplained wildcard(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
