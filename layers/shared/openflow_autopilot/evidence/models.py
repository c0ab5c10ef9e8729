"""The evidence one Lambda invocation leaves in S3: its Snowflake sessions' statements and stage files."""

from __future__ import annotations

from pydantic import BaseModel, Field

from openflow_autopilot.snowflake.statement_log import StageFile, StatementRecord


class SessionEvidence(BaseModel):
    role: str
    opened_at: str
    statements: list[StatementRecord] = Field(default_factory=list)
    stage_files: list[StageFile] = Field(default_factory=list)


class InvocationEvidence(BaseModel):
    """Stored at executions/<execution name>/snowflake/<started>-<phase>-<id>.json."""

    execution: str  # the execution's ARN
    phase: str  # the state that ran the function
    started_at: str
    ended_at: str
    error: str | None = None  # the error class the invocation ended with (its ASL error name)
    sessions: list[SessionEvidence] = Field(default_factory=list)
