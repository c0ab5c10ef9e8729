"""One way to turn a phase function into a Lambda handler, so every handler file stays a few lines.

The function's environment is validated once at cold start (the model its `env` parameter names);
each invocation logs which phase ran and how many actions it took — never the event (it may name
secrets' ARNs, and payloads are the state machine's business). The Snowflake statements an
invocation sends are stored with the execution's artifacts (evidence/recording.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.evidence.recording import recording
from openflow_autopilot.lambda_env import FunctionEnv

logger = Logger(service="openflow-autopilot")


def _summary(result: Any) -> dict[str, Any]:
    if isinstance(result, PhaseResult):
        return {"phase": result.phase, "status": result.status, "actions": len(result.actions)}
    if isinstance(result, dict):
        return {k: result[k] for k in ("status", "attempt", "done", "ready", "kind") if k in result}
    return {}


def env_model(fn: Callable[..., Any]) -> type[FunctionEnv] | None:
    """The environment model `fn` declares (its `env` parameter's type), if it takes one. Only that
    annotation is resolved: the others may name types imported for the type checker alone."""
    parameter = inspect.signature(fn).parameters.get("env")
    if parameter is None:
        return None
    model = parameter.annotation
    if isinstance(model, str):  # postponed annotations: a name in the step's module
        model = getattr(fn, "__globals__", {}).get(model)
    return model if isinstance(model, type) and issubclass(model, FunctionEnv) else FunctionEnv


def phase_handler(fn: Callable[..., Any]) -> Callable[[dict[str, Any], Any], Any]:
    """`fn(event, [env=<a FunctionEnv model>])` -> a pydantic model or JSON-able value. The model
    is read from the environment here, at cold start: a missing variable fails the function's
    initialisation, naming the variable."""
    model = env_model(fn)
    wants_env = model is not None
    env = model.from_environ() if model is not None else None
    bucket = env.artifact_bucket if env is not None else None

    @logger.inject_lambda_context(log_event=False)
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        # the Snowflake statements this invocation sends go to the execution's artifacts
        with recording(event, bucket=bucket):
            result = fn(event, env=env) if wants_env else fn(event)
        logger.info(f"{fn.__name__} finished", extra=_summary(result))
        if isinstance(result, BaseModel):
            return result.model_dump(mode="json")
        if isinstance(result, list):
            return {"results": [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]}
        return result

    return lambda_handler
