"""The power states' inputs (the ASL's Parameters), one model per shape: each declares only what
its states read, so a state never digs in the payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.phases.agent_checkup import AgentBudgets
from openflow_autopilot.power.compute_check import ComputeCheck
from openflow_autopilot.power.decide import Decision
from openflow_autopilot.power.models import Budgets, PhaseSeen, PowerPart, Target
from openflow_autopilot.power.wal import WalVerdict
from openflow_autopilot.watch.models import Heartbeat


def _now() -> datetime:
    return datetime.now(UTC)


class PowerStart(BaseModel):
    """The execution's input: {deployment, action: stop|start|extend, now?, reason?, until?}."""

    model_config = ConfigDict(extra="ignore")

    deployment: str = ""
    action: str = ""
    now: str | None = None
    reason: str | None = None
    until: str | None = None


class LoadInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: PowerStart = Field(default_factory=PowerStart)
    settings: dict[str, Any] = Field(default_factory=dict)
    execution: str | None = None
    started_at: str | None = None


class StepInput(BaseModel):
    """Every state after Load gets the stored request."""

    model_config = ConfigDict(extra="ignore")

    request: ProvisionRequest
    execution: str | None = None


class PollInput(StepInput):
    """A wait loop's one check: its state so far (`$.polls.<name>`) and the budgets."""

    polls: dict[str, dict[str, Any]] = Field(default_factory=dict)
    settings: Budgets = Field(default_factory=Budgets)

    def poll[M: BaseModel](self, name: str, model: type[M]) -> M:
        return model.model_validate(self.polls.get(name) or {})


class TargetInput(StepInput):
    target: Target = Field(default_factory=Target)


class TargetPollInput(PollInput):
    target: Target = Field(default_factory=Target)


class DecideInput(StepInput):
    power: PowerPart
    state_machine: str | None = None


class WalGuardInput(DecideInput):
    decision: Decision
    wal: WalVerdict | None = None
    settings: Budgets = Field(default_factory=Budgets)
    at: AwareDatetime = Field(default_factory=_now)


class RecordPolls(BaseModel):
    model_config = ConfigDict(extra="ignore")

    compute: ComputeCheck | None = None


class WalSeen(BaseModel):
    model_config = ConfigDict(extra="ignore")

    restart_at: str | None = None


class RecordInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    power: PowerPart
    decision: Decision
    phases: dict[str, PhaseSeen] = Field(default_factory=dict)
    polls: RecordPolls = Field(default_factory=RecordPolls)
    wal: WalSeen | None = None
    at: AwareDatetime = Field(default_factory=_now)


class RestoreInput(TargetInput):
    deep: bool = False


class TimersSent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    outputs: dict[str, Any] = Field(default_factory=dict)


class CheckTimersInput(TargetInput):
    phases: dict[str, TimersSent] = Field(default_factory=dict)


class AwakeDeployment(BaseModel):
    name: str | None = None
    key: str | None = None


class AwakeStack(BaseModel):
    agent_instance_id: str | None = None


class AwakeInput(StepInput):
    """Deep sleep's wake: the started agent, the deployment, and the health loop's state."""

    stack: AwakeStack = Field(default_factory=AwakeStack)
    deployment: AwakeDeployment = Field(default_factory=AwakeDeployment)
    agent: dict[str, Any] | None = None
    settings: AgentBudgets = Field(default_factory=AgentBudgets)


class AtInput(StepInput):
    at: AwareDatetime = Field(default_factory=_now)


class SlotPollInput(PollInput):
    at: AwareDatetime = Field(default_factory=_now)


class CanaryInput(PollInput):
    canary: Heartbeat
    at: AwareDatetime = Field(default_factory=_now)
