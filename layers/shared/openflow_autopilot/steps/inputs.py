"""A state's input, parsed into its model: a field that is missing or of the wrong type is an
InvalidRequest naming the field (the state machine's Parameters give every state its input)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from openflow_autopilot.errors import InvalidRequest


def parse[M: BaseModel](model: type[M], event: dict[str, Any], machine: str) -> M:
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        fix = f"the {machine} state machine's Parameters give this state its input"
        raise InvalidRequest(f"{where}: {first['msg']}", fix=fix) from None
