"""`openflow-autopilot demo`: the provisioning state machine end to end in the sandbox."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.live import Live
from rich.table import Table

from openflow_autopilot.evidence.store import evidence_prefix, load_evidence
from openflow_autopilot.evidence.view import ExecutionEvidence, execution_evidence
from openflow_autopilot_cli.executions import ExecutionReport, PhaseReport, StateEvent, build_report, follow
from openflow_sandbox.environment import EXAMPLE_REQUEST, REGION, Sandbox

# What the emulation received (statements, connector stage files), for debugging the sandbox.
DEFAULT_SANDBOX_DIR = Path("build/sandbox")


class _Progress:
    """Live view of the states as they start and end (plain lines when not on a terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Live | None = (
            Live(self._table(), console=console, refresh_per_second=8) if console.is_terminal else None
        )

    def _table(self) -> Table:
        table = Table(title="provisioning", expand=False)
        table.add_column("state")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        for name, row in self.rows.items():
            took = f"{row['seconds']:.2f}" if row.get("seconds") is not None else ""
            table.add_row(name, row["status"], took)
        return table

    def __call__(self, ev: StateEvent) -> None:
        if ev.kind != "failed" and ev.state_type not in ("Task", "Wait", "Map", "Parallel"):
            return  # Choice/Pass/Succeed/Fail states are bookkeeping, not progress
        if ev.kind == "entered":
            self.rows[ev.state] = {"status": "running", "start": ev.at}
            if self.live is None:
                self.console.print(f"→ {ev.state} started")
        elif ev.kind == "exited" and ev.state in self.rows:
            row = self.rows[ev.state]
            row["seconds"] = (ev.at - row["start"]).total_seconds()
            if row["status"] == "running":
                row["status"] = "done"
            if self.live is None:
                self.console.print(f"✓ {ev.state} {row['status']} in {row['seconds']:.2f}s")
        elif ev.kind == "failed":
            running = [n for n, r in self.rows.items() if r["status"] == "running"]
            if running:
                self.rows[running[-1]]["status"] = f"error: {ev.detail}"
            if self.live is None:
                self.console.print(f"✗ {running[-1] if running else '?'}: {ev.detail}")
        if self.live is not None:
            self.live.update(self._table())

    def __enter__(self) -> _Progress:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)


def run_provisioning(
    sandbox: Sandbox,
    request: dict[str, Any],
    *,
    name: str | None = None,
    console: Console | None = None,
    timeout_seconds: float = 600,
) -> ExecutionReport:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    name = name or f"{request.get('name', 'demo')}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    arn = sfn.start_execution(
        stateMachineArn=sandbox.provision_arn, name=name, input=json.dumps({"request": request})
    )["executionArn"]
    progress = _Progress(console) if console is not None else None
    if progress is not None:
        with progress:
            description, events = follow(sfn, arn, on_event=progress, timeout_seconds=timeout_seconds)
    else:
        description, events = follow(sfn, arn, timeout_seconds=timeout_seconds)
    return build_report(description, events)


def _what_it_did(phase: PhaseReport, most: int = 4) -> str:
    """A few lines per phase: the first actions (and how many more), then the first notes."""
    if phase.error:
        return phase.error[:300]
    lines = [f"{a['kind']}: {a['target']}" for a in phase.actions[:most]]
    if len(phase.actions) > most:
        lines.append(f"(+{len(phase.actions) - most} more actions)")
    if not phase.actions:
        lines.append("no change needed")
    lines += [n if len(n) <= 120 else n[:117] + "..." for n in phase.notes[:2]]
    if phase.attempts > 1:
        lines.append(f"{phase.attempts} checks")
    return "\n".join(lines)


def print_summary(console: Console, report: ExecutionReport, wall_seconds: float) -> None:
    table = Table(title=f"provisioning {report.status}")
    table.add_column("phase")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("what it did")
    for phase in report.phases:
        table.add_row(phase.name, phase.status, f"{phase.seconds or 0:.2f}", _what_it_did(phase))
    console.print(table)
    console.print(f"execution: {report.execution_arn}")
    console.print(f"{report.state_transitions} state transitions, {wall_seconds:.1f}s wall time")
    if report.status != "SUCCEEDED":
        console.print(f"[red]{report.error}: {report.cause}[/red]")


# The seed's story: the template doctor reports the ensure-ecr-repo.sh defect but the stack runs the
# template as downloaded, so the agent gets stuck and agent health diagnoses and repairs it.
SCENARIOS: dict[str, dict[str, str]] = {"seed": {"openflow__template_repair": "report"}, "repaired": {}}


def _power_rehearsal(console: Console, sandbox: Sandbox, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The schedules the provisioning created, then one scheduled stop and the next start (with
    `schedule.sleep: deep`, of the whole data plane); one object per run for the report."""
    from openflow_sandbox.power_rehearsal import rehearse

    sleep = (request.get("schedule") or {}).get("sleep", "runtime")
    with console.status(f"power ({sleep} sleep): a scheduled stop, then the next morning's start..."):
        rehearsal = rehearse(sandbox, request, sandbox.compute)
    runs = [run.summary() for run in rehearsal.runs]
    table = Table(title=f"power schedule rehearsal ({sleep} sleep)")
    for column in (
        "action",
        "status",
        "agent",
        "deployment",
        "runtime",
        "connector",
        "node groups",
        "canary s",
    ):
        table.add_column(column)
    for run in runs:
        sizes = ", ".join(f"{name.rsplit('-', 2)[-2]}={size}" for name, size in run["node_groups"].items())
        canary = run.get("canary_seconds")
        table.add_row(
            run["action"],
            run["status"],
            run["agent_instance"],
            run["deployment"],
            run["runtime"],
            run["connector"],
            sizes,
            "-" if canary is None else f"{canary:.1f}",
        )
    console.print(table)
    return runs


def _measured_cost(console: Console, sandbox: Sandbox, request: dict[str, Any]) -> dict[str, Any]:
    """`cost --measured` for the last whole month, from the emulation's ACCOUNT_USAGE rows and
    moto's Cost Explorer results."""
    from openflow_sandbox.measured_cost import rehearse_measured_cost

    measured = rehearse_measured_cost(sandbox, request)
    console.print(
        f"measured cost {measured.get('month')}: Snowflake ${measured.get('snowflake_usd')} + "
        f"AWS ${measured.get('aws_usd')} = ${measured.get('total_usd')} (exit {measured['exit_code']})"
    )
    return measured


def _digest(
    console: Console, sandbox: Sandbox, request: dict[str, Any], measured: dict[str, Any]
) -> dict[str, Any]:
    """The weekly digest the deployment's schedule sends next: its week holds the power rehearsal's
    records; the week's usage is seeded (hours the measured month already seeded are kept)."""
    from openflow_autopilot.cost.period import measured_period
    from openflow_sandbox.digest_rehearsal import rehearse_digest

    month = measured.get("month")
    loaded_until = measured_period(month, datetime.now(UTC)).end if isinstance(month, str) else None
    digest = rehearse_digest(sandbox, request, loaded_until=loaded_until)
    if digest["status"] != "SENT":
        console.print(f"weekly digest: {digest['status']} {digest.get('error')}: {digest.get('message')}")
        return digest
    console.print(f"weekly digest, sent {digest['fired_at']} to {', '.join(digest['delivered_to'])}:")
    console.print(digest["text"], markup=False, highlight=False)
    return digest


def _watch_rehearsal(console: Console, sandbox: Sandbox, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The watch after provisioning: healthy, a failed connector and a failed runtime healed, a
    stalled slot and a short WAL budget alerted once, identical runs silent, and asleep, the early
    wake; one object per run for the report."""
    from openflow_sandbox.watch_rehearsal import rehearse

    with console.status("watch: a connector failure, a stalled slot, a short WAL budget..."):
        runs = [run.summary() for run in rehearse(sandbox, request, asleep=True)]
    table = Table(title="watch rehearsal")
    for column in (
        "step",
        "severity",
        "findings (warning or worse)",
        "heals",
        "alerts",
        "heartbeat s",
        "woke",
    ):
        table.add_column(column)
    for run in runs:
        bad = ", ".join(
            f"{f['kind']}={f['severity']}"
            for f in run["findings"]
            if f["severity"] in ("warning", "critical")
        )
        beat = "-" if run["heartbeat_seconds"] is None else f"{run['heartbeat_seconds']:.1f}"
        table.add_row(
            run["step"],
            run["severity"],
            bad or "-",
            ", ".join(run["heals"]) or "-",
            str(run["alerts_sent"]),
            beat,
            "power start" if run["woke"] else "-",
        )
    console.print(table)
    return runs


def run_evidence(sandbox: Sandbox, execution_arn: str) -> ExecutionEvidence:
    """What the execution's phases stored in S3: their Snowflake statements and connector configurations
    (the same objects `openflow-autopilot report` reads)."""
    s3 = boto3.client("s3", region_name=REGION)
    return execution_evidence(load_evidence(s3, sandbox.artifact_bucket, execution_arn))


def _print_evidence(
    console: Console, sandbox: Sandbox, report: ExecutionReport, evidence: ExecutionEvidence
) -> None:
    statements = evidence.snowflake_statements
    failed = sum(1 for s in statements if not s.ok)
    console.print(
        f"{len(statements)} Snowflake statements ({failed} failed) and "
        f"{len(evidence.connector_config_versions)} connector configuration version(s) recorded at "
        f"s3://{sandbox.artifact_bucket}/{evidence_prefix(report.execution_arn)} "
        f"(openflow-autopilot report {report.execution_arn})"
    )


def demo(
    *,
    report_path: Path | None,
    request_path: Path = EXAMPLE_REQUEST,
    console: Console | None = None,
    scenario: str = "seed",
    sandbox_dir: Path | None = DEFAULT_SANDBOX_DIR,
) -> int:
    console = console or Console()
    t0 = time.perf_counter()
    with console.status("starting the sandbox (moto, Snowflake emulation, PostgreSQL)..."):
        sandbox = Sandbox(record_dir=sandbox_dir).start()
    try:
        console.print(f"sandbox up in {sandbox.timings.seconds['total']:.2f}s")
        report = run_provisioning(
            sandbox, sandbox.request(request_path, **SCENARIOS[scenario]), console=console
        )
        print_summary(console, report, time.perf_counter() - t0)
        evidence = run_evidence(sandbox, report.execution_arn)
        _print_evidence(console, sandbox, report, evidence)
        watch: list[dict[str, Any]] = []
        power: list[dict[str, Any]] = []
        measured: dict[str, Any] = {}
        digest: dict[str, Any] = {}
        if report.status == "SUCCEEDED":
            # the power rehearsal first: its scheduled stop and start are at set dates, and the watch's
            # asleep run ends with a manual stop and an early start, which hold until the next schedule
            power = _power_rehearsal(console, sandbox, sandbox.request(request_path, **SCENARIOS[scenario]))
            watch = _watch_rehearsal(console, sandbox, sandbox.request(request_path, **SCENARIOS[scenario]))
            measured = _measured_cost(console, sandbox, sandbox.request(request_path, **SCENARIOS[scenario]))
            digest = _digest(console, sandbox, sandbox.request(request_path, **SCENARIOS[scenario]), measured)
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            data = report.model_dump(mode="json") | evidence.model_dump(mode="json")
            data["power_rehearsal"] = power
            data["watch_rehearsal"] = watch
            data["measured_cost"] = measured
            data["digest"] = digest
            report_path.write_text(json.dumps(data, indent=2))
            console.print(f"report written to {report_path}")
        if sandbox_dir is not None:
            console.print(f"what the Snowflake emulation received: {sandbox_dir}/")
        return 0 if report.status == "SUCCEEDED" else 1
    finally:
        sandbox.stop()
