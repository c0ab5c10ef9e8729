"""What the rules work on and what they return: scripts with their lexed text, findings with edits."""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Rule
from .report import Evidence, Finding, Fix
from .scripts import EmbeddedScript
from .shell_text import ShellText
from .source import TemplateSource


@dataclass(frozen=True)
class ScriptEdit:
    """Replace the `occurrence`-th `old` with `new` in one line of a script as the instance runs it."""

    script: EmbeddedScript
    line_index: int  # 0-based line of the script
    old: str
    new: str
    occurrence: int = 0


@dataclass(frozen=True)
class TextEdit:
    """Replace a span of the template file."""

    start: int
    end: int
    new: str


@dataclass
class Hit:
    finding: Finding
    edits: list[ScriptEdit | TextEdit] = field(default_factory=list)


@dataclass(frozen=True)
class ScriptContext:
    source: TemplateSource
    script: EmbeddedScript
    shell: ShellText
    sourced_names: frozenset[str]  # variables assigned by the files this script sources

    def evidence(self, line_index: int, text: str | None = None) -> Evidence:
        line = self.script.lines[line_index]
        template_line = self.script.user_data_line
        template_text: str | None = None
        if line.origin is not None:
            template_line = self.source.value_line_to_file_line(line.origin.node, line.origin.line_index)
            written = self.source.line_text(template_line).strip()
            if written != line.text.strip():
                template_text = written
        return Evidence(
            template_line=template_line,
            resource=self.script.resource,
            script=self.script.name,
            script_line=line_index + 1,
            text=(text if text is not None else line.text).strip(),
            template_text=template_text,
        )

    def finding(self, rule: Rule, message: str, line_index: int, fix: Fix | None = None) -> Finding:
        return Finding(
            rule_id=rule.id,
            title=rule.title,
            severity=rule.severity,
            message=message,
            evidence=self.evidence(line_index),
            fix=fix,
        )
