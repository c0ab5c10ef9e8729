"""The watch's look at Openflow (gen 2): DESC of the deployment, the runtime and the connector; a
documented failed or unhealthy status is a finding with DESCRIBE's error_code/status_message and the
runtime's recent ERROR log lines, and is healed where Snowflake documents a remedy:

- runtime ACTIVATE_FAILED -> RESUME RECOVERY, RESTART_FAILED -> RESTART RECOVERY, UPGRADE_FAILED ->
  UPGRADE RECOVERY (docs.snowflake.com/en/sql-reference/sql/alter-openflow-runtime);
- connector START_FAILED or UPDATE_FAILED -> STOP, then START: only STOP returns it to STOPPED
  (gen2/manage-connector-lifecycle). The committed configuration is started as it is: the watch
  never changes a configuration;
- a deployment that is NOT_REPORTING, NOT_HEALTHY, INACTIVE or failed has no SQL remedy (its agent
  and compute are on AWS): the finding says what to run.

Each remedy runs at most `watch.max_heals` times a day per object; after that the finding alerts
without a heal. Waiting after a remedy is bounded (SYSTEM$WAIT_FOR_OPENFLOW_*_STATUS, then DESC).
A remedy runs only once `may_heal` has taken the deployment's lock (locks.py): when another run
holds it, the finding says so and the next watch run looks again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Final

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.openflow.deployments import DEPLOYMENT_STATUSES, FAILED_DEPLOYMENT_STATUSES
from openflow_autopilot.openflow.names import connector_name, runtime_name
from openflow_autopilot.openflow.statuses import (
    CONNECTOR_CLEARED_BY_STOP,
    CONNECTOR_FAILED,
    RUNTIME_FAILED,
    describe_details,
)
from openflow_autopilot.snowflake.identifiers import literal, qualified, split_qualified
from openflow_autopilot.snowflake.session import Sql
from openflow_autopilot.watch.events import recent_errors, runtime_key
from openflow_autopilot.watch.models import Finding, Heal

RUNTIME_REMEDIES: Final = {
    "ACTIVATE_FAILED": "RESUME RECOVERY",
    "RESTART_FAILED": "RESTART RECOVERY",
    "UPGRADE_FAILED": "UPGRADE RECOVERY",
}
DEPLOYMENT_UNHEALTHY: Final = (
    frozenset({"NOT_REPORTING", "NOT_HEALTHY", "INACTIVE", "DEACTIVATION_REQUIRED"})
    | FAILED_DEPLOYMENT_STATUSES
)
DEPLOYMENT_GONE: Final = frozenset({"DELETING", "DELETED"})
WAIT_SECONDS = 10  # one server-side wait after a remedy
MAX_WAITS = 6  # waits after a remedy before the watch reports what it sees


def _status(row: dict[str, Any] | None) -> str:
    return str((row or {}).get("status") or "MISSING").upper()


def _desc(sql: Sql, statement: str) -> dict[str, Any] | None:
    rows = sql.query(statement)
    return rows[0] if rows else None


def _connector_row(sql: Sql, name: str) -> dict[str, Any] | None:
    db, schema, short = split_qualified(name, 3, "connector")
    if not sql.query(f"SHOW OPENFLOW CONNECTORS LIKE {literal(short)} IN SCHEMA {qualified(db, schema)}"):
        return None
    return _desc(sql, f"DESC OPENFLOW CONNECTOR {name}")


def _await(sql: Sql, kind: str, name: str, want: str, read: Callable[[], str]) -> str:
    """Wait (bounded) for `want`; returns the last status read. A failed wait is not classified by
    its error number (undocumented): the status read after it decides."""
    status = read()
    for attempt in range(MAX_WAITS):
        # right after the command the old failed status may still be read: give up on a failed
        # status only once a wait has passed
        if status == want or (attempt > 0 and status in RUNTIME_FAILED | CONNECTOR_FAILED):
            break
        with contextlib.suppress(PreconditionFailed):
            function = f"SYSTEM$WAIT_FOR_OPENFLOW_{kind}_STATUS"
            sql.query(f"SELECT {function}({WAIT_SECONDS}, {literal(want)}, {literal(name)})")
        status = read()
    return status


class HealBudget:
    """Remedies taken today, per remedy and object (the watch's memory carries the counts)."""

    def __init__(self, counts: dict[str, int], limit: int) -> None:
        self.counts, self.limit = counts, limit

    def spent(self, key: str) -> bool:
        return self.counts.get(key, 0) >= self.limit

    def take(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


MayHeal = Callable[[], "str | None"]  # None: go ahead; else who holds the deployment's lock


def _free() -> str | None:
    return None


def _not_healed(
    kind: str,
    name: str,
    status: str,
    seen: str,
    *,
    remedy: str,
    budget: HealBudget,
    may_heal: MayHeal,
    fix: str,
) -> Finding | None:
    """Why the remedy does not run now (its daily budget is spent, or another run holds the lock),
    or None when it may: the budget is then taken."""
    if budget.spent(f"{kind}:{remedy}"):
        why, fix_now = f"{remedy} already ran {budget.limit}x today", fix
    elif (holder := may_heal()) is not None:
        why, fix_now = (
            f"not healed now: {holder}",
            "nothing yet: the next watch run heals it once that run has ended",
        )
    else:
        budget.take(f"{kind}:{remedy}")
        return None
    return Finding(
        kind=kind,
        severity="critical",
        status=status,
        message=f"{kind} {name} is {status}{seen}; {why}",
        fix=fix_now,
    )


def _outcome(kind: str, name: str, was: str, heal: Heal, *, fixed: str, failed: str) -> tuple[Finding, Heal]:
    """After a remedy: healed (a warning, so a human knows it happened) or not (critical)."""
    finding = Finding(
        kind=kind,
        severity="warning" if heal.ok else "critical",
        status=heal.status_after,
        healed=heal.ok,
        message=f"{kind} {name} {was}; {heal.remedy} -> {heal.status_after}",
        fix=fixed if heal.ok else failed,
    )
    return finding, heal


# --- the deployment ------------------------------------------------------------------------------
def check_deployment(sql: Sql, request: ProvisionRequest) -> tuple[Finding, dict[str, Any]]:
    """The finding, and DESC's row (its comment records the event table, openflow/event_table.py)."""
    name = qualified(request.openflow.deployment_name)
    row = _desc(sql, f"DESC OPENFLOW DEPLOYMENT {name}") or {}
    return _deployment_finding(name, row), row


def _deployment_finding(name: str, row: dict[str, Any]) -> Finding:
    status = _status(row)
    details = describe_details(row)
    if status == "ACTIVE":
        return Finding(
            kind="deployment", severity="ok", status=status, message=f"deployment {name} is ACTIVE"
        )
    if status == "MISSING" or status in DEPLOYMENT_GONE:
        return Finding(
            kind="deployment",
            severity="critical",
            status=status,
            message=f"deployment {name} is {status}{details}",
            fix="re-run the provisioning workflow, or remove the watch (watch.enabled: false)",
        )
    if status in DEPLOYMENT_UNHEALTHY:
        return Finding(
            kind="deployment",
            severity="critical",
            status=status,
            message=f"deployment {name} is {status}{details}: its agent or compute on AWS is not reporting",
            fix="openflow-autopilot doctor agent -c <request> reads the agent's journals and repairs what it "
            "knows; a stopped agent instance is started by `openflow-autopilot start`",
        )
    note = "" if status in DEPLOYMENT_STATUSES else " (a status Snowflake does not document)"
    return Finding(
        kind="deployment",
        severity="info",
        status=status,
        message=f"deployment {name} is {status}{details}{note}: looked at again next run",
    )


# --- the runtime ---------------------------------------------------------------------------------
def _runtime_reader(sql: Sql, name: str) -> Callable[[], str]:
    return lambda: _status(_desc(sql, f"DESC OPENFLOW RUNTIME {name}"))


def check_runtime(
    sql: Sql, request: ProvisionRequest, *, budget: HealBudget, event_table: str, may_heal: MayHeal = _free
) -> tuple[Finding, Heal | None]:
    name = runtime_name(request)
    row = _desc(sql, f"DESC OPENFLOW RUNTIME {name}")
    status = _status(row)
    if status == "ACTIVE":
        return Finding(
            kind="runtime", severity="ok", status=status, message=f"runtime {name} is ACTIVE"
        ), None
    if status not in RUNTIME_FAILED:
        severity = "critical" if status in ("MISSING", "TERMINATED", "SUSPENDED") else "info"
        return (
            Finding(
                kind="runtime",
                severity=severity,
                status=status,
                message=f"runtime {name} is {status} while the pipeline should be on",
                fix="openflow-autopilot start -c <request> resumes it" if status == "SUSPENDED" else None,
            ),
            None,
        )
    # the runtime's key names its event-table namespace: SHOW/DESC's key column when it is there
    key = (
        request.watch.runtime_key
        or str((row or {}).get("key") or "")
        or runtime_key(split_qualified(name, 3, "runtime")[2])
    )
    errors, note = recent_errors(sql, event_table, f"runtime-{key}")
    seen = describe_details(row or {}) + (f"; recent errors: {' | '.join(errors)}" if errors else "")
    seen += f"; {note}" if note else ""
    remedy = RUNTIME_REMEDIES.get(status)
    if remedy is None:
        return (
            Finding(
                kind="runtime",
                severity="critical",
                status=status,
                message=f"runtime {name} is {status}{seen}; Snowflake documents no recovery for it",
                fix="look at the runtime in the Openflow UI and its errors in the event table",
            ),
            None,
        )
    refused = _not_healed(
        "runtime",
        name,
        status,
        seen,
        remedy=remedy,
        budget=budget,
        may_heal=may_heal,
        fix="look at the runtime in the Openflow UI and its errors in the event table",
    )
    if refused is not None:
        return refused, None
    statement = f"ALTER OPENFLOW RUNTIME {name} {remedy}"
    sql.execute(statement)
    after = _await(sql, "RUNTIME", name, "ACTIVE", _runtime_reader(sql, name))
    return _outcome(
        "runtime",
        name,
        f"was {status}{seen}",
        Heal(
            remedy=remedy,
            target=name,
            status_before=status,
            status_after=after,
            statements=[statement],
            ok=after == "ACTIVE",
        ),
        fixed="look at why it failed in the event table",
        failed="look at the runtime in the Openflow UI",
    )


# --- the connector -------------------------------------------------------------------------------
def check_connector(
    sql: Sql, request: ProvisionRequest, *, budget: HealBudget, may_heal: MayHeal = _free
) -> tuple[Finding, Heal | None]:
    name = connector_name(request)
    row = _connector_row(sql, name)
    status = _status(row)
    if status == "RUNNING":
        return Finding(
            kind="connector", severity="ok", status=status, message=f"connector {name} is RUNNING"
        ), None
    details = describe_details(row or {})
    if status not in CONNECTOR_CLEARED_BY_STOP:
        failed = status in CONNECTOR_FAILED or status in ("MISSING", "TERMINATED")
        return (
            Finding(
                kind="connector",
                severity="critical" if failed else "warning" if status == "STOPPED" else "info",
                status=status,
                message=f"connector {name} is {status}{details} while the pipeline should be on",
                fix=(
                    "someone stopped it: openflow-autopilot start -c <request> starts it again"
                    if status == "STOPPED"
                    else "look at the connector in the Openflow UI"
                    if failed
                    else None
                ),
            ),
            None,
        )
    remedy = "STOP then START"
    refused = _not_healed(
        "connector",
        name,
        status,
        details,
        remedy=remedy,
        budget=budget,
        may_heal=may_heal,
        fix="fix the connector's configuration (openflow-autopilot up -c <request> commits it again)",
    )
    if refused is not None:
        return refused, None

    def read() -> str:
        return _status(_desc(sql, f"DESC OPENFLOW CONNECTOR {name}"))

    statements = [f"ALTER OPENFLOW CONNECTOR {name} STOP"]
    sql.execute(statements[0])
    after = _await(sql, "CONNECTOR", name, "STOPPED", read)
    if after == "STOPPED":
        statements.append(f"ALTER OPENFLOW CONNECTOR {name} START")
        sql.execute(statements[1])
        after = _await(sql, "CONNECTOR", name, "RUNNING", read)
    return _outcome(
        "connector",
        name,
        f"was {status}{details}",
        Heal(
            remedy=remedy,
            target=name,
            status_before=status,
            status_after=after,
            statements=statements,
            ok=after == "RUNNING",
        ),
        fixed="it runs again; look at why it failed in the event table",
        failed="fix the connector's configuration (openflow-autopilot up -c <request> commits it again)",
    )
