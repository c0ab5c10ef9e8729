"""The scripts a template's UserData runs and writes, rendered as the instance will see them.

UserData is rendered through Fn::Sub line by line, so each rendered line remembers the template scalar
and line it came from (for evidence and for writing fixes back). The heredocs the UserData writes
(`cat <<\\EOF > /home/ec2-user/ensure-ecr-repo.sh` ... `EOF`) become scripts of their own.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import yaml

from .shell_text import ShellText, scan
from .source import TemplateSource, intrinsic, mapping_get
from .sub import analysis_refs, render_sub, resolve, sub_lookup, sub_parts

USER_DATA_SCRIPT: Final = "UserData"
_SHEBANG: Final = re.compile(r"^#!\s*\S*(?:/|\s)(?:ba|z|k|da)?sh\b")
_REDIRECT_TARGET: Final = re.compile(r"(?:^|[\s|])(?:\d?>>?|tee(?:\s+-a)?)\s*(['\"]?)([^\s'\";|&<>]+)\1")
_HEREDOC_OPERATOR: Final = re.compile(r"(?<!<)<<-?\s*(?:'[^']*'|\"[^\"]*\"|\\?[^\s;&|<>()]+)")


@dataclass(frozen=True)
class LineOrigin:
    """Where a rendered line comes from: line `line_index` of a template string scalar."""

    node: yaml.ScalarNode
    line_index: int
    sub: bool  # the scalar is an Fn::Sub template, where a literal `${` is written `${!`


@dataclass(frozen=True)
class RenderedLine:
    text: str
    origin: LineOrigin | None  # None when the line is not one template line (Fn::Join, multi-line value)


@dataclass(frozen=True)
class UserData:
    resource: str
    node: yaml.Node
    lines: tuple[RenderedLine, ...]


@dataclass(frozen=True)
class EmbeddedScript:
    """A script as it will exist on the instance: UserData itself, or a file one of its heredocs writes."""

    name: str  # file name (`ensure-ecr-repo.sh`, `.env`) or "UserData"
    path: str | None
    resource: str
    lines: tuple[RenderedLine, ...]
    verbatim: bool  # written exactly as rendered (quoted heredoc delimiter, or UserData itself)
    user_data_line: int  # 1-based template line of the UserData, for lines without an exact origin

    @property
    def text(self) -> str:
        return "".join(f"{line.text}\n" for line in self.lines)

    @property
    def is_shell(self) -> bool:
        first = self.lines[0].text if self.lines else ""
        return self.name.endswith(".sh") or bool(_SHEBANG.match(first))

    def shell(self) -> ShellText:
        return scan(self.text)


def user_data_documents(source: TemplateSource, refs: Mapping[str, str] | None = None) -> list[UserData]:
    """Every resource's UserData rendered line by line. `refs` overrides the analysis values of Refs."""
    values = analysis_refs(source)
    if refs:
        values.update(refs)
    documents: list[UserData] = []
    for logical_id, resource in source.resources():
        node = _find_user_data(mapping_get(resource, "Properties"))
        if node is None:
            continue
        lines = render_lines(node, values)
        if lines is not None:
            documents.append(UserData(logical_id, node, tuple(lines)))
    return documents


def unrendered_user_data(source: TemplateSource) -> list[tuple[str, yaml.Node]]:
    """UserData whose form the doctor cannot render (reported, not analysed)."""
    values = analysis_refs(source)
    skipped = []
    for logical_id, resource in source.resources():
        node = _find_user_data(mapping_get(resource, "Properties"))
        if node is not None and render_lines(node, values) is None:
            skipped.append((logical_id, node))
    return skipped


def render_lines(node: yaml.Node, refs: Mapping[str, str]) -> list[RenderedLine] | None:
    function = intrinsic(node)
    if function is None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
            return _lines_of(node, str(node.value), sub=False)
        return None
    name, value = function
    if name == "Fn::Base64":
        return render_lines(value, refs)
    if name == "Fn::Sub":
        template, variables = sub_parts(value, refs)
        if template is None:
            return None
        lookup = sub_lookup(variables, refs)
        rendered: list[RenderedLine] = []
        for index, line in enumerate(str(template.value).split("\n")):
            text = render_sub(line, lookup)
            if "\n" in text:  # a substituted value spans lines: no one template line to point at
                rendered.extend(RenderedLine(part, None) for part in text.split("\n"))
            else:
                rendered.append(RenderedLine(text, LineOrigin(template, index, sub=True)))
        return rendered
    if name == "Fn::Join":
        return [RenderedLine(part, None) for part in resolve(node, refs).split("\n")]
    return None


def _lines_of(node: yaml.ScalarNode, value: str, *, sub: bool) -> list[RenderedLine]:
    return [
        RenderedLine(line, LineOrigin(node, index, sub=sub)) for index, line in enumerate(value.split("\n"))
    ]


def _find_user_data(properties: yaml.Node | None, depth: int = 0) -> yaml.Node | None:
    """UserData of an instance, a launch template (LaunchTemplateData) or a launch configuration."""
    if not isinstance(properties, yaml.MappingNode) or depth > 2:
        return None
    direct = mapping_get(properties, "UserData")
    if direct is not None:
        return direct
    return _find_user_data(mapping_get(properties, "LaunchTemplateData"), depth + 1)


def scripts_of(user_data: UserData) -> list[EmbeddedScript]:
    """UserData itself, then every file its heredocs write, in order."""
    lines = user_data.lines
    # The trailing empty element after the last newline is not a line of the script.
    body = lines[:-1] if lines and lines[-1].text == "" else lines
    anchor = user_data.node.start_mark.line + 1
    outer = EmbeddedScript(USER_DATA_SCRIPT, None, user_data.resource, tuple(body), True, anchor)
    scripts = [outer]
    shell = scan(outer.text)
    for heredoc in shell.heredocs:
        operator_line = shell.lines[heredoc.line]
        path = _target_path(operator_line)
        name = posixpath.basename(path) if path else f"heredoc-line-{heredoc.line + 1}"
        body_lines = list(body[heredoc.body_start : heredoc.body_end])
        if heredoc.strip_tabs:
            body_lines = [RenderedLine(line.text.lstrip("\t"), line.origin) for line in body_lines]
        scripts.append(
            EmbeddedScript(name, path, user_data.resource, tuple(body_lines), heredoc.verbatim, anchor)
        )
    return scripts


def _target_path(operator_line: str) -> str | None:
    without_operator = _HEREDOC_OPERATOR.sub(" ", operator_line)
    match = _REDIRECT_TARGET.search(without_operator)
    return match.group(2) if match else None


def embedded_scripts(template_text: str, *, refs: Mapping[str, str] | None = None) -> list[EmbeddedScript]:
    """All scripts of all UserData in a template, rendered with `refs` over the analysis defaults."""
    source = TemplateSource.parse(template_text)
    return [script for document in user_data_documents(source, refs) for script in scripts_of(document)]
