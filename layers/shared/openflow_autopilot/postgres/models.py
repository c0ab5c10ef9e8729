"""Results of the source-database steps. Small, secret-free, and JSON-serialisable (`to_json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

Severity = Literal["blocking", "warning"]
WalLevel = Literal["ok", "warning", "critical", "unknown"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


class Finding(_Model):
    """One doctor finding. `id` is stable (tests and automation match on it)."""

    id: str
    severity: Severity
    subject: str = ""  # the table, slot or setting concerned
    evidence: str
    fix: str


class ServerSummary(_Model):
    version: str
    version_num: int
    is_rds: bool
    in_recovery: bool
    database: str
    user: str
    wal_level: str
    rds_logical_replication: str | None
    max_replication_slots: int
    replication_slots_used: int
    max_wal_senders: int
    wal_senders_used: int
    max_slot_wal_keep_size_mb: int | None  # None before PostgreSQL 13; -1 = unlimited


class DoctorReport(_Model):
    server: ServerSummary
    tables: list[str]
    findings: list[Finding]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def blocking(self) -> int:
        return sum(1 for f in self.findings if f.severity == "blocking")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing blocks the prepare step."""
        return self.blocking == 0


class PrepareResult(_Model):
    """What prepare did (or, with planned=True, would do). Never contains the password."""

    database: str
    user: str
    publication: str
    tables: list[str]
    planned: bool
    actions: list[str]
    added_tables: list[str]
    removed_tables: list[str]
    warnings: list[Finding]
    # members of an existing publication nobody requested: kept, since it may be shared (`exact` drops them)
    kept_tables: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changed(self) -> bool:
        return bool(self.actions) and not self.planned


class ReplicationProof(_Model):
    user: str
    publication: str
    slot: str
    change: str  # what was done at the source to produce a change
    seen: list[str]  # decoded pgoutput messages, e.g. "INSERT public.sample_data"
    ok: bool
    message: str


class WalSample(_Model):
    """The server's WAL position at a moment; two samples give the WAL rate."""

    at: datetime
    position_bytes: int


class WalReport(_Model):
    slot: str
    slot_found: bool
    active: bool | None
    wal_status: str | None
    retained_bytes: int | None
    free_storage_bytes: int | None
    rate_bytes_per_second: float | None
    hours_until_storage_full: float | None  # None: unknown or no WAL growth
    hours_until_slot_limit: float | None  # from max_slot_wal_keep_size; None when unlimited/unknown
    level: WalLevel
    message: str
    sample: WalSample  # keep it and pass it back next time to measure the rate

    @computed_field  # type: ignore[prop-decorator]
    @property
    def headroom_hours(self) -> float | None:
        """Hours until the first limit (disk or slot invalidation) at the current WAL rate."""
        known = [h for h in (self.hours_until_storage_full, self.hours_until_slot_limit) if h is not None]
        return min(known) if known else None
