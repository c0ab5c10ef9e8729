"""The ASL files: every transition names a real state, every error class exists, every
substitution is defined, and the README's diagrams are what the files say."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from openflow_autopilot.errors import PERMANENT_ERROR_NAMES, RETRYABLE_ERROR_NAMES, RetryableError
from openflow_autopilot_cli.lint import asl

ROOT = Path(__file__).resolve().parents[2]
MACHINES = asl.machine_files(ROOT)


def test_there_is_a_provisioning_state_machine() -> None:
    assert "provision" in MACHINES


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_transition_and_error_name_in_the_asl_is_known(name: str) -> None:
    assert asl.problems(MACHINES[name]) == []


def test_the_check_reports_a_next_that_names_a_missing_state() -> None:
    broken = copy.deepcopy(MACHINES["provision"])
    broken["States"]["Validate"]["Next"] = "NoSuchState"
    assert any("NoSuchState" in p for p in asl.problems(broken))


def test_the_check_reports_a_catch_to_a_missing_state_and_an_unknown_error() -> None:
    broken = copy.deepcopy(MACHINES["provision"])
    state = broken["States"]["SnowflakePrerequisites"]
    state["Catch"][0]["Next"] = "Nowhere"
    state["Retry"][0]["ErrorEquals"] = ["SnowflakeHiccup"]
    found = asl.problems(broken)
    assert any("Catch[0].Next" in p and "Nowhere" in p for p in found)
    assert any("SnowflakeHiccup" in p for p in found)


def test_the_check_reports_a_choice_default_to_a_missing_state() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "D"}],
                "Default": "E",
            },
            "D": {"Type": "Succeed"},
        },
    }
    assert any("Default" in p and "'E'" in p for p in asl.problems(definition))


def test_every_substitution_in_the_asl_is_defined_in_the_template() -> None:
    template = (ROOT / "template.yaml").read_text()
    for path in (ROOT / "statemachines").glob("*.asl.json"):
        for name in set(re.findall(r"\$\{(\w+)\}", path.read_text())):
            assert re.search(rf"^\s+{name}:", template, re.M), (
                f"{path.name}: ${{{name}}} not in DefinitionSubstitutions"
            )


def test_retryable_errors_are_retried_and_permanent_ones_are_not() -> None:
    for name, definition in MACHINES.items():
        for state_name, state in definition["States"].items():
            for rule in state.get("Retry", []):
                assert not set(rule["ErrorEquals"]) & set(PERMANENT_ERROR_NAMES), (name, state_name)
                assert "States.ALL" not in rule["ErrorEquals"], f"{name}.{state_name}: blanket retry"
                assert "States.TaskFailed" not in rule["ErrorEquals"], f"{name}.{state_name}: blanket retry"
                assert rule.get("JitterStrategy") == "FULL" and "MaxDelaySeconds" in rule, (name, state_name)


def test_the_retryable_error_names_are_retryable_classes() -> None:
    from openflow_autopilot import errors

    for name in RETRYABLE_ERROR_NAMES:
        assert issubclass(getattr(errors, name), RetryableError)


def test_the_readme_diagrams_match_the_asl_files() -> None:
    readme = (ROOT / "README.md").read_text()
    assert asl.render_readme(readme, MACHINES) == readme, "diagrams are stale: run `make diagrams`"


def test_a_stale_diagram_is_detected() -> None:
    readme = (ROOT / "README.md").read_text()
    stale = readme.replace("SnowflakePrerequisites --> Deployment", "SnowflakePrerequisites --> Provisioned")
    assert stale != readme
    assert asl.render_readme(stale, MACHINES) != stale
