"""What one watch run sees, does and remembers: small JSON-able models (they travel in the state
machine's payload and are stored in S3)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from openflow_autopilot.postgres.models import WalSample

Severity = Literal["ok", "info", "warning", "critical"]
SEVERITY_ORDER: dict[str, int] = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
ALERTING: frozenset[str] = frozenset({"warning", "critical"})  # info is recorded, never sent
Mode = Literal["on", "asleep", "skip"]


def worst(severities: list[str]) -> Severity:
    best: Severity = "ok"
    for s in severities:
        if SEVERITY_ORDER.get(s, 0) > SEVERITY_ORDER[best]:
            best = s  # type: ignore[assignment]
    return best


class Finding(BaseModel):
    """One thing the watch saw. `kind` names the check (deployment, runtime, connector, freshness,
    slot_stalled, wal_retained, wal_budget, slot_lost, ...); `fix` is what a human should do."""

    kind: str
    severity: Severity
    message: str
    fix: str | None = None
    status: str | None = None  # the documented status it read, where there is one
    healed: bool = False  # a remedy ran and the object is back in a good status


class Heal(BaseModel):
    """One remedy the watch took (documented statements only; never a configuration change)."""

    remedy: str  # e.g. "RESUME RECOVERY", "STOP then START"
    target: str
    status_before: str
    status_after: str | None = None
    statements: list[str] = Field(default_factory=list)
    ok: bool = False


class Heartbeat(BaseModel):
    """A heartbeat row written at the source (the canary table), waiting to be seen in Snowflake."""

    id: str
    written_at: AwareDatetime
    seen_at: AwareDatetime | None = None
    latency_seconds: float | None = None


class SlotReading(BaseModel):
    slot: str
    found: bool
    active: bool | None = None
    wal_status: str | None = None
    retained_bytes: int | None = None
    confirmed_bytes: int | None = None
    current_bytes: int | None = None
    advanced: bool | None = None  # confirmed_flush_lsn moved since the previous reading
    free_storage_bytes: int | None = None
    rate_bytes_per_second: float | None = None
    hours_until_full: float | None = None
    at: AwareDatetime


class WatchRun(BaseModel):
    """One run's record (watch/<deployment>/runs/<at>.json)."""

    deployment: str
    at: AwareDatetime
    mode: Mode
    findings: list[Finding] = Field(default_factory=list)
    heals: list[Heal] = Field(default_factory=list)
    heartbeat_seconds: float | None = None  # this run's heartbeat (None: not seen within the run)
    slot: SlotReading | None = None
    severity: Severity = "ok"
    alerts_sent: int = 0
    alert: str | None = None  # the subject of what was sent ("" when nothing was)
    woke: str | None = None  # the power execution started early because the WAL budget ran short
    execution: str | None = None


class WatchMemory(BaseModel):
    """What the watch remembers between runs (watch/<deployment>/state.json)."""

    model_config = ConfigDict(extra="ignore")

    deployment: str
    alerted_severity: Severity = "ok"  # the severity of the last alert sent ("ok": none pending)
    alerted_kinds: list[str] = Field(default_factory=list)
    heals: dict[str, dict[str, int]] = Field(default_factory=dict)  # {YYYY-MM-DD: {remedy: count}}
    pending: list[Heartbeat] = Field(default_factory=list)  # heartbeats not seen yet (oldest first)
    breaches: int = 0  # freshness SLO breaches in a row
    last_slot: SlotReading | None = None
    last_slot_at: AwareDatetime | None = None
    wal_sample: WalSample | None = None
    woke_at: AwareDatetime | None = None


# --- what one run's states hand each other (statemachines/watch.asl.json) ---------------------------
class WatchPart(BaseModel):
    """`$.watch`: Load's verdict on the run."""

    deployment: str
    mode: Mode = "on"
    why: str = ""
    now: AwareDatetime
    execution: str | None = None


class OpenflowPart(BaseModel):
    """`$.openflow`: CheckOpenflow's findings, the remedies it ran and today's counts."""

    findings: list[Finding] = Field(default_factory=list)
    heals: list[Heal] = Field(default_factory=list)
    heal_counts: dict[str, dict[str, int]] = Field(default_factory=dict)


class FreshnessPart(BaseModel):
    """`$.freshness`: CheckHeartbeat's looks so far."""

    polls: int = 0
    done: bool = False
    heartbeat_seconds: float | None = None
    seen: list[Heartbeat] = Field(default_factory=list)
    pending: list[Heartbeat] = Field(default_factory=list)


class SlotPart(BaseModel):
    """`$.slot`: CheckSlot's reading, its findings, whether to wake the pipeline, the WAL sample."""

    reading: SlotReading
    findings: list[Finding] = Field(default_factory=list)
    wake: bool = False
    wal_sample: WalSample


class WokePart(BaseModel):
    """`$.woke`: the power execution WakeEarly started."""

    execution: str


class StepError(BaseModel):
    """`$.error`: what a failed state's Catch left (Step Functions' Error and Cause)."""

    model_config = ConfigDict(populate_by_name=True)

    error: str = Field("", alias="Error")
    cause: str = Field("", alias="Cause")
