"""Reading a request file (YAML, or JSON, which is YAML) without trusting it.

The file is refused, with InvalidRequest and nothing else, when it is larger than 1 MiB (checked
before reading, and at most 1 MiB + 1 bytes are read), not UTF-8 text, binary (NUL bytes), uses
YAML aliases (`*name`: an alias bomb expands exponentially), nests deeper than 50 levels (checked
while composing, so a deep file never reaches Python's recursion limit) or repeats a key in one
mapping (YAML would silently keep the last one).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import BaseConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node

from openflow_autopilot.errors import InvalidRequest

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50
_FIX = "write the request as plain YAML or JSON (see events/provision/request.yaml)"


class _Refused(Exception):
    """Raised inside the loader; turned into InvalidRequest with the file's name."""


def _line(node_or_mark: Any) -> str:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"


class RequestLoader(yaml.SafeLoader):
    """SafeLoader without aliases, with a depth bound and with duplicate keys refused."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused(
                f"uses the YAML alias *{str(event.anchor)[:40]} at {_line(event)}: aliases are not "
                "accepted (they can expand a small file into a huge one); write the value out in full"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _Refused(
                    f"nests deeper than {MAX_DEPTH} levels at {_line(event)}; a request is a few levels deep"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self.flatten_mapping(node)
        seen: dict[Any, str] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: BaseConstructor reports it
            if first is not None:
                raise _Refused(
                    f"repeats the key {str(key)[:60]!r} in one mapping ({first} and {_line(key_node)}); "
                    "YAML would keep only the last one: keep one of them"
                )
            seen[key] = _line(key_node)
        return BaseConstructor.construct_mapping(self, node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's problem and position, without the snippet of the file (it may hold a secret)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{exc.problem or exc.context or 'cannot parse it'}{where}"
    if isinstance(exc, yaml.reader.ReaderError):
        return f"{exc.reason} at position {exc.position}"
    return type(exc).__name__


def read_request_text(path: str | Path) -> str:
    """The file's text, refused if too large, not UTF-8 or binary."""
    p = Path(path)
    try:
        info = os.stat(p)
        if stat.S_ISDIR(info.st_mode):
            raise InvalidRequest(f"cannot read request file {p}: it is a directory", fix=_FIX)
        if info.st_size > MAX_BYTES:
            raise InvalidRequest(
                f"request file {p} is {info.st_size} bytes, over the 1 MiB limit",
                fix="a request is a few KiB: " + _FIX,
            )
        with open(p, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidRequest(f"cannot read request file {p}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_BYTES:
        raise InvalidRequest(
            f"request file {p} is over the 1 MiB limit", fix="a request is a few KiB: " + _FIX
        )
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"request file {p} is not UTF-8 text (byte {exc.start + 1} cannot be decoded)",
            fix="save the file as UTF-8",
        ) from None
    if "\x00" in text:
        raise InvalidRequest(
            f"request file {p} contains NUL bytes: it is binary, not a YAML or JSON text", fix=_FIX
        )
    return text


def parse_request_text(text: str, where: str = "request file") -> Any:
    """The YAML/JSON document as Python data; any failure is an InvalidRequest."""
    loader: RequestLoader | None = None
    try:
        loader = RequestLoader(text)  # the reader checks the characters here already
        return loader.get_single_data()
    except _Refused as exc:
        raise InvalidRequest(f"{where} {exc}", fix=_FIX) from None
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{where} is not valid YAML: {_yaml_problem(exc)}", fix=_FIX) from None
    except RecursionError:
        raise InvalidRequest(f"{where} nests too deeply to read", fix=_FIX) from None
    except Exception as exc:  # e.g. a date that does not exist (2026-02-30), an int over 4300 digits
        raise InvalidRequest(
            f"{where} is not valid YAML: a value cannot be read ({type(exc).__name__})", fix=_FIX
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_request_data(path: str | Path) -> Any:
    """Read and parse a request file; raise only InvalidRequest."""
    return parse_request_text(read_request_text(path), f"request file {Path(path)}")
