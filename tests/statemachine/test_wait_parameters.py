"""The template's parameters that feed a Wait, a task timeout or a loop budget: integers within
bounds (a fraction in SecondsPath, or 0 in TimeoutSecondsPath, is a States.Runtime error that no
Catch sees: docs.aws.amazon.com/step-functions/latest/dg/state-wait.html and state-task.html), and
budgets that keep the worst-case history under the 25,000-event quota of a Standard execution
(docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from openflow_autopilot.openflow.template.cfn_yaml import load_yaml

ROOT = Path(__file__).resolve().parents[2]
# parameter -> (lowest, highest) it must accept
BOUNDS = {
    "PollSeconds": (0, 3600),
    "StackMaxChecks": (1, 250),
    "RuntimeMaxChecks": (1, 250),
    "ConnectorMaxChecks": (1, 250),
    "CanaryMaxChecks": (1, 250),
    "SourceMaxChecks": (1, 250),
    "AgentMaxChecks": (1, 250),
    "TemplateWaitSeconds": (60, 999999),
    "ApprovalWaitSeconds": (60, 999999),
    "AgentMaxWaitSeconds": (1, 3600),
    "MaxRemediations": (0, 10),
}
LOOPS = ("StackMaxChecks", "RuntimeMaxChecks", "ConnectorMaxChecks", "CanaryMaxChecks", "SourceMaxChecks",
         "AgentMaxChecks")  # fmt: skip
EVENTS_PER_CHECK = 9  # Task (entered, scheduled, started, succeeded, exited), Choice (2), Wait (2)


def _parameters() -> dict[str, Any]:
    template = load_yaml((ROOT / "template.yaml").read_text())
    return dict(template["Parameters"])


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_a_wait_or_budget_parameter_accepts_only_integers_within_its_bounds(name: str) -> None:
    param = _parameters()[name]
    pattern = re.compile(param["AllowedPattern"])
    low, high = BOUNDS[name]
    assert param["Type"] == "String" and pattern.fullmatch(str(param["Default"]))
    for good in (low, high, (low + high) // 2):
        assert pattern.fullmatch(str(good)), (name, good)
    for bad in (str(high + 1), str(low - 1), "1.5", "30.0", "", " 30", "-1", "true", "1e3", "030"):
        assert not pattern.fullmatch(bad), (name, bad)


def test_every_check_loop_of_provisioning_has_a_budget_of_its_own() -> None:
    definition = json.loads((ROOT / "statemachines" / "provision.asl.json").read_text())
    budgets = {
        name: state["Parameters"]["max_attempts.$"]
        for name, state in definition["States"].items()
        if state.get("Type") == "Task" and "max_attempts.$" in state.get("Parameters", {})
    }
    assert budgets["CheckRuntime"] == "$.settings.runtime_max_checks"
    assert budgets["CheckConnector"] == "$.settings.connector_max_checks"
    assert budgets["CheckCanary"] == "$.settings.canary_max_checks"
    assert len(set(budgets.values())) == len(budgets), budgets  # no loop borrows another's


def test_the_worst_case_history_stays_well_under_the_quota() -> None:
    worst = sum(BOUNDS[name][1] for name in LOOPS) * EVENTS_PER_CHECK
    assert worst + 2000 < 0.75 * 25_000, worst  # 2,000: every other state, retried


@pytest.mark.parametrize("machine", ["provision", "power"])
def test_a_failing_notification_still_releases_the_lock(machine: str) -> None:
    definition = json.loads((ROOT / "statemachines" / f"{machine}.asl.json").read_text())
    for name, state in definition["States"].items():
        if name.startswith("Notify"):
            catches = state.get("Catch") or []
            assert catches and catches[0]["ErrorEquals"] == ["States.ALL"], name
            assert catches[0]["Next"] == state["Next"] and catches[0]["ResultPath"] == "$.notify_error"
