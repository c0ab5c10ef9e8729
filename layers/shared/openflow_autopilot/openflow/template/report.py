"""The doctor's findings and report: plain pydantic models, JSON-able with `model_dump(mode="json")`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class Evidence(BaseModel):
    """Where a finding is: template file line, resource, script and script line, and the text there."""

    template_line: int | None = None  # 1-based line in the template file
    resource: str | None = None  # logical id of the resource whose UserData holds the script
    script: str | None = None  # `ensure-ecr-repo.sh`, `.env`, or `UserData`
    script_line: int | None = None  # 1-based line in the script as the instance runs it
    text: str  # the offending text as the instance runs it (or the template text for parameters)
    template_text: str | None = None  # the same line as written in the template, when it differs


class LinePatch(BaseModel):
    line: int  # 1-based template line
    before: str
    after: str


class Fix(BaseModel):
    description: str
    patch: list[LinePatch] = Field(default_factory=list)  # empty: the fix cannot be written automatically
    applied: bool = False
    # Why the fix is not written automatically, when the rule has an edit but it cannot be mapped back to
    # the template text (e.g. the text spans two values of an Fn::Join, or is a substituted value).
    manual_reason: str | None = None


class Finding(BaseModel):
    rule_id: str  # OFD001..., or a ShellCheck code such as SC2086
    title: str
    severity: Severity
    message: str
    evidence: Evidence
    fix: Fix | None = None


class ScriptInfo(BaseModel):
    resource: str
    name: str
    path: str | None
    template_line: int | None
    lines: int
    shell: bool


class DoctorReport(BaseModel):
    findings: list[Finding]
    counts: dict[str, int]  # findings by severity (error, warning, info)
    scripts: list[ScriptInfo]
    shellcheck: str | None  # ShellCheck version used, None when not available
    fixed_text: str | None = None  # the repaired template, when asked to fix
    fixed_counts: dict[str, int] | None = None  # findings by severity in the repaired template

    @property
    def error_count(self) -> int:
        return self.counts.get(Severity.ERROR.value, 0)

    @property
    def remaining_error_count(self) -> int:
        """Errors left after the fix (or in the input when no fix was asked for)."""
        counts = self.fixed_counts if self.fixed_counts is not None else self.counts
        return counts.get(Severity.ERROR.value, 0)


def count_by_severity(findings: list[Finding]) -> dict[str, int]:
    counts = {severity.value: 0 for severity in Severity}
    for finding in findings:
        counts[finding.severity.value] += 1
    return counts
