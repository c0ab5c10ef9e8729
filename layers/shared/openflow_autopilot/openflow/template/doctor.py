"""The template doctor: find known defects in an Openflow deployment template and, where safe, repair them."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Final

from . import rule_errexit, rule_indirect_expansion, rule_parameters, rule_unset_option, shellcheck
from .catalog import OFD000, OFD005, OFD006
from .context import Hit, ScriptContext, TextEdit
from .errors import TemplateError
from .patching import AcceptedEdits, apply, line_patches, to_text_edit
from .report import SEVERITY_ORDER, DoctorReport, Evidence, Finding, Fix, ScriptInfo, count_by_severity
from .scripts import EmbeddedScript, NotRendered, render_user_data, scripts_of
from .shell_facts import assigned_names, sourced_paths
from .source import TemplateSource

_HOME_PREFIXES = ("~/", "$HOME/", "${HOME}/")


# A template the doctor is meant for has a handful of findings; past this many the rest are counted,
# summarised in one note and neither listed nor repaired (bounding report size and mapping work).
MAX_LISTED_FINDINGS: Final = 500


def doctor(
    template_text: str | bytes,
    *,
    expected_parameters: Mapping[str, str] | None = None,
    fix: bool = False,
) -> DoctorReport:
    """Analyse a CloudFormation template (YAML or JSON); with fix=True also return the repaired text.

    `template_text` may be the file's bytes (UTF-8). Raises TemplateError (an InvalidRequest) when the
    input is not a readable CloudFormation template; never another exception for any input.
    """
    source = TemplateSource.parse(template_text)
    binary = shellcheck.find_shellcheck()
    hits, scripts = _analyse(source, expected_parameters or {}, binary)
    ordered = sorted(hits, key=_order)
    accepted = AcceptedEdits()
    findings: list[Finding] = []
    for hit in ordered[:MAX_LISTED_FINDINGS]:
        finding = hit.finding
        edits, reason = _writable_edits(source, hit)
        if finding.fix is not None and reason is not None:
            finding.fix.manual_reason = reason
        if finding.fix is not None and edits:
            finding.fix.patch = line_patches(source, edits)
            if fix and not any(accepted.overlaps(edit) for edit in edits):
                for edit in edits:
                    accepted.add(edit)
                finding.fix.applied = True
        findings.append(finding)
    counted = [hit.finding for hit in ordered]
    if len(ordered) > MAX_LISTED_FINDINGS:
        note = _truncated(len(ordered) - MAX_LISTED_FINDINGS)
        findings.append(note)
        counted.append(note)
    report = DoctorReport(
        findings=findings,
        counts=count_by_severity(counted),
        scripts=scripts,
        shellcheck=shellcheck.version(binary) if binary else None,
    )
    if fix:
        fixed_text = apply(source.text, accepted)
        if fixed_text == source.text:  # nothing repaired: the analysis of the output is the one above
            report.fixed_text = fixed_text
            report.fixed_counts = dict(report.counts)
            return report
        try:
            fixed_source = TemplateSource.parse(fixed_text)
        except TemplateError:  # never expected: edits are single-line and re-escaped; keep the input then
            fixed_text, fixed_source = source.text, source
            for finding in findings:
                if finding.fix is not None:
                    finding.fix.applied = False
        fixed_hits, _ = _analyse(fixed_source, expected_parameters or {}, binary)
        report.fixed_text = fixed_text
        report.fixed_counts = count_by_severity([hit.finding for hit in fixed_hits])
    return report


def _order(hit: Hit) -> tuple[int, int, int, str]:
    evidence = hit.finding.evidence
    return (
        SEVERITY_ORDER[hit.finding.severity],
        evidence.template_line or 0,
        evidence.script_line or 0,
        hit.finding.rule_id,
    )


def _writable_edits(source: TemplateSource, hit: Hit) -> tuple[list[TextEdit], str | None]:
    """All of a finding's edits as file edits; or none, and why, when any of them cannot be mapped."""
    edits: list[TextEdit] = []
    for edit in hit.edits:
        text_edit = to_text_edit(source, edit)
        if isinstance(text_edit, str):
            return [], f"not repaired automatically: {text_edit}"
        edits.append(text_edit)
    return edits, None


def _analyse(
    source: TemplateSource, expected: Mapping[str, str], binary: str | None
) -> tuple[list[Hit], list[ScriptInfo]]:
    documents, skipped = render_user_data(source)
    hits: list[Hit] = [_malformed(source, item) if item.malformed else _unrendered(item) for item in skipped]
    contexts: list[ScriptContext] = []
    sourced: set[int] = set()
    infos: list[ScriptInfo] = []
    for document in documents:
        scripts = scripts_of(document)
        shells = {id(script): script.shell() for script in scripts if script.is_shell}
        sourced_by_anyone: set[int] = set()
        for script in scripts:
            infos.append(_info(source, script))
            if not script.is_shell:
                continue
            if not script.verbatim:
                hits.append(_unquoted_heredoc(source, script))
                continue
            names: set[str] = set()
            for path in sourced_paths(shells[id(script)]):
                for target in _targets(path, scripts):
                    sourced_by_anyone.add(id(target))
                    if id(target) in shells:
                        names |= assigned_names(shells[id(target)])
            contexts.append(ScriptContext(source, script, shells[id(script)], frozenset(names)))
        sourced.update(index for index, ctx in enumerate(contexts) if id(ctx.script) in sourced_by_anyone)
    for ctx in contexts:
        hits.extend(rule_indirect_expansion.check(ctx))
        hits.extend(rule_unset_option.check(ctx))
        hits.extend(rule_errexit.check(ctx))
    hits.extend(rule_parameters.check(source, expected))
    hits.extend(shellcheck.check(contexts, sourced, binary))
    return hits, infos


def _targets(path: str, scripts: Sequence[EmbeddedScript]) -> list[EmbeddedScript]:
    """The heredoc files a `source PATH` refers to (`~/.env` matches `/home/<user>/.env`)."""
    exact = [script for script in scripts if script.path == path]
    if exact:
        return exact
    for prefix in _HOME_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            return [
                script
                for script in scripts
                if script.path
                and script.path.startswith(("/home/", "/root/"))
                and posixpath.normpath(script.path).endswith(f"/{rest}")
            ]
    return []


def _info(source: TemplateSource, script: EmbeddedScript) -> ScriptInfo:
    first = script.lines[0].origin if script.lines else None
    line = source.value_line_to_file_line(first.node, first.line_index) if first else script.user_data_line
    return ScriptInfo(
        resource=script.resource,
        name=script.name,
        path=script.path,
        template_line=line,
        lines=len(script.lines),
        shell=script.is_shell,
    )


def _unquoted_heredoc(source: TemplateSource, script: EmbeddedScript) -> Hit:
    first = script.lines[0].origin if script.lines else None
    line = (
        source.value_line_to_file_line(first.node, first.line_index) - 1 if first else script.user_data_line
    )
    finding = Finding(
        rule_id=OFD005.id,
        title=OFD005.title,
        severity=OFD005.severity,
        message=f"{script.name} is written through an unquoted heredoc: UserData's shell expands `$var` and "
        f"`$(...)` in it while writing the file, so it is analysed only as part of UserData. Quote the "
        f"delimiter (`<<'EOF'`) unless the expansion is intended.",
        evidence=Evidence(template_line=line, resource=script.resource, script=script.name, text=script.name),
    )
    return Hit(finding)


def _unrendered(item: NotRendered) -> Hit:
    finding = Finding(
        rule_id=OFD000.id,
        title=OFD000.title,
        severity=OFD000.severity,
        message=f"The UserData of {item.resource} has a form the doctor does not render ({item.reason}); "
        f"its scripts were not analysed.",
        evidence=Evidence(
            template_line=item.node.start_mark.line + 1, resource=item.resource, text="UserData"
        ),
    )
    return Hit(finding)


def _malformed(source: TemplateSource, item: NotRendered) -> Hit:
    line = item.node.start_mark.line + 1
    finding = Finding(
        rule_id=OFD006.id,
        title=OFD006.title,
        severity=OFD006.severity,
        message=f"The UserData of {item.resource} is malformed: {item.reason}. CloudFormation rejects the "
        f"template, and its scripts were not analysed.",
        evidence=Evidence(template_line=line, resource=item.resource, text=source.line_text(line).strip()),
        fix=Fix(
            description="Write the UserData in a form CloudFormation accepts (the Openflow template uses "
            "`Fn::Base64: !Sub` followed by the script), or download the template again."
        ),
    )
    return Hit(finding)


def _truncated(count: int) -> Finding:
    return Finding(
        rule_id=OFD000.id,
        title=OFD000.title,
        severity=OFD000.severity,
        message=f"{count:,} more findings are counted but not listed or repaired: the doctor lists at most "
        f"{MAX_LISTED_FINDINGS} (a template from the Openflow UI has a handful).",
        evidence=Evidence(text="findings"),
    )
