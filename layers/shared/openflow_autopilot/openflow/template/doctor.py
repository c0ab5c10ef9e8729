"""The template doctor: find known defects in an Openflow deployment template and, where safe, repair them."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

from . import rule_errexit, rule_indirect_expansion, rule_parameters, rule_unset_option, shellcheck
from .catalog import OFD000, OFD005
from .context import Hit, ScriptContext, TextEdit
from .errors import TemplateError
from .patching import apply, line_patches, overlaps, to_text_edit
from .report import SEVERITY_ORDER, DoctorReport, Evidence, Finding, ScriptInfo, count_by_severity
from .scripts import EmbeddedScript, scripts_of, unrendered_user_data, user_data_documents
from .shell_facts import assigned_names, sourced_paths
from .source import TemplateSource

_HOME_PREFIXES = ("~/", "$HOME/", "${HOME}/")


def doctor(
    template_text: str, *, expected_parameters: Mapping[str, str] | None = None, fix: bool = False
) -> DoctorReport:
    """Analyse a CloudFormation template (YAML or JSON); with fix=True also return the repaired text.

    Raises TemplateError (an InvalidRequest) when the text is not a readable CloudFormation template.
    """
    source = TemplateSource.parse(template_text)
    binary = shellcheck.find_shellcheck()
    hits, scripts = _analyse(source, expected_parameters or {}, binary)
    accepted: list[TextEdit] = []
    findings: list[Finding] = []
    for hit in sorted(hits, key=_order):
        edits = _writable_edits(source, hit)
        finding = hit.finding
        if finding.fix is not None and edits:
            finding.fix.patch = line_patches(source, edits)
            if fix and not any(overlaps(edit, accepted) for edit in edits):
                accepted.extend(edits)
                finding.fix.applied = True
        findings.append(finding)
    report = DoctorReport(
        findings=findings,
        counts=count_by_severity(findings),
        scripts=scripts,
        shellcheck=shellcheck.version(binary) if binary else None,
    )
    if fix:
        fixed_text = apply(source.text, accepted)
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


def _writable_edits(source: TemplateSource, hit: Hit) -> list[TextEdit]:
    """All of a finding's edits as file edits, or none when any of them cannot be mapped."""
    edits: list[TextEdit] = []
    for edit in hit.edits:
        text_edit = to_text_edit(source, edit)
        if text_edit is None:
            return []
        edits.append(text_edit)
    return edits


def _analyse(
    source: TemplateSource, expected: Mapping[str, str], binary: str | None
) -> tuple[list[Hit], list[ScriptInfo]]:
    hits: list[Hit] = [
        _unrendered(resource, node.start_mark.line + 1) for resource, node in unrendered_user_data(source)
    ]
    contexts: list[ScriptContext] = []
    sourced: set[int] = set()
    infos: list[ScriptInfo] = []
    for document in user_data_documents(source):
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


def _unrendered(resource: str, line: int) -> Hit:
    finding = Finding(
        rule_id=OFD000.id,
        title=OFD000.title,
        severity=OFD000.severity,
        message=f"The UserData of {resource} has a form the doctor does not render; its scripts were not "
        f"analysed.",
        evidence=Evidence(template_line=line, resource=resource, text="UserData"),
    )
    return Hit(finding)
