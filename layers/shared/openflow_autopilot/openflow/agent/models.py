"""The diagnosis's model: its overall state, its findings and their evidence, and the sections read.

`diagnose` returns a `Diagnosis`; `remediate`, the AgentHealth phase and the CLI read it. The
models are pydantic, so a diagnosis is written to S3 and to `--json` output as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from .signatures import Severity

State = Literal["healthy", "progressing", "failing", "unreadable"]
RepositoryCheck = Literal["missing", "already created since", "not checked"]


class Evidence(BaseModel):
    section: str
    timestamp: datetime | None
    source: str  # the journal identifier (dockerd, systemd, ...); empty when the line has none
    text: str  # the line as logged (ANSI codes removed), cut to 600 characters
    count: int  # how many lines like this one (numbers and ids aside) there were


class RepositoryState(BaseModel):
    name: str
    named_in_journal: bool
    state: RepositoryCheck


class Finding(BaseModel):
    id: str
    severity: Severity
    title: str
    explanation: str
    evidence: list[Evidence]
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    remediation: str | None
    subjects: list[str] = []  # what the lines name: repositories, units, tools, IAM actions
    resolved: bool = False  # the agent reported success after the last of these lines
    missing_repositories: list[str] = []  # ECR_REPOSITORY_MISSING: what to create
    repositories: list[RepositoryState] = []


class SectionSummary(BaseModel):
    name: str
    lines: int
    entries: int
    complete: bool
    exit_code: int | None
    read_error: str | None
    unreadable_lines: int
    recovered_from_highlights: int


class Diagnosis(BaseModel):
    state: State
    healthy: bool
    summary: str
    findings: list[Finding]
    sections: list[SectionSummary]
    notes: list[str]
    analysed_at: datetime
    agent_success_at: datetime | None

    def finding(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


__all__ = [
    "Diagnosis",
    "Evidence",
    "Finding",
    "RepositoryState",
    "SectionSummary",
]
