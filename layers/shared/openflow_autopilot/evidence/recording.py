"""Recording for one Lambda invocation: the handler binds the execution and state named in the event,
every Snowflake session opened meanwhile (snowflake/login.py, the phase entry modules) attaches
itself, and on the way out the sessions' statements are written to S3 as one object.

A phase never fails because its evidence could not be stored (that is logged); the state payload
carries nothing of it: the objects are found by the execution's name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from openflow_autopilot.evidence.models import InvocationEvidence, SessionEvidence
from openflow_autopilot.evidence.store import put_evidence
from openflow_autopilot.snowflake.session import Sql
from openflow_autopilot.snowflake.statement_log import now_iso

logger = logging.getLogger(__name__)


@dataclass
class _Session:
    role: str
    opened_at: str
    sql: Sql


@dataclass
class Run:
    execution: str
    phase: str
    started_at: str = field(default_factory=now_iso)
    sessions: list[_Session] = field(default_factory=list)

    def evidence(self, error: BaseException | None) -> InvocationEvidence:
        return InvocationEvidence(
            execution=self.execution,
            phase=self.phase,
            started_at=self.started_at,
            ended_at=now_iso(),
            error=type(error).__name__ if error is not None else None,
            sessions=[
                SessionEvidence(
                    role=s.role,
                    opened_at=s.opened_at,
                    statements=list(s.sql.records),
                    stage_files=list(s.sql.stage_files),
                )
                for s in self.sessions
            ],
        )


_current: ContextVar[Run | None] = ContextVar("openflow_autopilot_run", default=None)


def run_of(event: Any) -> Run | None:
    """The execution (its ARN, `execution`) and state (`phase`) the state machine passes every task."""
    if not isinstance(event, Mapping):
        return None
    execution, phase = event.get("execution"), event.get("phase")
    if isinstance(execution, str) and execution.startswith("arn:") and isinstance(phase, str) and phase:
        return Run(execution=execution, phase=phase)
    return None


def attach(sql: Sql, role: str) -> None:
    """Record this session's statements with the running invocation's evidence (if there is one)."""
    run = _current.get()
    if run is not None:
        run.sessions.append(_Session(role=role, opened_at=now_iso(), sql=sql))


def _s3() -> Any:
    from openflow_autopilot.aws.clients import client

    return client("s3")


@contextmanager
def recording(event: Any, *, bucket: str | None, s3: Callable[[], Any] = _s3) -> Iterator[Run | None]:
    """Bind the invocation named by `event`; store what its sessions sent once it ends (also when it
    fails). Without an execution in the event (a CLI run) or a bucket, nothing is stored."""
    run = run_of(event)
    if run is None:
        yield None
        return
    token = _current.set(run)
    error: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        _current.reset(token)
        if run.sessions and bucket:
            _store(run, error, bucket, s3)


def _store(run: Run, error: BaseException | None, bucket: str, s3: Callable[[], Any]) -> None:
    try:
        key = put_evidence(s3(), bucket, run.evidence(error))
    except Exception as exc:  # evidence must never mask the phase's own outcome
        logger.warning("Snowflake statements of %s were not stored: %s", run.phase, str(exc)[:300])
        return
    logger.info("Snowflake statements of %s stored at s3://%s/%s", run.phase, bucket, key)
