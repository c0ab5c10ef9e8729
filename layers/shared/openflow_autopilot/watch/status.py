"""The watch's last runs as a human reads them: the CLI's `watch status` and Slack's `/openflow status`."""

from __future__ import annotations

from typing import Any

from openflow_autopilot.watch.models import ALERTING, WatchRun


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def summary(runs: list[WatchRun]) -> dict[str, Any]:
    """Last runs (oldest first), the heartbeat series and the slot trend, JSON-able."""
    return {
        "runs": [
            {
                "at": r.at.isoformat(),
                "mode": r.mode,
                "severity": r.severity,
                "problems": [f"{f.kind}: {f.message}" for f in r.findings if f.severity in ALERTING],
                "heals": [f"{h.remedy} {h.target}: {h.status_before} -> {h.status_after}" for h in r.heals],
                "alerts_sent": r.alerts_sent,
                "heartbeat_seconds": r.heartbeat_seconds,
                "retained_wal_bytes": r.slot.retained_bytes if r.slot else None,
                "slot_advanced": r.slot.advanced if r.slot else None,
            }
            for r in runs
        ],
        "freshness_seconds": [r.heartbeat_seconds for r in runs if r.mode == "on"],
        "retained_wal_bytes": [r.slot.retained_bytes for r in runs if r.slot is not None],
    }


def text(deployment: str, runs: list[WatchRun]) -> str:
    """A few lines: the latest run's verdict, then one line per run."""
    if not runs:
        return f"{deployment}: the watch has not run yet (its schedule starts it every few minutes)"
    latest = runs[-1]
    lines = [f"{deployment}: {latest.severity} at {latest.at.isoformat()} ({latest.mode})"]
    lines += [f"  {f.severity}: {f.message}" for f in latest.findings if f.severity in ALERTING]
    lines.append("last runs (oldest first): time, severity, heartbeat s, retained WAL, heals")
    for r in runs:
        beat = "-" if r.heartbeat_seconds is None else f"{r.heartbeat_seconds:.1f}"
        heals = ", ".join(h.remedy for h in r.heals) or "-"
        retained = _mib(r.slot.retained_bytes if r.slot else None)
        lines.append(f"  {r.at:%Y-%m-%d %H:%M} {r.severity:8} {beat:>6} {retained:>10}  {heals}")
    return "\n".join(lines)
