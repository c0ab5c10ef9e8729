"""One execution's evidence as a user reads it: every statement in order with its phase, role and
time, and every connector configuration version written (config.json and the assets uploaded with
it, and when it was committed)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field

from openflow_autopilot.evidence.models import InvocationEvidence
from openflow_autopilot.snowflake.statement_catalog import Catalog, load_catalog
from openflow_autopilot.snowflake.statement_log import CONFIG_FILE

_COMMIT = re.compile(r"^\s*ALTER\s+OPENFLOW\s+CONNECTOR\s+(?P<name>\S+)\s+COMMIT\b", re.I)


class StatementView(BaseModel):
    at: str
    phase: str
    role: str
    sql: str  # secret literals masked
    ok: bool
    seconds: float
    error: str | None = None
    shape: str | None = None  # the statement catalog's entry it follows (snowflake/statements.yaml)


class AssetView(BaseModel):
    file: str
    size: int | None = None
    sha256: str | None = None
    ok: bool = True


class ConfigVersionView(BaseModel):
    """The files one invocation PUT to a connector's live version: one configuration version."""

    at: str
    phase: str
    connector: str
    version: str
    ok: bool
    config: dict[str, Any] | None = None  # config.json as uploaded (None: only assets were uploaded)
    assets: list[AssetView] = Field(default_factory=list)
    committed_at: str | None = None  # the COMMIT that made it a version, when the same invocation ran it


class ExecutionEvidence(BaseModel):
    snowflake_statements: list[StatementView] = Field(default_factory=list)
    connector_config_versions: list[ConfigVersionView] = Field(default_factory=list)


def _norm_name(name: str) -> str:
    return name.replace('"', "").upper()


def _versions(invocation: InvocationEvidence) -> list[ConfigVersionView]:
    found: dict[tuple[str, str], ConfigVersionView] = {}
    for session in invocation.sessions:
        for f in session.stage_files:
            key = (_norm_name(f.connector), f.version)
            view = found.get(key)
            if view is None:
                view = found[key] = ConfigVersionView(
                    at=f.at, phase=invocation.phase, connector=f.connector, version=f.version, ok=f.ok
                )
            view.ok = view.ok and f.ok
            if f.file == CONFIG_FILE:
                view.config = f.document
            else:
                view.assets.append(AssetView(file=f.file, size=f.size, sha256=f.sha256, ok=f.ok))
    commits = [
        (s.at, _norm_name(m["name"]))
        for session in invocation.sessions
        for s in session.statements
        if s.ok and (m := _COMMIT.match(s.sql))
    ]
    for (connector, _), view in found.items():
        view.committed_at = next((at for at, name in commits if name == connector and at >= view.at), None)
    return list(found.values())


def execution_evidence(
    invocations: list[InvocationEvidence], catalog: Catalog | None = None
) -> ExecutionEvidence:
    catalog = catalog or load_catalog()
    statements = [
        StatementView(
            at=s.at,
            phase=inv.phase,
            role=session.role,
            sql=s.sql,
            ok=s.ok,
            seconds=s.seconds,
            error=s.error,
            shape=(entry.id if (entry := catalog.match(s.sql)) else None),
        )
        for inv in invocations
        for session in inv.sessions
        for s in session.statements
    ]
    versions = [v for inv in invocations for v in _versions(inv)]
    return ExecutionEvidence(
        snowflake_statements=sorted(statements, key=lambda s: s.at),
        connector_config_versions=sorted(versions, key=lambda v: v.at),
    )


def _clock(at: str) -> str:
    return at[11:23] if len(at) >= 23 else at


def render_text(evidence: ExecutionEvidence) -> list[str]:
    """The human-readable listing: one line per statement, then each configuration version."""
    statements = evidence.snowflake_statements
    failed = sum(1 for s in statements if not s.ok)
    lines = [
        f"Snowflake statements: {len(statements)}"
        + (f", {failed} failed" if failed else "")
        + " (secret literals masked; times UTC)"
    ]
    width = max((len(s.phase) for s in statements), default=0)
    role_width = max((len(s.role) for s in statements), default=0)
    for s in statements:
        mark = "ok  " if s.ok else "FAIL"
        lines.append(f"  {_clock(s.at)}  {s.phase:<{width}}  {s.role:<{role_width}}  {mark}  {s.sql}")
        if s.error:
            lines.append(f"  {'':<12}  {'':<{width}}  {'':<{role_width}}        -> {s.error}")
    versions = evidence.connector_config_versions
    lines.append(f"Connector configuration versions written: {len(versions)}")
    for v in versions:
        parts = ["config.json" if v.config is not None else None, *(a.file for a in v.assets)]
        files = ", ".join(p for p in parts if p)
        commit = (
            f", committed at {_clock(v.committed_at)}" if v.committed_at else ", not committed by this phase"
        )
        state = "" if v.ok else " (upload FAILED)"
        lines.append(f"  {_clock(v.at)}  {v.phase}  {v.connector} {v.version}/: {files}{state}{commit}")
        if v.config is not None:
            lines += ["    " + line for line in json.dumps(v.config, indent=2).splitlines()]
    return lines
