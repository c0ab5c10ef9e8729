"""Checks and diagrams for the ASL files in statemachines/.

`python -m openflow_autopilot_cli.lint.asl check` fails when a Next/Default/Catch.Next names a missing
state, or a Retry/Catch names an error class errors.py does not define; `... diagrams README.md`
rewrites the Mermaid diagrams between the README's markers.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openflow_autopilot import errors

_BUILTIN_PREFIXES = ("States.", "Lambda.", "SSM.", "SecretsManager.", "Ec2.", "Rds.", "S3.")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _machines(definition: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """The top-level machine and every Parallel branch / Map iterator inside it."""
    yield where or "top", definition
    for name, state in definition.get("States", {}).items():
        for i, branch in enumerate(state.get("Branches", [])):
            yield from _machines(branch, f"{where}{name}.Branches[{i}]/")
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _machines(state[key], f"{where}{name}.{key}/")


def problems(definition: dict[str, Any]) -> list[str]:
    known_errors = {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type)}
    found: list[str] = []
    for where, machine in _machines(definition):
        states = machine.get("States", {})
        if machine.get("StartAt") not in states:
            found.append(f"{where}: StartAt names missing state {machine.get('StartAt')!r}")
        for name, state in states.items():
            targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
            targets += [(f"Choices[{i}].Next", c.get("Next")) for i, c in enumerate(state.get("Choices", []))]
            targets += [(f"Catch[{i}].Next", c.get("Next")) for i, c in enumerate(state.get("Catch", []))]
            for field, target in targets:
                if target is not None and target not in states:
                    found.append(f"{where}: state {name!r} {field} names missing state {target!r}")
            if (
                state.get("Type") not in ("Succeed", "Fail", "Choice")
                and not state.get("End")
                and "Next" not in state
            ):
                found.append(f"{where}: state {name!r} has neither Next nor End")
            for kind in ("Retry", "Catch"):
                for rule in state.get(kind, []):
                    for err in rule.get("ErrorEquals", []):
                        if not err.startswith(_BUILTIN_PREFIXES) and err not in known_errors:
                            found.append(f"{where}: state {name!r} {kind} names unknown error {err!r}")
    return found


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def mermaid(definition: dict[str, Any]) -> str:
    """A flowchart of the top-level states: solid edges for Next/Choice, dotted for Catch."""
    lines = ["flowchart TD", "    start((start))"]
    states = definition["States"]
    lines.append(f"    start --> {_node_id(definition['StartAt'])}")
    for name, state in states.items():
        nid = _node_id(name)
        kind = state["Type"]
        if kind == "Choice":
            lines.append(f"    {nid}{{{name}}}")
        elif kind in ("Succeed", "Fail"):
            lines.append(f"    {nid}([{name}])")
        elif kind == "Wait":
            lines.append(f"    {nid}[/{name}/]")
        else:
            lines.append(f"    {nid}[{name}]")
    for name, state in states.items():
        nid = _node_id(name)
        if "Next" in state:
            lines.append(f"    {nid} --> {_node_id(state['Next'])}")
        for choice in state.get("Choices", []):
            label = choice.get("Comment") or "match"
            lines.append(f"    {nid} -->|{label}| {_node_id(choice['Next'])}")
        if "Default" in state:
            lines.append(f"    {nid} -->|otherwise| {_node_id(state['Default'])}")
        for catch in state.get("Catch", []):
            errs = ",".join(catch["ErrorEquals"])
            lines.append(f"    {nid} -.->|{errs}| {_node_id(catch['Next'])}")
    return "\n".join(lines) + "\n"


def render_readme(readme: str, machines: dict[str, dict[str, Any]]) -> str:
    """Replace each <!-- diagram:NAME --> ... <!-- /diagram:NAME --> block with a fresh one."""
    for name, definition in machines.items():
        block = f"<!-- diagram:{name} -->\n```mermaid\n{mermaid(definition)}```\n<!-- /diagram:{name} -->"
        pattern = re.compile(rf"<!-- diagram:{name} -->.*?<!-- /diagram:{name} -->", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README has no <!-- diagram:{name} --> markers")
        readme = pattern.sub(lambda _m: block, readme)  # noqa: B023 - used at once, inside the loop
    return readme


def machine_files(root: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name.removesuffix(".asl.json"): load(p) for p in sorted((root / "statemachines").glob("*.asl.json"))
    }


def main(argv: list[str]) -> int:
    root = Path.cwd()
    if argv[:1] == ["check"]:
        bad = [f"{name}: {p}" for name, d in machine_files(root).items() for p in problems(d)]
        for line in bad:
            print(line, file=sys.stderr)
        print(f"ASL check: {len(machine_files(root))} state machine(s), {len(bad)} problem(s)")
        return 1 if bad else 0
    if argv[:1] == ["diagrams"] and len(argv) == 2:
        readme = Path(argv[1])
        readme.write_text(render_readme(readme.read_text(), machine_files(root)))
        return 0
    print("usage: python -m openflow_autopilot_cli.lint.asl check | diagrams README.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
