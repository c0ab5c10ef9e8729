"""Every Lambda task tells its function which execution and state it runs for: the Snowflake
statements a phase sends are stored under that execution's artifacts, named by that state
(evidence/recording.py). A task that forgets would run unrecorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openflow_autopilot_cli.lint import asl

MACHINES = asl.machine_files(Path(__file__).resolve().parents[2])


def _lambda_payloads(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in states.items():
        if state.get("Type") == "Task" and "Parameters" in state:
            params = state["Parameters"]
            found.append((name, params["Payload"] if isinstance(params.get("Payload"), dict) else params))
        for branch in state.get("Branches", []):
            found += _lambda_payloads(branch["States"])
    return found


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_every_lambda_task_passes_the_execution_and_its_state_name(machine: str) -> None:
    payloads = _lambda_payloads(MACHINES[machine]["States"])
    assert payloads
    missing = [
        name
        for name, payload in payloads
        if payload.get("execution.$") != "$$.Execution.Id" or payload.get("phase.$") != "$$.State.Name"
    ]
    assert missing == [], f'add "execution.$": "$$.Execution.Id", "phase.$": "$$.State.Name" to {missing}'
