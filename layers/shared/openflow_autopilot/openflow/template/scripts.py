"""The scripts a template's UserData runs and writes, rendered as the instance will see them.

UserData is rendered through Fn::Sub line by line, so each rendered line remembers the template scalar
and line it came from (for evidence and for writing fixes back). The heredocs the UserData writes
(`cat <<\\EOF > /home/ec2-user/ensure-ecr-repo.sh` ... `EOF`) become scripts of their own.

The line model is in `rendered_lines.py`, the rendering of one UserData in `user_data_renderer.py`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import yaml

from .rendered_lines import RenderedLine
from .shell_text import ShellText, scan
from .source import TemplateSource, mapping_get
from .sub import MAX_RENDERED_CHARS, analysis_refs
from .user_data_renderer import RenderBudget, Unrendered, UserDataRenderer

USER_DATA_SCRIPT: Final = "UserData"
_SHEBANG: Final = re.compile(r"^#!\s*\S*(?:/|\s)(?:ba|z|k|da)?sh\b")
_REDIRECT_TARGET: Final = re.compile(r"(?:^|[\s|])(?:\d?>>?|tee(?:\s+-a)?)\s*(['\"]?)([^\s'\";|&<>]+)\1")
_HEREDOC_OPERATOR: Final = re.compile(r"(?<!<)<<-?\s*(?:'[^']*'|\"[^\"]*\"|\\?[^\s;&|<>()]+)")


@dataclass(frozen=True)
class UserData:
    resource: str
    node: yaml.Node
    lines: tuple[RenderedLine, ...]


@dataclass(frozen=True)
class NotRendered:
    """A UserData the doctor does not analyse, and why. `malformed`: CloudFormation would reject it."""

    resource: str
    node: yaml.Node  # the UserData, or the part of it that is malformed
    reason: str
    malformed: bool


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


def render_user_data(
    source: TemplateSource, refs: Mapping[str, str] | None = None
) -> tuple[list[UserData], list[NotRendered]]:
    """Every resource's UserData rendered line by line, and those that cannot be (with the reason).

    `refs` overrides the analysis values of Refs. All UserData together render to at most
    MAX_RENDERED_CHARS characters; past that, the rest are reported as not rendered.
    """
    values = analysis_refs(source)
    if refs:
        values.update(refs)
    budget = RenderBudget(MAX_RENDERED_CHARS)
    documents: list[UserData] = []
    skipped: list[NotRendered] = []
    for logical_id, resource in source.resources():
        node = _find_user_data(mapping_get(resource, "Properties"))
        if node is None:
            continue
        try:
            lines = UserDataRenderer(values, budget).user_data(node)
        except Unrendered as exc:
            skipped.append(NotRendered(logical_id, exc.node, exc.reason, exc.malformed))
            continue
        documents.append(UserData(logical_id, node, tuple(lines)))
    return documents, skipped


def user_data_documents(source: TemplateSource, refs: Mapping[str, str] | None = None) -> list[UserData]:
    """Every resource's UserData rendered line by line. `refs` overrides the analysis values of Refs."""
    return render_user_data(source, refs)[0]


def unrendered_user_data(source: TemplateSource) -> list[tuple[str, yaml.Node]]:
    """UserData whose form the doctor cannot render (reported, not analysed)."""
    return [(skipped.resource, skipped.node) for skipped in render_user_data(source)[1]]


def render_lines(node: yaml.Node, refs: Mapping[str, str]) -> list[RenderedLine] | None:
    """One UserData rendered line by line; None when its form is not rendered (or is malformed)."""
    try:
        return UserDataRenderer(refs, RenderBudget(MAX_RENDERED_CHARS)).user_data(node)
    except Unrendered:
        return None


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
            body_lines = [line.without_leading_tabs() for line in body_lines]
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
    return [script for document in render_user_data(source, refs)[0] for script in scripts_of(document)]
