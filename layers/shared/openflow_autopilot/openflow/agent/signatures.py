"""The catalog of known agent failures: id, severity, title, plain-words explanation, remediation, matcher.

Entry matchers (in `matchers`) run in catalog order and the first match wins, so one line counts
once (a docker "name unknown" error is a missing repository, not also an unknown error). Findings
that depend on the whole output (timers, unknown errors, an unreadable or truncated journal) are
decided in `diagnose` (the timers with `timers.inactive_timers`); they are listed here too so the
catalog is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from . import markers, matchers
from .log_entries import Entry
from .matchers import Hit, Matcher

CREATE_MISSING_ECR_REPOSITORIES: Final = "create_missing_ecr_repositories"
RERUN_AGENT_SERVICES: Final = "rerun_agent_services"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Signature:
    id: str
    severity: Severity
    title: str
    explanation: str
    remediation: str | None
    matcher: Matcher | None = None  # None: decided from the whole output in `diagnose`
    sections: frozenset[str] | None = None  # the log sections the matcher reads; None = all


# --- the catalog -----------------------------------------------------------------------------------
_LOGS = frozenset(markers.LOG_SECTIONS)

ECR_REPOSITORY_MISSING: Final = Signature(
    "ECR_REPOSITORY_MISSING",
    Severity.ERROR,
    "ECR repositories for Openflow's images are missing",
    "The agent copies Openflow's container images and Helm charts from Snowflake's image registry into "
    "ECR repositories named snowflake-openflow/<name> in this account, then installs from them. One or "
    "more of these repositories do not exist, so every upload and pull fails and the deployment stays "
    "Inactive. The template's ensure-ecr-repo.sh should have created them; a known defect in it (the "
    "bash indirect expansion ${!exists_check}) makes it skip the creation. Repair: create exactly the "
    "missing repositories, then re-run openflow-sync-images and openflow-apply-infrastructure.",
    CREATE_MISSING_ECR_REPOSITORIES,
    matchers.ecr_repository_missing,
)
IMAGE_SYNC_AUTH_FAILED: Final = Signature(
    "IMAGE_SYNC_AUTH_FAILED",
    Severity.ERROR,
    "The agent cannot log in to an image registry",
    "openflow-sync-images logs in twice. To Snowflake's image registry: it reads the client ID and "
    "secret from the Secrets Manager secret snowflake-oauth2-<data plane key>, asks Snowflake's OAuth "
    "endpoint for a token and uses it for `docker login` and `helm registry login`; a missing or wrong "
    "secret, the deployment's OAuth security integration being disabled or recreated, or a network "
    "policy that does not allow the NAT gateway's public IP make the token request fail (the token is "
    "then 'null' and the logins are refused). To this account's ECR: with the instance role "
    "(`aws ecr get-login-password`). Not repaired automatically: check the secret, the OAuth "
    "integration (SHOW SECURITY INTEGRATIONS) and the network policy; the next sync run, within 10 "
    "minutes, retries.",
    None,
    matchers.auth_failed,
)
AGENT_ROLE_PERMISSION_DENIED: Final = Signature(
    "AGENT_ROLE_PERMISSION_DENIED",
    Severity.ERROR,
    "The agent's instance role is denied an AWS action",
    "The agent calls AWS with its instance profile's role, created by the deployment's CloudFormation "
    "stack. AWS refused one of those calls, so the step that needed it failed. Not repaired "
    "automatically: compare the role's policies with the template (a permissions boundary or a service "
    "control policy can also deny), then the services retry within 10 minutes.",
    None,
    matchers.permission_denied,
)
IMAGE_NOT_YET_SYNCED: Final = Signature(
    "IMAGE_NOT_YET_SYNCED",
    Severity.WARNING,
    "An image is not in ECR yet",
    "A container image the agent needs is not in this account's ECR yet, or its version is not set "
    "yet (an empty tag gives 'invalid reference format'): openflow-sync-images has not finished a "
    "successful run. It usually resolves after the next sync run; if it repeats, another finding "
    "(a missing repository, a failed login) is the cause.",
    RERUN_AGENT_SERVICES,
    matchers.image_not_synced,
)
APPLY_INFRASTRUCTURE_FAILED: Final = Signature(
    "APPLY_INFRASTRUCTURE_FAILED",
    Severity.ERROR,
    "Building the deployment's infrastructure failed",
    "openflow-apply-infrastructure runs the agent container, which builds the EKS cluster and installs "
    "Openflow with terraform, helm and kubectl. One of those steps failed; the evidence is the tool's "
    "own error. The service retries every 10 minutes; an error that repeats needs a human (service "
    "quotas, IAM permissions, resources left over from an earlier deployment, a held terraform state "
    "lock).",
    None,
    matchers.apply_failed,
    frozenset({markers.APPLY_INFRASTRUCTURE, markers.UNLABELLED}),
)
CLOUD_INIT_FAILED: Final = Signature(
    "CLOUD_INIT_FAILED",
    Severity.ERROR,
    "The instance's first-boot script failed",
    "cloud-init runs the instance's UserData once, at first boot: it installs docker, the AWS CLI, "
    "the Snowflake CLI and helm, writes the agent's scripts and starts its timers. A step failed "
    "(typically a download: curl, wget or dnf with no route to the internet from the private subnet), "
    "so later steps may not have run. Not repaired automatically: check the private subnet's route to "
    "the NAT gateway; replacing the instance runs the script again.",
    None,
    matchers.cloud_init_failed,
    frozenset({markers.CLOUD_INIT}),
)
SERVICE_RUN_FAILED: Final = Signature(
    "SERVICE_RUN_FAILED",
    Severity.ERROR,
    "An agent service run exited with an error",
    "A run of an agent service (systemd) exited with an error. When another finding comes from the "
    "same journal it is the cause and this one is only a warning; otherwise the lines before it in "
    "that journal are where to look.",
    None,
    matchers.service_failed,
    frozenset({markers.SYNC_IMAGES, markers.APPLY_INFRASTRUCTURE, markers.DOCKER, markers.UNLABELLED}),
)
ECR_REPOSITORY_ALREADY_EXISTS: Final = Signature(
    "ECR_REPOSITORY_ALREADY_EXISTS",
    Severity.INFO,
    "An ECR repository was created by someone else first",
    "CreateRepository answered RepositoryAlreadyExistsException: the repository exists, which is what "
    "the script wanted. It happens when the first-boot script and a repair (or a second run) create "
    "the same repository at the same time. Nothing to do.",
    None,
    matchers.repository_already_exists,
)
AGENT_HEALTHY: Final = Signature(
    "AGENT_HEALTHY",
    Severity.INFO,
    "The agent applied the infrastructure",
    "The agent reports 'All resources applied successfully': the data plane's infrastructure is built. "
    "Errors older than this line are shown as resolved.",
    None,
    matchers.healthy,
)
TIMERS_INACTIVE: Final = Signature(
    "TIMERS_INACTIVE",
    Severity.WARNING,
    "The agent's timers are not active",
    "The systemd timers openflow-sync-images.timer and openflow-apply-infrastructure.timer run the "
    "sync and the apply every 10 minutes; while they are inactive nothing retries. The first-boot "
    "script starts them at its very end (if cloud-init is still running, wait), and destroy.sh stops "
    "them during teardown. Not started automatically, so a teardown is never undone: "
    "`sudo systemctl enable --now openflow-sync-images.timer openflow-apply-infrastructure.timer`.",
    None,
)
UNKNOWN_ERROR: Final = Signature(
    "UNKNOWN_ERROR",
    Severity.ERROR,
    "Errors no known signature explains",
    "These error lines match no known failure; they are quoted as logged, deduplicated, with how "
    "often each occurred.",
    None,
)
JOURNAL_UNREADABLE: Final = Signature(
    "JOURNAL_UNREADABLE",
    Severity.ERROR,
    "Could not read the agent's journal",
    "Nothing in the collected output could be analysed.",
    None,
)
OUTPUT_TRUNCATED: Final = Signature(
    "OUTPUT_TRUNCATED",
    Severity.INFO,
    "Part of the collected output was not analysed",
    "The diagnosis saw only part of the journals; a failure in the missing part may be unreported.",
    None,
)

# Entry matchers, in the order they are tried.
ENTRY_SIGNATURES: Final = (
    ECR_REPOSITORY_ALREADY_EXISTS,  # before the others: its line names a repository and says "exception"
    ECR_REPOSITORY_MISSING,
    IMAGE_SYNC_AUTH_FAILED,
    AGENT_ROLE_PERMISSION_DENIED,
    IMAGE_NOT_YET_SYNCED,
    APPLY_INFRASTRUCTURE_FAILED,
    CLOUD_INIT_FAILED,
    SERVICE_RUN_FAILED,
    AGENT_HEALTHY,
)
CATALOG: Final = {
    signature.id: signature
    for signature in (
        *ENTRY_SIGNATURES,
        TIMERS_INACTIVE,
        UNKNOWN_ERROR,
        JOURNAL_UNREADABLE,
        OUTPUT_TRUNCATED,
    )
}

# Every entry matcher needs one of these words: entries without any are skipped cheaply.
_INTERESTING = re.compile(
    r"error|fail|denied|unauthori|forbidden|not exist|notfound|unknown|exception|traceback|fatal|panic|"
    r"invalid|cannot|could not|couldn't|unable|timed out|refused|all resources applied|access[_ ]token|"
    r"oauth|authenticat|not authorized|no such file|command not found|curl: \(|wget: |manifest|"
    r"credentials|\b40[13]\b|main process exited",
    re.I,
)


def match_entry(entry: Entry) -> tuple[Signature, Hit] | None:
    """The first catalog signature the entry matches."""
    if not _INTERESTING.search(entry.message):
        return None
    for signature in ENTRY_SIGNATURES:
        if signature.sections is not None and entry.section not in signature.sections:
            continue
        assert signature.matcher is not None
        hit = signature.matcher(entry)
        if hit is not None:
            return signature, hit
    return None


_ERROR_LEVELS = frozenset({"error", "err", "fatal", "panic", "critical", "crit", "alert", "emerg"})
_ERROR_WORDS = re.compile(
    r"(?<![\w/.-])(?:error|errors|failed|failure|fatal|panic|exception|traceback|denied|unauthori[sz]ed|"
    r"forbidden|refused|invalid|cannot|could not|couldn't|unable to|timed out|command not found|"
    r"no such file or directory|segmentation fault|out of memory)(?![\w-]|\.\w)",
    re.I,
)
_NOT_AN_ERROR = re.compile(
    r"error=<nil>|\b0 errors?\b|\berrors?[:=] ?0\b|\bno errors?\b|without errors?|ignore[-_ ]?errors?|"
    r"\bfailed=0\b|\"error\": ?null|"
    r"^Unable to find image '[^']+' locally$",  # docker run says so before every first pull
    re.I,
)


def looks_like_error(entry: Entry) -> bool:
    """An error-level line: by its own level when it has one (docker, cloud-init), else by its words."""
    if entry.level is not None:
        return entry.level in _ERROR_LEVELS
    text = entry.first_line
    return bool(_ERROR_WORDS.search(text)) and not _NOT_AN_ERROR.search(text)
