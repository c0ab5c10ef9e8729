"""What every step returns: the actions it took (or would take, when planning)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Action(BaseModel):
    """One change a phase made (or would make). Never carries a secret value."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="what sort of change, e.g. create_role, grant, alter_user")
    target: str = Field(description="the object changed")
    statement: str | None = Field(None, description="the SQL/API call, with no secret values")


class PhaseResult(BaseModel):
    phase: str
    status: Literal["changed", "unchanged", "planned"]
    actions: list[Action] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="facts a human should know")
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="small values later phases need (ids, keys, S3 keys; never secrets)"
    )
    started_at: str
    ended_at: str


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
