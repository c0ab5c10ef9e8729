"""Each function's environment is the model its step declares, read at cold start: a variable the
function cannot work without, when missing, stops the cold start naming it; and template.yaml gives
every function each variable its model requires."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cfnlint.decode import decode_str

from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.handler import env_model, phase_handler
from openflow_autopilot.lambda_env import ArtifactsEnv, FunctionEnv, SchedulesEnv

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
GLOBAL_VARS = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])


def _step(app: Path) -> Any:
    """The function functions/<dir>/app.py hands to phase_handler (imported, not called)."""
    tree = ast.parse(app.read_text())
    imports = {
        a.asname or a.name: (n.module, a.name)
        for n in tree.body
        if isinstance(n, ast.ImportFrom)
        for a in n.names
    }
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if getattr(call.func, "id", "") == "phase_handler" and isinstance(call.args[0], ast.Name):
                module, name = imports[call.args[0].id]
                return getattr(importlib.import_module(str(module)), name)
    return None


FUNCTIONS = {
    logical_id: res["Properties"]
    for logical_id, res in TEMPLATE["Resources"].items()
    if res["Type"] == "AWS::Serverless::Function"
}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_the_template_gives_each_function_what_its_environment_model_requires(logical_id: str) -> None:
    props = FUNCTIONS[logical_id]
    step = _step(ROOT / props["CodeUri"] / "app.py")
    model = env_model(step) if step is not None else None
    if model is None:
        return  # a handler of its own (the webhook) or a step without an environment
    required = {name.upper() for name, field in model.model_fields.items() if field.is_required()}
    given = GLOBAL_VARS | set((props.get("Environment") or {}).get("Variables") or {})
    assert required <= given, f"{logical_id} ({model.__name__}) needs {sorted(required - given)}"


def test_the_models_say_what_they_require() -> None:
    required = {n for n, f in SchedulesEnv.model_fields.items() if f.is_required()}
    assert required == {
        "artifact_bucket",
        "scheduler_role_arn",
        "power_state_machine_arn",
        "watch_state_machine_arn",
        "digest_function_arn",
    }
    assert not any(f.is_required() for f in FunctionEnv.model_fields.values())


def test_a_missing_variable_stops_the_cold_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def step(event: dict[str, Any], *, env: ArtifactsEnv) -> dict[str, Any]:
        return {"bucket": env.artifact_bucket}

    monkeypatch.delenv("ARTIFACT_BUCKET", raising=False)
    with pytest.raises(ConfigurationError, match="ARTIFACT_BUCKET") as caught:
        phase_handler(step)  # what importing the function's app.py does
    assert "template.yaml" in str(caught.value.fix)
    monkeypatch.setenv("ARTIFACT_BUCKET", "")  # empty is missing too
    with pytest.raises(ConfigurationError, match="ARTIFACT_BUCKET"):
        phase_handler(step)
    monkeypatch.setenv("ARTIFACT_BUCKET", "bucket-1")
    assert env_model(step) is ArtifactsEnv
    handler = phase_handler(step)
    monkeypatch.setenv("ARTIFACT_BUCKET", "bucket-2")  # read once, at cold start
    context = SimpleNamespace(
        function_name="f",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
        aws_request_id="r",
        function_version="$LATEST",
    )
    assert handler({}, context) == {"bucket": "bucket-1"}


def test_a_step_without_a_declared_model_reads_the_common_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def step(event: dict[str, Any], *, env: Any) -> None:
        return None

    def no_env(event: dict[str, Any]) -> None:
        return None

    assert env_model(step) is FunctionEnv and env_model(no_env) is None
