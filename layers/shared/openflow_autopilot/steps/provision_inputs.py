"""The provisioning states' inputs (the ASL's Parameters), one model per shape: each declares only
what its states read. The wait loops' states (`$.stack`, `$.runtime`, `$.source`, `$.connector`)
are the phases' own poll dicts, carried as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openflow_autopilot.approvals import ApprovalKind
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.phases.agent_checkup import AgentBudgets
from openflow_autopilot.phases.canary import VerifyState
from openflow_autopilot.phases.connector_inputs import PreparedDestination, PreparedSource


class ValidateInput(BaseModel):
    """The execution's input: the request (checked field by field by parse_request), and where a
    ticket or Slack command came from (Notify reports back there)."""

    model_config = ConfigDict(extra="ignore")

    request: Any = None
    origin: dict[str, Any] | None = None


class StepInput(BaseModel):
    """Every state after Validate gets the normalised request."""

    model_config = ConfigDict(extra="ignore")

    request: ProvisionRequest
    execution: str | None = None


class DeploymentPart(BaseModel):
    """`$.phases.Deployment.outputs.deployment`: the deployment's name and key (the key names the
    stack's parameters, its node groups and its agent)."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    key: str | None = None


class DeploymentInput(StepInput):
    deployment: DeploymentPart | None = None


class TemplateInput(DeploymentInput):
    template_s3_uri: str


class PollInput(StepInput):
    max_attempts: int = 120


class CheckStackInput(PollInput):
    deployment: DeploymentPart | None = None
    stack: dict[str, Any]


class AgentStack(BaseModel):
    model_config = ConfigDict(extra="ignore")

    agent_instance_id: str | None = None


class AgentHealthInput(DeploymentInput):
    stack: AgentStack = Field(default_factory=AgentStack)
    agent: dict[str, Any] | None = None
    settings: AgentBudgets = Field(default_factory=AgentBudgets)


class CheckRuntimeInput(PollInput):
    runtime: dict[str, Any] = Field(default_factory=dict)


class Approval(BaseModel):
    """What `openflow-autopilot resume` sent back (SendTaskSuccess's output)."""

    model_config = ConfigDict(extra="ignore")

    approved: bool = False


class RebootSourceInput(StepInput):
    approval: Approval = Field(default_factory=Approval)


class CheckSourceInput(PollInput):
    source: dict[str, Any] = Field(default_factory=dict)


class ConnectorPartsInput(StepInput):
    source: PreparedSource
    destination: PreparedDestination


class ConnectorInput(ConnectorPartsInput):
    runtime: str


class CheckConnectorInput(PollInput):
    connector: dict[str, Any] = Field(default_factory=dict)


class CheckCanaryInput(StepInput):
    verify: VerifyState
    max_attempts: int = 60


class SchedulesInput(StepInput):
    now: str | None = None
    state_machine: str | None = None


class AwaitTemplateInput(StepInput):
    task_token: str
    timeout_seconds: int = 86400


class AwaitApprovalInput(StepInput):
    kind: ApprovalKind
    task_token: str
    source: dict[str, Any] | None = None
    destination: dict[str, Any] | None = None
