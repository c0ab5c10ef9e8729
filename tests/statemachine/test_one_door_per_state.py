"""From any Task state a reader reaches its code in one hop, under one name: the state's function
lives in functions/<state>/ (or functions/<machine>_<state>/), and its handler calls the function of
that name in one steps/ module. A function several states share lives in steps/shared.py, and its
name says what it does for all of them."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from openflow_autopilot_cli.lint import asl

ROOT = Path(__file__).resolve().parents[2]
MACHINES = asl.machine_files(ROOT)
TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
STEPS = {"provision": {"provision", "delivery"}, "power": {"power", "power_compute"}, "watch": {"watch"}}
SHARED = {"acquire_lock", "release_lock", "notify", "await_approval"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tasks(states: dict[str, Any]) -> list[tuple[str, str]]:
    """(state, the logical id of its function) for every Lambda Task state."""
    found = []
    for name, state in states.items():
        if state.get("Type") == "Task":
            ref = state.get("Parameters", {}).get("FunctionName") or state["Resource"]
            found.append((name, re.fullmatch(r"\$\{(\w+)Arn\}", ref).group(1)))  # type: ignore[union-attr]
        for branch in state.get("Branches", []):
            found += _tasks(branch["States"])
    return found


def _handler_call(app: Path) -> tuple[str, str]:
    """(steps module, function) that functions/<dir>/app.py hands to phase_handler."""
    tree = ast.parse(app.read_text())
    imports = {  # local name -> (module, the name it has there)
        alias.asname or alias.name: (str(node.module), alias.name)
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    [call] = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "lambda_handler"
    ]
    assert isinstance(call, ast.Call) and isinstance(call.args[0], ast.Name), app
    return imports[call.args[0].id]


CASES = [(machine, state, fn) for machine, d in sorted(MACHINES.items()) for state, fn in _tasks(d["States"])]


@pytest.mark.parametrize(("machine", "state", "function"), CASES, ids=[f"{m}:{s}" for m, s, _ in CASES])
def test_each_task_state_reaches_its_step_in_one_hop(machine: str, state: str, function: str) -> None:
    code_dir = Path(TEMPLATE["Resources"][function]["Properties"]["CodeUri"].rstrip("/")).name
    module, called = _handler_call(ROOT / "functions" / code_dir / "app.py")
    if called in SHARED:
        assert module == "openflow_autopilot.steps.shared", (state, module)
        return
    assert called == snake(state), f"{state}: functions/{code_dir} calls {called}, not {snake(state)}"
    assert code_dir in (snake(state), f"{machine}_{snake(state)}"), f"{state} runs in functions/{code_dir}"
    assert module.rsplit(".", 1)[-1] in STEPS[machine] and module.startswith("openflow_autopilot.steps."), (
        module
    )


def test_no_two_states_of_a_machine_share_a_function_unless_it_is_shared() -> None:
    for machine, d in MACHINES.items():
        seen: dict[str, list[str]] = {}
        for state, function in _tasks(d["States"]):
            seen.setdefault(function, []).append(state)
        for function, states in seen.items():
            code_dir = Path(TEMPLATE["Resources"][function]["Properties"]["CodeUri"].rstrip("/")).name
            assert len(states) == 1 or code_dir in SHARED, f"{machine}: {states} all run {function}"
