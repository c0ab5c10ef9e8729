"""The catalog of known agent failures: id, severity, title, plain-words explanation, remediation, matcher.

Entry matchers run in catalog order and the first match wins, so one line counts once (a docker
"name unknown" error is a missing repository, not also an unknown error). Findings that depend on
the whole output (timers, unknown errors, an unreadable or truncated journal) are decided in
`diagnose`; they are listed here too so the catalog is complete.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from . import markers
from .journal import Entry, Section

CREATE_MISSING_ECR_REPOSITORIES: Final = "create_missing_ecr_repositories"
RERUN_AGENT_SERVICES: Final = "rerun_agent_services"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Hit:
    subjects: tuple[str, ...] = ()  # what the line names: repositories, units, tools, IAM actions
    note: str | None = None  # a sentence added to the finding's explanation


Matcher = Callable[[Entry], Hit | None]


@dataclass(frozen=True)
class Signature:
    id: str
    severity: Severity
    title: str
    explanation: str
    remediation: str | None
    matcher: Matcher | None = None  # None: decided from the whole output in `diagnose`
    sections: frozenset[str] | None = None  # the log sections the matcher reads; None = all


# --- matchers ------------------------------------------------------------------------------------
_REPO_MISSING = re.compile(
    r"repository with name ['\"](?P<repo>[^'\"\s]{1,256})['\"] does not exist in the registry", re.I
)
_INDIRECT_EXPANSION_NOTE = (
    "The evidence includes bash's 'invalid variable name' error from ensure-ecr-repo.sh: this "
    "deployment's template has that defect (`openflow-autopilot template doctor` rule OFD001 finds "
    "and fixes it for the next deployment)."
)


def _ecr_repository_missing(entry: Entry) -> Hit | None:
    names = tuple(dict.fromkeys(m["repo"] for m in _REPO_MISSING.finditer(entry.message)))
    if not names and "RepositoryNotFoundException" not in entry.message:
        return None
    bug = "invalid variable name" in entry.message or "bad substitution" in entry.message
    return Hit(names, _INDIRECT_EXPANSION_NOTE if bug else None)


_AUTH = re.compile(
    "|".join(
        [
            r"\binvalid[_ ](?:client|grant)\b",
            r"\bunauthorized_client\b",
            r"invalid oauth access token",
            r"\boauth\b.{0,80}\b(?:fail|error|invalid|expired|denied)",
            r"\baccess[_ ]token\b.{0,40}\bnull\b",
            r"\bunauthorized: authentication required",
            r"\bdenied: .{0,200}authenticat",
            r"\bdenied: requested access to the resource is denied",
            r"no basic auth credentials",
            r"login attempt to \S+ failed with status: 40[13]",
            r"error response from daemon: (?:get|head|login)\b.{0,300}\b(?:unauthorized|denied|40[13])\b",
            r"\bget-login-password\b.{0,200}\b(?:error|denied|expired)",
            r"when calling the GetSecretValue operation",
            r"\b(?:docker|helm)(?: registry)? login\b.{0,200}\b(?:fail|error|denied|unauthori)",
            r"\b401 unauthorized\b",
            r"\bincorrect username or password\b",
        ]
    ),
    re.I,
)


def _auth_failed(entry: Entry) -> Hit | None:
    match = _AUTH.search(entry.message)
    if match is None:
        return None
    text = entry.message.lower()
    if "getsecretvalue" in text:
        subject = "Secrets Manager secret"
    elif "get-login-password" in text or "no basic auth credentials" in text or ".dkr.ecr." in text:
        subject = "ECR login"
    elif "helm" in text:
        subject = "helm registry login"
    elif "oauth" in text or "access_token" in text or "access token" in text or "invalid_" in text:
        subject = "OAuth token"
    else:
        subject = "registry login"
    return Hit((subject,))


_NOT_AUTHORIZED = re.compile(r"is not authorized to perform:? (?P<action>[\w-]+:[\w*-]+)", re.I)


def _permission_denied(entry: Entry) -> Hit | None:
    match = _NOT_AUTHORIZED.search(entry.message)
    if match:
        return Hit((match["action"],))
    if re.search(r"\bAccessDenied(?:Exception)?\b", entry.message):
        operation = re.search(r"when calling the (\w+) operation", entry.message)
        return Hit((operation[1],) if operation else ())
    return None


_NOT_SYNCED = re.compile(
    r"manifest unknown|manifest for \S+ not found|requested image not found|invalid reference format", re.I
)


def _image_not_synced(entry: Entry) -> Hit | None:
    return Hit() if _NOT_SYNCED.search(entry.message) else None


_APPLY = re.compile(
    "|".join(
        [
            r"^[│|]?\s*Error: ",  # terraform (boxed or not), helm, the agent's own scripts
            r"\bError: (?:INSTALLATION|UPGRADE) FAILED\b",
            r"^error: ",  # kubectl
            r"\bError from server\b",
            r"\bUnable to connect to the server\b",
            r"\bThe connection to the server \S+ was refused\b",
            r"\bError acquiring the state lock\b",
            r"\b(?:terraform|helm|kubectl)\b.{0,80}\b(?:failed|error)\b",
        ]
    ),
    re.I | re.M,
)


def _apply_failed(entry: Entry) -> Hit | None:
    if not _APPLY.search(entry.message):
        return None
    text = entry.message
    if re.search(r"INSTALLATION FAILED|UPGRADE FAILED|\bhelm\b", text, re.I):
        tool = "helm"
    elif re.search(r"Error from server|connection to the server|\bkubectl\b|^error: ", text, re.I | re.M):
        tool = "kubectl"
    elif "│" in text or re.search(r"\bterraform\b|state lock|\.tf line \d+", text, re.I):
        tool = "terraform"
    else:
        tool = "agent"
    return Hit((tool,))


# The first-boot script's tools and how each reports a failure: (subject, pattern).
_CLOUD_INIT_TOOLS: Final = (
    ("curl", re.compile(r"^curl: \(\d+\)")),
    ("dnf", re.compile(r"^(?:- )?Curl error \(\d+\)|^Errors during downloading metadata|^Error: ")),
    ("wget", re.compile(r"^wget: |^ERROR \d{3}: ")),
    ("unzip", re.compile(r"^unzip: ")),
    ("rpm", re.compile(r"^rpm: |^error: ")),
    ("tar", re.compile(r"^tar: ")),
)
_SCRIPT_LINE = re.compile(
    r"^(?P<script>\S+): line (?P<line>\d+): .*(?:not found|No such file|error|failed)", re.I
)


def _cloud_init_failed(entry: Entry) -> Hit | None:
    text = entry.message.strip()
    script = re.search(r"Failed running (/var/lib/cloud/instance/scripts/\S+)(?: \[(\d+)\])?", text)
    if script:
        return Hit((f"{script[1]} exited {script[2]}" if script[2] else script[1],))
    if entry.level in {"warning", "error", "critical"} and re.search(r"\bfail|\berror", text, re.I):
        module = re.search(r"module (\S+)", text)
        return Hit((f"cloud-init module {module[1]}" if module else "cloud-init",))
    line = _SCRIPT_LINE.match(text)
    if line:
        return Hit((f"{line['script'].rsplit('/', 1)[-1]} line {line['line']}",))
    missing = re.match(r"^(?:\S+: )?(?:line \d+: )?(\S+): command not found$", text)
    if missing:
        return Hit((f"command not found: {missing[1]}",))
    for subject, pattern in _CLOUD_INIT_TOOLS:
        if pattern.match(text):
            return Hit((subject,))
    return None


_UNIT_FAILED = re.compile(
    r"(?P<unit>[\w@.-]+\.service): (?:Main process exited, code=\w+, status=(?!0/)\S+|"
    r"Failed with result '[^']+')"
)
_START_FAILED = re.compile(r"^Failed to start (?P<what>.+?)\.?$")


def _service_failed(entry: Entry) -> Hit | None:
    unit = _UNIT_FAILED.search(entry.message)
    if unit:
        return Hit((unit["unit"],))
    if entry.source == "systemd":
        start = _START_FAILED.match(entry.message)
        if start:
            return Hit((start["what"].strip('"'),))
    return None


_ALREADY_EXISTS = re.compile(
    r"RepositoryAlreadyExistsException\b.*?repository with name ['\"](?P<repo>[^'\"\s]{1,256})['\"]", re.I
)


def _repository_already_exists(entry: Entry) -> Hit | None:
    match = _ALREADY_EXISTS.search(entry.message)
    if match is None and "RepositoryAlreadyExistsException" in entry.message:
        return Hit(("an ECR repository",))
    return Hit((match["repo"],)) if match else None


_HEALTHY = re.compile(r"All resources applied successfully", re.I)


def _healthy(entry: Entry) -> Hit | None:
    return Hit() if _HEALTHY.search(entry.message) else None


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
    _ecr_repository_missing,
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
    _auth_failed,
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
    _permission_denied,
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
    _image_not_synced,
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
    _apply_failed,
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
    _cloud_init_failed,
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
    _service_failed,
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
    _repository_already_exists,
)
AGENT_HEALTHY: Final = Signature(
    "AGENT_HEALTHY",
    Severity.INFO,
    "The agent applied the infrastructure",
    "The agent reports 'All resources applied successfully': the data plane's infrastructure is built. "
    "Errors older than this line are shown as resolved.",
    None,
    _healthy,
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


# --- timers --------------------------------------------------------------------------------------
_TIMERS = ("openflow-sync-images.timer", "openflow-apply-infrastructure.timer")


def inactive_timers(sections: dict[str, Section]) -> list[tuple[Entry, Hit]]:
    """Timers not active, from `systemctl show` (units) or, failing that, `systemctl status` (timers)."""
    units = sections.get(markers.UNITS)
    if units is not None and any(e.message.startswith("Id=") for e in units.entries):
        return _from_show(units)
    timers = sections.get(markers.TIMERS)
    if timers is not None and timers.entries:
        return _from_status(timers)
    return []


def _from_show(section: Section) -> list[tuple[Entry, Hit]]:
    found: list[tuple[Entry, Hit]] = []
    block: dict[str, str] = {}
    anchor: Entry | None = None

    def close() -> None:
        unit = block.get("Id", "")
        if unit in _TIMERS and anchor is not None:
            load, active = block.get("LoadState", ""), block.get("ActiveState", "")
            if load == "not-found" or active not in ("active", "reloading", "activating"):
                keys = ("LoadState", "ActiveState", "SubState", "UnitFileState")
                state = " ".join(f"{k}={block[k]}" for k in keys if k in block)
                found.append((_entry_like(anchor, f"{unit}: {state}"), Hit((unit,))))

    for entry in section.entries:
        key, separator, value = entry.message.partition("=")
        if not separator:
            continue
        if key == "Id":
            close()
            block, anchor = {}, entry
        block[key] = value
    close()
    return found


def _from_status(section: Section) -> list[tuple[Entry, Hit]]:
    found: list[tuple[Entry, Hit]] = []
    unit: str | None = None
    for entry in section.entries:
        text = entry.message
        missing = re.search(r"Unit (\S+\.timer) could not be found", text)
        if missing and missing[1] in _TIMERS:
            found.append((entry, Hit((missing[1],))))
            continue
        header = re.match(r"^[●○\u00d7*]?\s*(\S+\.timer)\b", text)  # the state dot systemctl prints
        if header:
            unit = header[1]
            continue
        active = re.match(r"^Active: (\S+)", text)
        if active and unit in _TIMERS and active[1] not in ("active", "activating", "reloading"):
            found.append((_entry_like(entry, f"{unit}: {text}"), Hit((unit,))))
    return found


def _entry_like(entry: Entry, message: str) -> Entry:
    return Entry(entry.section, entry.index, entry.timestamp, entry.source, entry.level, message)
