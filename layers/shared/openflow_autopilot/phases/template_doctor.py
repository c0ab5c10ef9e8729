"""The template doctor phase: find and repair known defects in the deployment's template before a
stack is created from it. Original, repaired template and findings go to S3; the state carries
only their locations and counts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from openflow_autopilot.aws.s3uri import S3Location, execution_prefix
from openflow_autopilot.core.results import Action, PhaseResult, utcnow
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.template import DoctorReport, Finding, doctor
from openflow_autopilot.phases.template_intake import read_template

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _put(s3: S3Client, loc: S3Location, body: str, content_type: str) -> str:
    s3.put_object(
        Bucket=loc.bucket,
        Key=loc.key,
        Body=body.encode(),
        ContentType=content_type,
        ServerSideEncryption="AES256",
    )
    return loc.uri


def _where(f: Finding) -> str:
    script = f.evidence.script or f.evidence.resource or "template"
    line = f":{f.evidence.script_line}" if f.evidence.script_line else ""
    return f"{script}{line}, template line {f.evidence.template_line}"


def _summary(report: DoctorReport, severity: str) -> list[str]:
    return [f"{f.rule_id} {f.title} ({_where(f)})" for f in report.findings if f.severity.value == severity]


def repair_template(
    s3: S3Client,
    *,
    bucket: str,
    execution: str,
    template_uri: str,
    expected_parameters: dict[str, str] | None = None,
    repair: bool = True,
) -> PhaseResult:
    started = utcnow()
    text = read_template(s3, template_uri)
    report = doctor(text, expected_parameters=expected_parameters, fix=repair)
    prefix = execution_prefix(execution)
    fixed_text = report.fixed_text if report.fixed_text is not None else text
    original_uri = _put(
        s3, S3Location(bucket, f"{prefix}/template/original.yaml"), text, "application/x-yaml"
    )
    fixed_uri = _put(
        s3, S3Location(bucket, f"{prefix}/template/repaired.yaml"), fixed_text, "application/x-yaml"
    )
    findings_uri = _put(
        s3,
        S3Location(bucket, f"{prefix}/template/findings.json"),
        json.dumps(report.model_dump(mode="json", exclude={"fixed_text"}), indent=2),
        "application/json",
    )
    actions = [
        Action(
            kind="repair_template",
            target=f"{f.rule_id} at template line {f.evidence.template_line}",
            statement=f.fix.description if f.fix else None,
        )
        for f in report.findings
        if f.fix is not None and f.fix.applied
    ]
    errors_found = _summary(report, "error")
    notes = [f"found: {line}" for line in errors_found]
    notes.append(
        f"{report.counts.get('error', 0)} error(s), {report.counts.get('warning', 0)} warning(s); "
        f"findings: {findings_uri}"
    )
    remaining = (report.fixed_counts or report.counts).get("error", 0)
    if remaining and not repair:
        notes.append(
            f"{remaining} error-level finding(s) left as downloaded (openflow.template_repair: report); "
            "the stack runs the template unchanged"
        )
    elif remaining:
        raise PreconditionFailed(
            f"the template still has {remaining} error-level finding(s) that cannot be repaired "
            f"automatically (see {findings_uri})",
            call="template doctor",
            fix="correct the template by hand (openflow-autopilot template doctor PATH shows each finding), "
            "upload it again and start the workflow again",
        )
    return PhaseResult(
        phase="TemplateDoctor",
        status="changed" if actions else "unchanged",
        actions=actions,
        notes=notes,
        outputs={
            "template_s3_uri": original_uri,
            "repaired_template_s3_uri": fixed_uri,
            "findings_s3_uri": findings_uri,
            "counts": report.counts,
        },
        started_at=started,
        ended_at=utcnow(),
    )
