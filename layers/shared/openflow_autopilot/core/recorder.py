"""What an ensure phase did, or with apply=False would do: each statement it runs is recorded as an
Action, its notes are kept, and `result` ends the phase with the status the plan and the apply
modes report (planned; changed when it took an action; else unchanged)."""

from __future__ import annotations

from typing import Any, Protocol

from openflow_autopilot.core.results import Action, PhaseResult, utcnow


class Executes(Protocol):
    def execute(self, statement: str) -> Any: ...


class Recorder[S: Executes]:
    def __init__(self, sql: S, apply: bool) -> None:
        self.sql, self.apply = sql, apply
        self.actions: list[Action] = []
        self.notes: list[str] = []

    def do(self, kind: str, target: str, statement: str, *, shown: str | None = None) -> None:
        """Run `statement` (when applying) and record it, or `shown` in its place."""
        if self.apply:
            self.sql.execute(statement)
        self.record(kind, target, shown or statement)

    def record(self, kind: str, target: str, statement: str) -> None:
        self.actions.append(Action(kind=kind, target=target, statement=statement))

    def result(self, phase: str, started: str, outputs: dict[str, Any]) -> PhaseResult:
        status = "planned" if not self.apply else ("changed" if self.actions else "unchanged")
        return PhaseResult(
            phase=phase,
            status=status,
            actions=self.actions,
            notes=self.notes,
            outputs=outputs,
            started_at=started,
            ended_at=utcnow(),
        )
