"""`openflow-autopilot template doctor PATH [--fix OUT] [--json] [--expected-params FILE]`.

Exit codes: 0 no error-level finding (after --fix: none left in OUT), 1 error-level findings remain,
2 the file is not a readable CloudFormation template (nothing is written).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.openflow.template import (
    MAX_TEMPLATE_BYTES,
    DoctorReport,
    Finding,
    Severity,
    TemplateError,
    doctor,
)
from openflow_autopilot.openflow.template.source import decode_template, too_large
from openflow_autopilot.request_file import parse_request_text, read_request_text

EXIT_CLEAN = 0
EXIT_ERRORS = 1
EXIT_UNREADABLE = 2
_PROG = "openflow-autopilot template doctor"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `template` command group (`template doctor ...`) to the main CLI."""
    template = subparsers.add_parser(
        "template", help="Work with the Openflow deployment's CloudFormation template."
    )
    commands = template.add_subparsers(dest="template_command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "doctor",
        help="Find (and with --fix repair) known defects in an Openflow deployment template.",
        description="Find known defects in an Openflow deployment template and the scripts its UserData "
        "writes. Exit 0: no error-level finding (after --fix: none left in OUT); 1: errors remain; "
        "2: not a readable CloudFormation template.",
    )
    check.add_argument(
        "path", metavar="PATH", help="The template (YAML or JSON) downloaded from the Openflow UI."
    )
    check.add_argument(
        "--fix", metavar="OUT", help="Write the repaired template to OUT (may be PATH itself)."
    )
    check.add_argument("--json", action="store_true", help="Print the report as JSON.")
    check.add_argument(
        "--expected-params",
        metavar="FILE",
        help="JSON/YAML mapping (or CloudFormation ParameterKey/ParameterValue list) of the values the "
        "deployment expects, e.g. DataPlaneKey; hand-edited Defaults are reported.",
    )
    check.set_defaults(func=run_doctor)


def run_doctor(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        text = _read_template(Path(args.path))
        expected = _read_expected(Path(args.expected_params)) if args.expected_params else None
        report = doctor(text, expected_parameters=expected, fix=bool(args.fix))
    except TemplateError as exc:
        print(f"{_PROG}: {args.path}: {exc}", file=err)
        if args.json:  # a --json caller still gets JSON: the error object (as `source` writes it)
            error = {"error": type(exc).__name__, "message": str(exc), "exit_code": EXIT_UNREADABLE}
            json.dump({"template": args.path, **error}, out, indent=2)
            out.write("\n")
        return EXIT_UNREADABLE
    if args.fix:
        try:
            _write_atomically(Path(args.fix), report.fixed_text or "")
        except OSError as exc:
            print(f"{_PROG}: cannot write {args.fix}: {exc.strerror or exc}", file=err)
            return EXIT_UNREADABLE
    if args.json:
        payload: dict[str, Any] = {"template": args.path, "fixed_output": args.fix}
        payload.update(report.model_dump(mode="json", exclude={"fixed_text"}))
        json.dump(payload, out, indent=2)
        out.write("\n")
    else:
        _print_report(report, args.path, args.fix, out)
    return EXIT_ERRORS if report.remaining_error_count else EXIT_CLEAN


def _read_template(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise too_large(size)
        with path.open("rb") as handle:  # bounded: the file may grow between stat and read
            data = handle.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(f"Cannot read the template: {exc.strerror or exc}.") from exc
    return decode_template(data)


def _read_expected(path: Path) -> dict[str, str]:
    try:  # the request file's bounded reader: size, UTF-8, no aliases, depth, duplicate keys
        loaded = parse_request_text(read_request_text(path), f"expected parameters file {path}")
    except InvalidRequest as exc:
        raise TemplateError(str(exc)) from None
    if isinstance(loaded, list) and all(isinstance(item, dict) and "ParameterKey" in item for item in loaded):
        return {str(item["ParameterKey"]): str(item.get("ParameterValue", "")) for item in loaded}
    if isinstance(loaded, dict):
        return {str(key): _as_text(value) for key, value in loaded.items()}
    raise TemplateError(
        f"The expected parameters in {path} must be a mapping of name to value "
        "(or a list of ParameterKey/ParameterValue)."
    )


def _as_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _print_report(report: DoctorReport, path: str, fix_output: str | None, out: TextIO) -> None:
    infos = [finding for finding in report.findings if finding.severity is Severity.INFO]
    for finding in report.findings:
        if finding.severity is not Severity.INFO:
            _print_finding(finding, path, out)
    if infos:
        by_rule = collections.Counter(finding.rule_id for finding in infos)
        summary = ", ".join(f"{rule} x{count}" for rule, count in by_rule.most_common())
        print(f"{len(infos)} info notes ({summary}); --json lists them all.", file=out)
    counts = report.counts
    tool = f"ShellCheck {report.shellcheck}" if report.shellcheck else "ShellCheck not available"
    print(
        f"{path}: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} info "
        f"({len(report.scripts)} scripts; {tool}).",
        file=out,
    )
    if fix_output is not None and report.fixed_counts is not None:
        applied = sum(1 for finding in report.findings if finding.fix and finding.fix.applied)
        print(
            f"Wrote {fix_output}: {applied} fixes applied; {report.fixed_counts['error']} errors remain.",
            file=out,
        )


def _print_finding(finding: Finding, path: str, out: TextIO) -> None:
    evidence = finding.evidence
    where = f"{path}:{evidence.template_line}" if evidence.template_line else path
    script = ""
    if evidence.script:
        script = f" [{evidence.resource} {evidence.script}:{evidence.script_line}]"
    print(f"{where}: {finding.severity.value} {finding.rule_id}{script} {finding.title}", file=out)
    print(f"    {'runs:   ' if evidence.script else 'line:   '} {evidence.text}", file=out)
    if evidence.template_text:
        print(f"    written: {evidence.template_text}", file=out)
    print(f"    {finding.message}", file=out)
    if finding.fix is not None:
        state = (
            "applied" if finding.fix.applied else ("available with --fix" if finding.fix.patch else "manual")
        )
        print(f"    fix ({state}): {finding.fix.description}", file=out)
