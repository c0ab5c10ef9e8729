"""The shape of the Lambda layer: small modules, nothing the functions do not run, no import circles,
and core/ at the bottom."""

from __future__ import annotations

import ast
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared" / "openflow_autopilot"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(LAYER.rglob("*.py")):
        parts = path.relative_to(LAYER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _top_level_imports(path: Path) -> set[str]:
    """What the module imports when it is loaded (imports inside functions run later, on purpose)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports never run
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m in MODULES}


def test_no_module_in_the_layer_is_over_400_lines() -> None:
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_layer_never_names_the_cli_or_the_sandbox() -> None:
    for name, path in MODULES.items():
        text = path.read_text()
        assert "openflow_sandbox" not in text and "openflow_autopilot_cli" not in text, name


def test_there_is_no_import_circle_in_the_layer() -> None:
    graph = {name: _top_level_imports(path) - {name} for name, path in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_core_imports_nothing_above_it() -> None:
    for name, path in MODULES.items():
        if name.startswith("openflow_autopilot.core"):
            above = {m for m in _top_level_imports(path) if not m.startswith("openflow_autopilot.core")}
            assert above <= {"openflow_autopilot.errors"}, (name, above)


ADAPTERS = ("aws", "snowflake", "postgres", "openflow", "core")
DOMAIN = ("power", "watch", "cost")
ENTRIES = ("steps", "triggers", "phases", "handler")  # what functions/ run, and provisioning's phases


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_adapters_and_the_domain_do_not_import_the_layers_above_them() -> None:
    for name, path in MODULES.items():
        mine = _package(name)
        if mine in ADAPTERS:
            forbidden = (*DOMAIN, *ENTRIES, "notify", "locks", "approvals")
        elif mine in DOMAIN:
            forbidden = ENTRIES
        else:
            continue
        above = {m for m in _top_level_imports(path) if _package(m) in forbidden}
        assert above == set(), f"{name} imports {sorted(above)}"
