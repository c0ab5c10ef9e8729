"""The parts of the power state machine's payload the states hand each other: `power` (what Load
read from the execution's input), `target` (what Locate found) and `settings` (the loops' budgets)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer


class PowerPart(BaseModel):
    """`$.power`: the run's deployment, action and scheduled instant. The state machine's Choice
    states branch on stop_agent, deep and suspend_warehouse, so Load always sets them."""

    model_config = ConfigDict(extra="ignore")

    deployment: str
    action: Literal["stop", "start", "extend"]
    reason: str = "manual"
    now: AwareDatetime
    until: str | None = None
    execution: str | None = None
    stop_agent: bool = False
    deep: bool = False
    suspend_warehouse: bool = False

    @field_serializer("now")
    def _iso(self, now: datetime) -> str:
        return now.isoformat()  # as given (+09:00, +00:00): the notifications print it


class Target(BaseModel):
    """`$.target`: where the runtime's compute is (power/openflow.locate)."""

    model_config = ConfigDict(extra="ignore")

    deployment: str | None = None
    key: str = ""  # names the node groups (<key>-sm-group ...) and the agent (openflow-agent-<key>)
    node_type: str | None = None
    shared_with: list[str] = []


class Budgets(BaseModel):
    """`$.settings`: how long the wait loops may go on (template.yaml's PowerMaxChecks ...)."""

    model_config = ConfigDict(extra="ignore")

    max_checks: int = 60
    compute_grace_checks: int = 10
    poll_seconds: int = 30
    wal_max_checks: int | None = None


class ActionSeen(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: str | None = None


class PhaseSeen(BaseModel):
    """`$.phases.<State>` as Record reads it: did the state change something, and what."""

    model_config = ConfigDict(extra="ignore")

    status: str | None = None
    actions: list[ActionSeen] = []
