"""What the webhook hands to its asynchronous side, and where a ticket came from.

A Job travels as the payload of an asynchronous invocation of the same function
(`{"openflow_job": {...}}`), so it carries ids and names only: never a secret, a task token or
the original request body.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

JOB_EVENT_KEY = "openflow_job"

JobKind = Literal["setup", "status", "stop", "start", "extend", "cost", "approval", "reply", "comment"]
TicketSystem = Literal["github", "jira", "servicenow"]


class TicketOrigin(BaseModel):
    """Where a provisioning request came from, so progress can be commented back on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: TicketSystem
    delivery_id: str
    ref: str = Field(description="owner/repo#12, PROJ-123, INC0010001")
    url: str | None = Field(None, description="the ticket for humans")
    comment_url: str | None = Field(None, description="where the comment API call goes")


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: JobKind
    requested_at: AwareDatetime
    response_url: str | None = None  # Slack: where results go (valid 30 minutes, 5 posts)
    user_id: str | None = None
    trigger_id: str | None = Field(None, description="Slack's per-command id: makes execution names stable")
    deployment: str | None = None
    request_name: str | None = None
    hours: float | None = None
    approval_id: str | None = None
    approve: bool | None = None
    text: str | None = None
    replace_original: bool = False
    origin: TicketOrigin | None = None

    @model_validator(mode="after")
    def _complete(self) -> Job:
        needs: dict[str, tuple[str, ...]] = {
            "setup": ("request_name", "response_url"),
            "status": ("response_url",),
            "stop": ("deployment", "response_url"),
            "start": ("deployment", "response_url"),
            "extend": ("deployment", "hours", "response_url"),
            "cost": ("deployment", "response_url"),
            "approval": ("approval_id", "approve", "user_id", "response_url"),
            "reply": ("text", "response_url"),
            "comment": ("text", "origin"),
        }
        missing = [f for f in needs[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} job needs {', '.join(missing)}")
        return self
