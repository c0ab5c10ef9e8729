"""CloudFormation YAML: a loader and a dumper that keep the short-form intrinsic tags (`!Ref`, `!Sub`, ...).

PyYAML's safe loader rejects unknown tags, and a plain loader drops them. Here a tagged node becomes a
`CfnTag(name, value)` that dumps back to the same short form, and `to_long_form` gives the equivalent
`{"Fn::Sub": ...}` structure for analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.resolver import Resolver

# Short forms CloudFormation accepts in YAML templates (intrinsic functions, condition functions, rules).
SHORT_FORM_TAGS: Final = frozenset(
    {
        "Ref",
        "Sub",
        "GetAtt",
        "Base64",
        "Join",
        "Select",
        "If",
        "Equals",
        "FindInMap",
        "GetAZs",
        "Split",
        "ImportValue",
        "Not",
        "And",
        "Or",
        "Condition",
        "Cidr",
        "Transform",
        "Length",
        "ToJsonString",
        "Contains",
        "EachMemberEquals",
        "EachMemberIn",
        "RefAll",
        "ValueOf",
        "ValueOfAll",
    }
)
# Long-form keys without the "Fn::" prefix.
_BARE_LONG_FORM: Final = frozenset({"Ref", "Condition"})


def long_form_name(short_name: str) -> str:
    """`Sub` -> `Fn::Sub`; `Ref` and `Condition` keep their name."""
    return short_name if short_name in _BARE_LONG_FORM else f"Fn::{short_name}"


@dataclass
class CfnTag:
    """A short-form intrinsic as written: `!GetAtt A.B` is CfnTag("GetAtt", "A.B")."""

    name: str
    value: Any

    def long_form(self) -> dict[str, Any]:
        value = to_long_form(self.value)
        if self.name == "GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        return {long_form_name(self.name): value}


# Bounds on what a template may make the loader build. CloudFormation templates are at most 1 MB and
# need no YAML aliases (CloudFormation does not accept them), so these only stop hostile input: a
# billion-laughs alias bomb, `[[[[...` nested until the stack overflows, a million one-byte values.
MAX_DEPTH: Final = 100
MAX_NODES: Final = 100_000
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"

try:  # libyaml's parser: events in C, about twenty times faster than the pure-Python scanner
    from yaml.cyaml import CParser as _EventParser  # type: ignore[attr-defined]

    def _init_parser(loader: Any, stream: str) -> None:
        _EventParser.__init__(loader, stream)

except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventParser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        pass

    def _init_parser(loader: Any, stream: str) -> None:
        Reader.__init__(loader, stream)
        Scanner.__init__(loader)
        _PyParser.__init__(loader)


class TemplateLimitError(MarkedYAMLError):
    """The YAML is well formed but uses what a CloudFormation template cannot (aliases, merge keys,
    duplicate keys) or exceeds the loader's bounds (MAX_DEPTH, MAX_NODES)."""


class CfnLoader(_EventParser, SafeConstructor, Resolver):
    """Safe loader that also constructs CloudFormation's short-form tags.

    Nodes are composed without recursion and within bounds: no aliases or merge keys (CloudFormation
    accepts neither), no duplicate keys in a mapping, at most MAX_DEPTH levels and MAX_NODES values.
    So a hostile file is refused while it is being read, before any Python object is built from it.
    """

    def __init__(self, stream: str) -> None:
        _init_parser(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    def get_single_node(self) -> yaml.Node | None:
        self.get_event()  # StreamStartEvent
        document: yaml.Node | None = None
        if not self.check_event(yaml.StreamEndEvent):
            self.get_event()  # DocumentStartEvent
            document = self._compose_root()
            self.get_event()  # DocumentEndEvent
        if not self.check_event(yaml.StreamEndEvent):
            event: Any = self.get_event()
            raise ComposerError(
                "expected a single document in the stream",
                document.start_mark if document is not None else None,
                "but found another document",
                event.start_mark,
            )
        self.get_event()  # StreamEndEvent
        return document

    def _compose_root(self) -> yaml.Node:
        """One document's node tree, composed iteratively (a deep document cannot exhaust the stack)."""
        open_nodes: list[yaml.CollectionNode] = []
        pending_keys: list[yaml.Node | None] = []  # per open mapping: its key awaiting a value
        seen_keys: list[dict[str, int]] = []  # per open mapping: scalar keys -> 1-based line
        count = 0
        resolve: Any = self.resolve  # PyYAML's resolver is untyped
        while True:
            event: Any = self.get_event()
            start: Any = event.start_mark  # libyaml's marks are typed apart from PyYAML's
            end: Any = event.end_mark
            completed: yaml.Node
            if isinstance(event, yaml.AliasEvent):
                raise TemplateLimitError(
                    None,
                    None,
                    f"the template uses the YAML alias *{event.anchor}; CloudFormation does not accept YAML "
                    f"aliases (write the value out in full)",
                    start,
                )
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                completed = open_nodes.pop()
                completed.end_mark = end
                pending_keys.pop()
                seen_keys.pop()
            else:
                count += 1
                if count > MAX_NODES:
                    raise TemplateLimitError(
                        None,
                        None,
                        f"the template has more than {MAX_NODES:,} values, far more than any CloudFormation "
                        f"template",
                        start,
                    )
                if isinstance(event, yaml.ScalarEvent):
                    tag = event.tag
                    if tag is None or tag == "!":
                        tag = resolve(yaml.ScalarNode, event.value, event.implicit)
                    completed = yaml.ScalarNode(tag, event.value, start, end, style=event.style)
                else:
                    node: yaml.CollectionNode
                    tag = event.tag
                    if isinstance(event, yaml.SequenceStartEvent):
                        if tag is None or tag == "!":
                            tag = resolve(yaml.SequenceNode, None, event.implicit)
                        node = yaml.SequenceNode(tag, [], start, None, flow_style=event.flow_style)
                    else:
                        if tag is None or tag == "!":
                            tag = resolve(yaml.MappingNode, None, event.implicit)
                        node = yaml.MappingNode(tag, [], start, None, flow_style=event.flow_style)
                    if len(open_nodes) >= MAX_DEPTH:
                        raise TemplateLimitError(
                            None,
                            None,
                            f"values are nested more than {MAX_DEPTH} levels deep, far deeper than any "
                            f"CloudFormation template",
                            start,
                        )
                    open_nodes.append(node)
                    pending_keys.append(None)
                    seen_keys.append({})
                    continue
            if not open_nodes:
                return completed
            parent = open_nodes[-1]
            if isinstance(parent, yaml.SequenceNode):
                parent.value.append(completed)
                continue
            key = pending_keys[-1]
            if key is None:
                self._check_key(completed, seen_keys[-1])
                pending_keys[-1] = completed
            else:
                parent.value.append((key, completed))
                pending_keys[-1] = None

    @staticmethod
    def _check_key(key: yaml.Node, seen: dict[str, int]) -> None:
        if not isinstance(key, yaml.ScalarNode):
            return
        if key.tag == _MERGE_TAG:
            raise TemplateLimitError(
                None,
                None,
                "the template uses a YAML merge key (<<); CloudFormation does not accept merge keys",
                key.start_mark,
            )
        name = str(key.value)
        first = seen.get(name)
        if first is not None:
            raise TemplateLimitError(
                None,
                None,
                f"the key {name!r} appears twice in one mapping (first at line {first}); which one "
                f"CloudFormation uses is undefined, so remove one",
                key.start_mark,
            )
        seen[name] = key.start_mark.line + 1


def _construct_short_form(loader: SafeConstructor, suffix: str, node: yaml.Node) -> CfnTag:
    if suffix not in SHORT_FORM_TAGS:
        raise ConstructorError(
            None, None, f"!{suffix} is not a CloudFormation intrinsic function tag", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return CfnTag(suffix, value)


CfnLoader.add_multi_constructor("!", _construct_short_form)


class CfnDumper(yaml.SafeDumper):
    """Safe dumper that writes CfnTag back in short form and multi-line strings as literal blocks."""


def _represent_tag(dumper: yaml.SafeDumper, tag: CfnTag) -> yaml.Node:
    name = f"!{tag.name}"
    if isinstance(tag.value, list):
        return dumper.represent_sequence(name, tag.value)
    if isinstance(tag.value, dict):
        return dumper.represent_mapping(name, tag.value)
    text = "" if tag.value is None else str(tag.value)
    return dumper.represent_scalar(name, text, style="|" if "\n" in text else None)


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


CfnDumper.add_representer(CfnTag, _represent_tag)
CfnDumper.add_representer(str, _represent_str)


def load_yaml(text: str) -> Any:
    """Parse YAML, keeping short-form tags as CfnTag. Raises yaml.YAMLError on bad input (including
    TemplateLimitError beyond the loader's bounds)."""
    loader = CfnLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def dump_yaml(data: Any) -> str:
    """Write data as YAML with short-form tags, keys in their given order."""
    return yaml.dump(data, Dumper=CfnDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def to_long_form(data: Any) -> Any:
    """Replace every CfnTag with its long form (`{"Fn::Sub": ...}`), recursively."""
    if isinstance(data, CfnTag):
        return data.long_form()
    if isinstance(data, dict):
        return {key: to_long_form(value) for key, value in data.items()}
    if isinstance(data, list):
        return [to_long_form(item) for item in data]
    return data
