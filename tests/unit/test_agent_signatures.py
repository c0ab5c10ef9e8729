"""Each known failure, recognised in realistic agent journals (noise, ANSI codes, multi-line entries)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

from openflow_autopilot.openflow.agent.diagnose import diagnose
from openflow_autopilot.openflow.agent.markers import render_collected_output
from openflow_autopilot.openflow.agent.models import Diagnosis
from openflow_autopilot.openflow.agent.repositories import OPENFLOW_REPOSITORIES
from openflow_autopilot.openflow.agent.signatures import CATALOG, Severity

JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journals"
NOW = datetime(2025, 6, 23, 10, 0, tzinfo=UTC)
ORDER = ("timers", "units", "sync-images", "apply-infrastructure", "docker", "cloud-init")
HOST = "ip-10-10-6-22.ap-northeast-1.compute.internal"


def collected(*scenarios: str, extra: dict[str, str] | None = None) -> str:
    """The collection script's output for the fixture journals of the given scenarios."""
    sections: dict[str, str] = {}
    for scenario in scenarios:
        for path in sorted((JOURNALS / scenario).glob("*.log")):
            sections[path.stem] = sections.get(path.stem, "") + path.read_text(encoding="utf-8")
    for name, text in (extra or {}).items():
        sections[name] = sections.get(name, "") + text
    return render_collected_output({n: sections[n] for n in ORDER if n in sections}, time=NOW)


def ids(diagnosis: Diagnosis, *severities: Severity) -> set[str]:
    return {f.id for f in diagnosis.findings if not severities or f.severity in severities}


def test_the_seeds_missing_repositories_are_named_from_docker_sync_and_cloud_init_journals() -> None:
    diagnosis = diagnose(collected("ecr-missing"), now=NOW)
    finding = diagnosis.finding("ECR_REPOSITORY_MISSING")
    assert finding is not None and finding.severity is Severity.ERROR
    assert finding.remediation == "create_missing_ecr_repositories"
    # the docker journal alone names three; ensure-ecr-repo.sh's errors in cloud-init name all ten
    assert set(finding.missing_repositories) == set(OPENFLOW_REPOSITORIES)
    assert {r.state for r in finding.repositories} == {"not checked"}
    assert {e.section for e in finding.evidence} >= {"docker", "sync-images", "cloud-init"}
    assert any("does not exist in the registry with id 'xxxxxxxxxxxx'" in e.text for e in finding.evidence)
    assert all(e.timestamp is not None for e in finding.evidence if e.section == "docker")
    assert "rule OFD001" in finding.explanation  # the bash error points at the template's bug
    assert diagnosis.state == "failing" and not diagnosis.healthy
    assert "runtime-operator" in diagnosis.summary


def test_the_docker_journal_alone_names_only_the_repositories_pushed_to() -> None:
    diagnosis = diagnose(
        collected(extra={"docker": (JOURNALS / "ecr-missing" / "docker.log").read_text()}), now=NOW
    )
    finding = diagnosis.finding("ECR_REPOSITORY_MISSING")
    assert finding is not None
    assert finding.missing_repositories == [
        "snowflake-openflow/openflow-data-plane-agent-aws",
        "snowflake-openflow/runtime-operator",
        "snowflake-openflow/openflow-runtime-gateway",
    ]
    assert finding.count == 21  # each "Upload failed" and "Attempting next endpoint" line counts once
    assert "UNKNOWN_ERROR" not in ids(diagnosis)  # the level=warning "failed to ..." line is no error


def test_a_failed_service_run_caused_by_a_missing_repository_is_only_a_warning() -> None:
    diagnosis = diagnose(collected("ecr-missing"), now=NOW)
    service = diagnosis.finding("SERVICE_RUN_FAILED")
    assert service is not None and service.severity is Severity.WARNING
    assert service.explanation.startswith("Caused by ECR_REPOSITORY_MISSING")
    assert service.subjects == ["openflow-apply-infrastructure.service"]


def test_an_oauth_failure_and_refused_registry_logins_are_an_authentication_finding_without_remediation() -> (
    None
):
    diagnosis = diagnose(collected("auth-failure"), now=NOW)
    finding = diagnosis.finding("IMAGE_SYNC_AUTH_FAILED")
    assert finding is not None and finding.severity is Severity.ERROR
    assert finding.remediation is None
    assert "snowflake-oauth2-<data plane key>" in finding.explanation
    assert "OAuth token" in finding.subjects
    # the Snowflake CLI's boxed error panel (ANSI-coloured, one journal entry per line) is one entry
    panel = next(e for e in finding.evidence if "Invalid OAuth access token" in e.text)
    assert panel.text.startswith("╭─ Error") and "\x1b" not in panel.text
    assert ids(diagnosis, Severity.ERROR) == {"IMAGE_SYNC_AUTH_FAILED"}


def test_terraform_helm_and_kubectl_errors_in_the_apply_journal_are_one_finding_naming_the_tools() -> None:
    diagnosis = diagnose(collected("apply-failure"), now=NOW)
    finding = diagnosis.finding("APPLY_INFRASTRUCTURE_FAILED")
    assert finding is not None and finding.severity is Severity.ERROR
    assert finding.subjects == ["terraform", "helm", "kubectl"]
    terraform = finding.evidence[0]
    assert terraform.timestamp == datetime(2025, 6, 23, 9, 19, 42, tzinfo=UTC)
    # terraform's ANSI-coloured box, logged line by line, is quoted whole
    assert terraform.text.splitlines()[:2] == [
        "╷",
        "│ Error: creating EKS Cluster (openflow-abc123): operation error EKS: CreateCluster, https "
        "response error StatusCode: 400, RequestID: 7c1e2f4a-93d1-4f5e-8a0b-2d6c9e1f3a57, "
        "UnsupportedAvailabilityZoneException: Cannot create cluster 'openflow-abc123' because "
        "us-east-1e, the targeted availability zone, does not currently have sufficient capacity to "
        "support the cluster.",
    ]
    assert "main.tf line 35" in terraform.text
    assert any(e.text == "Error: INSTALLATION FAILED: context deadline exceeded" for e in finding.evidence)
    assert finding.first_seen is not None and finding.last_seen is not None
    assert finding.first_seen < finding.last_seen


def test_a_cloud_init_failure_names_the_failed_downloads_and_the_script_exit_code() -> None:
    diagnosis = diagnose(collected("cloud-init-failure"), now=NOW)
    finding = diagnosis.finding("CLOUD_INIT_FAILED")
    assert finding is not None and finding.severity is Severity.ERROR
    assert {"curl", "dnf", "unzip", "/var/lib/cloud/instance/scripts/part-001 exited 127"} <= set(
        finding.subjects
    )
    assert any(
        e.text.startswith("Failed running /var/lib/cloud/instance/scripts/part-001") for e in finding.evidence
    )


def test_an_unknown_error_is_reported_verbatim_with_its_whole_traceback() -> None:
    diagnosis = diagnose(collected("cloud-init-failure"), now=NOW)
    unknown = diagnosis.finding("UNKNOWN_ERROR")
    assert unknown is not None and unknown.severity is Severity.ERROR
    [evidence] = unknown.evidence
    assert evidence.text.splitlines() == [
        "Traceback (most recent call last):",
        'File "/usr/bin/snow", line 5, in <module>',
        "from snowflake.cli._app.__main__ import main",
        "ModuleNotFoundError: No module named 'snowflake.cli'",
    ]


def test_unknown_error_lines_are_deduplicated_counted_and_never_dropped() -> None:
    lines = [
        f"2025-06-23T06:1{i % 10}:00+0000 {HOST} sync-images.sh[{100 + i}]: "
        f'level=error msg="quota check {i} failed"'
        for i in range(3)
    ] + [f"2025-06-23T06:20:00+0000 {HOST} sync-images.sh[7]: Error: the disk /dev/xvda is full"] * 4
    diagnosis = diagnose(collected(extra={"sync-images": "\n".join(lines)}), now=NOW)
    unknown = diagnosis.finding("UNKNOWN_ERROR")
    assert unknown is not None
    assert unknown.count == 7
    assert [(e.text, e.count) for e in unknown.evidence] == [
        ("quota check 2 failed", 3),  # numbers aside, the three lines are one
        ("Error: the disk /dev/xvda is full", 4),
    ]


def test_a_healthy_journal_has_no_error_or_warning_finding() -> None:
    diagnosis = diagnose(collected("healthy"), now=NOW)
    assert diagnosis.state == "healthy" and diagnosis.healthy
    assert ids(diagnosis, Severity.ERROR, Severity.WARNING) == set()
    assert ids(diagnosis) == {"AGENT_HEALTHY"}
    assert diagnosis.agent_success_at == datetime(2025, 6, 23, 6, 59, 31, tzinfo=UTC)
    assert diagnosis.summary.startswith("Healthy: the agent reported 'All resources applied successfully'")


def test_errors_older_than_the_agents_success_line_are_shown_as_resolved() -> None:
    old_failure = (JOURNALS / "apply-failure" / "apply-infrastructure.log").read_text()
    success = f"2025-06-23T09:55:00+0000 {HOST} apply-infrastructure.sh[70001]: "
    success += "All resources applied successfully\n"
    diagnosis = diagnose(collected(extra={"apply-infrastructure": old_failure + success}), now=NOW)
    apply = diagnosis.finding("APPLY_INFRASTRUCTURE_FAILED")
    assert apply is not None and apply.resolved and apply.severity is Severity.INFO
    assert apply.remediation is None
    assert diagnosis.state == "healthy"


def test_a_journal_without_errors_or_success_yet_is_progressing() -> None:
    lines = f"2025-06-23T06:05:00+0000 {HOST} sync-images.sh[5]: Logging in to local private ECR...\n"
    diagnosis = diagnose(collected(extra={"sync-images": lines}), now=NOW)
    assert diagnosis.state == "progressing" and not diagnosis.healthy
    assert diagnosis.findings == []


def test_inactive_timers_are_a_warning_with_the_command_that_starts_them() -> None:
    diagnosis = diagnose(collected("healthy", "timers-inactive"), now=NOW)
    timers = diagnosis.finding("TIMERS_INACTIVE")
    assert timers is not None and timers.severity is Severity.WARNING
    assert timers.subjects == ["openflow-sync-images.timer", "openflow-apply-infrastructure.timer"]
    assert timers.remediation is None and "systemctl enable --now" in timers.explanation


def test_timers_are_read_from_systemctl_status_when_systemctl_show_is_missing() -> None:
    status = (JOURNALS / "timers-inactive" / "timers.log").read_text()
    missing = "Unit openflow-apply-infrastructure.timer could not be found.\n"
    healthy = (JOURNALS / "healthy" / "apply-infrastructure.log").read_text()
    diagnosis = diagnose(
        collected(extra={"timers": status + missing, "apply-infrastructure": healthy}), now=NOW
    )
    timers = diagnosis.finding("TIMERS_INACTIVE")
    assert timers is not None
    assert any("Active: inactive (dead)" in e.text for e in timers.evidence)
    assert any("could not be found" in e.text for e in timers.evidence)


def test_an_image_missing_from_ecr_is_a_warning_with_a_service_rerun() -> None:
    line = (
        f"2025-06-23T06:15:40+0000 {HOST} apply-infrastructure.sh[3]: docker: Error response from daemon: "
        "manifest for 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/snowflake-openflow/"
        "openflow-data-plane-agent-aws:0.6.3 not found: manifest unknown: Requested image not found."
    )
    diagnosis = diagnose(collected(extra={"apply-infrastructure": line}), now=NOW)
    finding = diagnosis.finding("IMAGE_NOT_YET_SYNCED")
    assert finding is not None and finding.severity is Severity.WARNING
    assert finding.remediation == "rerun_agent_services"


def test_an_iam_denial_names_the_action() -> None:
    line = (
        f"2025-06-23T06:15:40+0000 {HOST} sync-images.sh[3]: An error occurred (AccessDeniedException) when "
        "calling the DescribeImages operation: User: arn:aws:sts::123456789012:assumed-role/"
        "openflow-agent-role/i-0abc is not authorized to perform: ecr:DescribeImages on resource: "
        "arn:aws:ecr:ap-northeast-1:123456789012:repository/snowflake-openflow/runtime-operator-chart"
    )
    finding = diagnose(collected(extra={"sync-images": line}), now=NOW).finding(
        "AGENT_ROLE_PERMISSION_DENIED"
    )
    assert finding is not None and finding.subjects == ["ecr:DescribeImages"]


def test_empty_output_is_a_could_not_read_finding() -> None:
    diagnosis = diagnose("", now=NOW)
    assert diagnosis.state == "unreadable"
    [finding] = diagnosis.findings
    assert finding.id == "JOURNAL_UNREADABLE" and finding.severity is Severity.ERROR
    assert "no output" in finding.explanation


def test_binary_garbage_is_a_could_not_read_finding_not_a_crash() -> None:
    garbage = random.Random(7).randbytes(300_000).decode("utf-8", errors="replace")
    for text in (garbage, render_collected_output({"docker": garbage, "sync-images": garbage})):
        diagnosis = diagnose(text, now=NOW)
        assert diagnosis.state == "unreadable"
        assert ids(diagnosis, Severity.ERROR) == {"JOURNAL_UNREADABLE"}
        json.dumps(diagnosis.model_dump(mode="json"))  # still a JSON-able diagnosis


def test_text_without_sections_or_log_lines_cannot_be_read() -> None:
    diagnosis = diagnose("Welcome to Amazon Linux 2023\nno journals here\n", now=NOW)
    assert diagnosis.state == "unreadable"
    assert "no recognisable log line" in diagnosis.summary


def test_journals_with_no_entries_yet_are_reported_as_empty() -> None:
    text = render_collected_output({"sync-images": "-- No entries --", "docker": "-- No entries --"})
    diagnosis = diagnose(text, now=NOW)
    assert diagnosis.state == "unreadable"
    assert "empty" in diagnosis.summary


def test_a_10_mb_output_is_cut_with_a_notice_and_the_error_at_its_end_is_still_found() -> None:
    noise = (
        f'2025-06-23T06:12:24+0000 {HOST} dockerd[27020]: time="2025-06-23T06:12:24.48Z" level=info '
        'msg="ignoring event" container=4f1c2d9e module=libcontainerd namespace=moby topic=/tasks/delete\n'
    )
    error = (
        f'2025-06-23T06:12:25+0000 {HOST} dockerd[27020]: level=error msg="Upload failed: name unknown: '
        "The repository with name 'snowflake-openflow/runtime-operator' does not exist in the registry with "
        "id '123456789012'\"\n"
    )
    text = render_collected_output({"docker": noise * (10_000_000 // len(noise)) + error}, time=NOW)
    assert len(text) >= 10_000_000
    diagnosis = diagnose(text, now=NOW)
    cut = diagnosis.finding("OUTPUT_TRUNCATED")
    assert cut is not None and cut.severity is Severity.INFO
    assert "analysed its first" in cut.explanation
    assert diagnosis.finding("ECR_REPOSITORY_MISSING") is not None


def test_every_catalog_signature_has_an_explanation_and_a_known_severity() -> None:
    for signature in CATALOG.values():
        assert signature.id.isupper() and len(signature.explanation) > 40
        assert signature.severity in set(Severity)


def test_a_repository_not_found_line_without_a_name_still_fails_until_ecr_is_checked() -> None:
    line = (
        f"2025-06-23T06:12:01+0000 {HOST} sync-images.sh[3]: An error occurred (RepositoryNotFoundException) "
        "when calling the DescribeImages operation"
    )
    finding = diagnose(collected(extra={"sync-images": line}), now=NOW).finding("ECR_REPOSITORY_MISSING")
    assert finding is not None and finding.severity is Severity.ERROR and not finding.resolved
    assert finding.missing_repositories == []  # the remediation asks ECR which ones


def test_a_repository_created_by_someone_else_first_is_benign_not_an_unknown_error() -> None:
    """The first-boot script and a repair racing to create the same repository: the loser's
    RepositoryAlreadyExistsException (an untimestamped cloud-init line) must not keep the agent
    from being healthy."""
    race = (
        "An error occurred (RepositoryAlreadyExistsException) when calling the CreateRepository operation: "
        "The repository with name 'snowflake-openflow/runtime-server' already exists in the registry with "
        "id '123456789012'\n"
    )
    diagnosis = diagnose(collected("healthy", extra={"cloud-init": race}), now=NOW)
    assert diagnosis.state == "healthy", diagnosis.summary
    found = diagnosis.finding("ECR_REPOSITORY_ALREADY_EXISTS")
    assert found is not None and found.severity is Severity.INFO
    assert "snowflake-openflow/runtime-server" in json.dumps(found.model_dump(mode="json"))
    assert "UNKNOWN_ERROR" not in ids(diagnosis)
