"""Turn the collected output into a diagnosis: findings with evidence, and an overall state.

`diagnose` is pure (text in, model out; ECR's answer and the time are parameters) and never
raises on odd input: an empty, binary or unrecognisable output is a JOURNAL_UNREADABLE finding.
The model it returns is in `models`; `repository_check` asks ECR which of the ten repositories
exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from . import markers
from .findings import MAX_EVIDENCE, MAX_UNKNOWN_EVIDENCE, Seen, plain_finding, to_finding
from .journal import Collected, Section, parse_collected
from .matchers import Hit
from .models import Diagnosis, Evidence, Finding, RepositoryCheck, RepositoryState, SectionSummary, State
from .repositories import OPENFLOW_REPOSITORIES, REPOSITORY_PREFIX, is_openflow_repository, openflow_order
from .signatures import (
    AGENT_HEALTHY,
    CATALOG,
    ECR_REPOSITORY_MISSING,
    JOURNAL_UNREADABLE,
    OUTPUT_TRUNCATED,
    SERVICE_RUN_FAILED,
    TIMERS_INACTIVE,
    UNKNOWN_ERROR,
    Severity,
    looks_like_error,
    match_entry,
)
from .timers import inactive_timers

_ORDER: Final = {sig_id: i for i, sig_id in enumerate(CATALOG)}
_RANK: Final = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


# --- the diagnosis ---------------------------------------------------------------------------------
def diagnose(
    text: str, *, existing_repositories: set[str] | None = None, now: datetime | None = None
) -> Diagnosis:
    """Findings for the collected output. `existing_repositories` (ECR's answer for the ten
    snowflake-openflow/ repositories, e.g. from `existing_repositories(ecr)`) turns the journal's
    'repository does not exist' lines into an exact list of what is still missing."""
    analysed_at = now or datetime.now(UTC)
    collected = parse_collected(text, now=now)
    seen: dict[str, Seen] = {}
    order = 0
    for section in _sections_in_order(collected):
        for entry in section.entries:
            order += 1
            matched = match_entry(entry)
            if matched is not None:
                signature, hit = matched
            elif looks_like_error(entry):
                signature, hit = UNKNOWN_ERROR, Hit()
            else:
                continue
            seen.setdefault(signature.id, Seen(signature)).add(entry, hit, order)
    for entry, hit in inactive_timers(collected.sections):
        order += 1
        seen.setdefault(TIMERS_INACTIVE.id, Seen(TIMERS_INACTIVE)).add(entry, hit, order)

    findings = [
        to_finding(item, limit=MAX_UNKNOWN_EVIDENCE if item.signature is UNKNOWN_ERROR else MAX_EVIDENCE)
        for item in seen.values()
    ]
    success_at = seen[AGENT_HEALTHY.id].last if AGENT_HEALTHY.id in seen else None
    healthy_seen = AGENT_HEALTHY.id in seen
    findings = [_resolve_if_older(f, success_at) for f in findings]
    findings = _cross_check_repositories(findings, existing_repositories, healthy_seen=healthy_seen)
    findings = _explained_service_failures(findings)
    if collected.unreadable_reason:
        findings.append(
            plain_finding(
                JOURNAL_UNREADABLE,
                f"Could not read the agent's journal: {collected.unreadable_reason}. "
                "Check that the instance is running and its SSM agent is online, then collect again.",
                [],
            )
        )
    elif collected.cut:  # an unreadable output's reason already says what was missing
        notes = collected.notes or ["the output is incomplete"]
        findings.append(
            plain_finding(
                OUTPUT_TRUNCATED,
                OUTPUT_TRUNCATED.explanation + " " + "; ".join(notes) + ".",
                [Evidence(section="output", timestamp=None, source="", text=n, count=1) for n in notes],
            )
        )
    findings.sort(key=lambda f: (_RANK[f.severity], _ORDER.get(f.id, 99)))
    state = _state(findings, collected, healthy_seen)
    return Diagnosis(
        state=state,
        healthy=state == "healthy",
        summary=_summary(state, findings, success_at, collected.unreadable_reason),
        findings=findings,
        sections=_section_summaries(collected),
        notes=collected.notes,
        analysed_at=analysed_at,
        agent_success_at=success_at,
    )


def _sections_in_order(collected: Collected) -> list[Section]:
    order = {name: i for i, name in enumerate(markers.SECTION_ORDER)}
    logs = collected.log_sections()
    return sorted(logs, key=lambda s: order.get(s.name, len(order)))


def _resolve_if_older(finding: Finding, success_at: datetime | None) -> Finding:
    if (
        success_at is None
        or finding.severity is Severity.INFO
        or finding.id == TIMERS_INACTIVE.id
        or finding.last_seen is None
        or finding.last_seen >= success_at
    ):
        return finding
    stamp = success_at.strftime("%Y-%m-%d %H:%M:%SZ")
    return finding.model_copy(
        update={
            "severity": Severity.INFO,
            "resolved": True,
            "remediation": None,
            "explanation": f"Resolved: the agent reported success at {stamp}, after the last of these "
            f"lines. {finding.explanation}",
        }
    )


def _cross_check_repositories(
    findings: list[Finding], existing: set[str] | None, *, healthy_seen: bool
) -> list[Finding]:
    """Name exactly what is missing. With ECR's answer (`existing`, for the ten), a repository the
    journal names that exists now is 'already created since', and one of the ten that ECR lacks is
    missing even before a journal line names it. Names outside the ten cannot be checked here: the
    remediation checks them in ECR before creating anything."""
    current = next((f for f in findings if f.id == ECR_REPOSITORY_MISSING.id), None)
    named = [n for n in (current.subjects if current else []) if n.startswith(REPOSITORY_PREFIX)]
    if existing is None and current is None:
        return findings

    def state(name: str) -> RepositoryCheck:
        if existing is None or (name not in OPENFLOW_REPOSITORIES and name not in existing):
            return "not checked"
        return "already created since" if name in existing else "missing"

    candidates = openflow_order(set(named) | (set(OPENFLOW_REPOSITORIES) if existing is not None else set()))
    states = [RepositoryState(name=n, named_in_journal=n in named, state=state(n)) for n in candidates]
    states = [r for r in states if r.named_in_journal or r.state == "missing"]
    missing = [
        r.name for r in states if r.state != "already created since" and is_openflow_repository(r.name)
    ]

    if current is None:  # ECR lacks some of the ten, and no journal line says so (yet)
        if not missing:
            return findings
        evidence = [
            Evidence(
                section="ecr",
                timestamp=None,
                source="ecr:DescribeRepositories",
                text=f"RepositoryNotFoundException: {name}",
                count=1,
            )
            for name in missing[:MAX_EVIDENCE]
        ]
        explanation = (
            f"{ECR_REPOSITORY_MISSING.explanation} No journal line names them yet: ECR reports them missing."
        )
        current = plain_finding(ECR_REPOSITORY_MISSING, explanation, evidence).model_copy(
            update={"count": len(missing)}
        )
        if healthy_seen:  # the agent succeeded without them: this agent version does not use them all
            current = current.model_copy(update={"severity": Severity.INFO, "remediation": None})
        findings = [*findings, current]

    update: dict[str, object] = {"missing_repositories": missing, "repositories": states}
    if existing is not None and not missing and not current.resolved:
        update |= {
            "severity": Severity.INFO,
            "resolved": True,
            "remediation": None,
            "explanation": "Resolved: every repository the journal names exists in ECR now (already "
            f"created since). {current.explanation}",
        }
    updated = current.model_copy(update=update)
    return [updated if f is current else f for f in findings]


def _explained_service_failures(findings: list[Finding]) -> list[Finding]:
    """A failed service run with a cause found in the same journal is a consequence: a warning."""
    service = next((f for f in findings if f.id == SERVICE_RUN_FAILED.id), None)
    if service is None or service.severity is not Severity.ERROR:
        return findings
    sections = {e.section for e in service.evidence}
    causes = [
        f
        for f in findings
        if f is not service and f.severity is Severity.ERROR and sections & {e.section for e in f.evidence}
    ]
    if not causes:
        return findings
    updated = service.model_copy(
        update={
            "severity": Severity.WARNING,
            "explanation": f"Caused by {', '.join(sorted({c.id for c in causes}))}. {service.explanation}",
        }
    )
    return [updated if f is service else f for f in findings]


def _state(findings: list[Finding], collected: Collected, healthy_seen: bool) -> State:
    if collected.unreadable_reason:
        return "unreadable"
    if any(f.severity is Severity.ERROR for f in findings):
        return "failing"
    return "healthy" if healthy_seen else "progressing"


def _summary(
    state: State, findings: list[Finding], success_at: datetime | None, unreadable: str | None
) -> str:
    errors = [f for f in findings if f.severity is Severity.ERROR and f.id != JOURNAL_UNREADABLE.id]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    parts: list[str] = []
    if state == "unreadable":
        parts.append(f"Could not read the agent's journal: {unreadable}.")
    elif state == "healthy":
        stamp = success_at.strftime("%Y-%m-%d %H:%M:%SZ") if success_at else "an unknown time"
        parts.append(f"Healthy: the agent reported 'All resources applied successfully' at {stamp}.")
    elif state == "progressing":
        parts.append(
            "No errors found; the agent has not reported 'All resources applied successfully' yet "
            "(a healthy bootstrap takes about 45 minutes)."
        )
    if errors:
        described = "; ".join(_describe(f) for f in errors)
        parts.append(f"Failing: {len(errors)} error finding(s): {described}.")
        automatic = sorted({f.remediation for f in errors if f.remediation})
        if automatic:
            parts.append(f"Automatic remediation available: {', '.join(automatic)}.")
        manual = [f.id for f in errors if not f.remediation]
        if manual:
            parts.append(f"Needs a human: {', '.join(manual)}.")
    if warnings:
        parts.append(f"{len(warnings)} warning(s): {', '.join(f.id for f in warnings)}.")
    return " ".join(parts)


def _describe(finding: Finding) -> str:
    if finding.id == ECR_REPOSITORY_MISSING.id and finding.missing_repositories:
        names = ", ".join(n.removeprefix(REPOSITORY_PREFIX) for n in finding.missing_repositories)
        return f"{finding.id} ({len(finding.missing_repositories)} missing: {names})"
    if finding.subjects:
        return f"{finding.id} ({', '.join(finding.subjects[:4])})"
    return f"{finding.id} (x{finding.count})"


def _section_summaries(collected: Collected) -> list[SectionSummary]:
    return [
        SectionSummary(
            name=s.name,
            lines=s.line_count,
            entries=len(s.entries),
            complete=s.complete,
            exit_code=s.exit_code,
            read_error=s.read_error,
            unreadable_lines=s.unreadable_lines,
            recovered_from_highlights=s.from_highlights,
        )
        for s in collected.sections.values()
        if s.name != markers.HIGHLIGHTS
    ]


__all__ = ["diagnose"]
