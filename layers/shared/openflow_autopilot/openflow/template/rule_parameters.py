"""OFD004: deployment parameters whose Default differs from what the deployment expects.

Openflow's docs allow changing only the drop-down parameters (those with AllowedValues); the others
identify the deployment (DataPlaneKey, DataPlaneUUID, SnowflakeAccountURL, ...) and must stay as issued.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

import yaml

from .catalog import OFD004
from .context import Hit, TextEdit
from .report import Evidence, Finding, Fix, Severity
from .source import TemplateSource, mapping_get

_PLAIN_SAFE: Final = re.compile(r"^[A-Za-z0-9_./:@+-][A-Za-z0-9_./:@+ -]*$")


def check(source: TemplateSource, expected: Mapping[str, str]) -> list[Hit]:
    parameters = source.parameters()
    section = mapping_get(source.root, "Parameters")
    hits: list[Hit] = []
    for name, value in expected.items():
        node = parameters.get(name)
        if node is None:
            line = section.start_mark.line if section is not None else None
            hits.append(
                _warning(
                    source,
                    name,
                    f"The deployment expects parameter {name}, which the template "
                    "does not declare: is this the deployment's template?",
                    line,
                )
            )
            continue
        if mapping_get(node, "AllowedValues") is not None:
            continue  # a drop-down: changing it is allowed
        default = mapping_get(node, "Default")
        if default is None:
            hits.append(
                _warning(
                    source,
                    name,
                    f"Parameter {name} has no Default; create the stack with {name}={value}.",
                    node.start_mark.line,
                )
            )
            continue
        if isinstance(default, yaml.ScalarNode) and str(default.value) == str(value):
            continue
        hits.append(_mismatch(source, name, str(value), default))
    return hits


def _mismatch(source: TemplateSource, name: str, expected: str, default: yaml.Node) -> Hit:
    line = default.start_mark.line + 1
    written = source.line_text(line)
    current = default.value if isinstance(default, yaml.ScalarNode) else "(not a single value)"
    message = (
        f"Parameter {name} is not a drop-down, so it must keep the value Openflow issued: the deployment "
        f"expects {expected!r}, the template's Default is {current!r}. The agent would register with the "
        f"wrong deployment."
    )
    edits: list[TextEdit] = []
    description = f"Set {name}'s Default back to {expected!r}."
    single_line = default.start_mark.line == default.end_mark.line
    if isinstance(default, yaml.ScalarNode) and default.style in (None, '"', "'") and single_line:
        edits.append(
            TextEdit(default.start_mark.index, default.end_mark.index, _scalar(expected, default, source))
        )
    else:
        description += " (Not rewritten automatically: the Default is not a one-line value.)"
    finding = Finding(
        rule_id=OFD004.id,
        title=OFD004.title,
        severity=OFD004.severity,
        message=message,
        evidence=Evidence(template_line=line, text=written.strip()),
        fix=Fix(description=description),
    )
    return Hit(finding, list(edits))


def _scalar(value: str, node: yaml.ScalarNode, source: TemplateSource) -> str:
    """The value written in the style of the scalar it replaces, quoted whenever plain would change it."""
    if source.format == "json" or node.style == '"':
        return json.dumps(value, ensure_ascii=False)
    if node.style == "'":
        return "'" + value.replace("'", "''") + "'"
    if _PLAIN_SAFE.match(value) and yaml.safe_load(value) == value and ": " not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _warning(source: TemplateSource, name: str, message: str, line_index: int | None) -> Hit:
    line = line_index + 1 if line_index is not None else None
    finding = Finding(
        rule_id=OFD004.id,
        title=OFD004.title,
        severity=Severity.WARNING,
        message=message,
        evidence=Evidence(template_line=line, text=source.line_text(line).strip() if line else name),
    )
    return Hit(finding)
