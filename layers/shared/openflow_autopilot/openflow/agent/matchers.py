"""The signature catalog's entry matchers: each reads one journal entry and returns a `Hit` or None.

A matcher recognises its failure's lines and names what they concern (repositories, units, tools,
IAM actions); `signatures` gives each one its id, severity, explanation, remediation and the log
sections it reads, and tries them in catalog order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .log_entries import Entry


@dataclass(frozen=True)
class Hit:
    subjects: tuple[str, ...] = ()  # what the line names: repositories, units, tools, IAM actions
    note: str | None = None  # a sentence added to the finding's explanation


Matcher = Callable[[Entry], Hit | None]


_REPO_MISSING = re.compile(
    r"repository with name ['\"](?P<repo>[^'\"\s]{1,256})['\"] does not exist in the registry", re.I
)
_INDIRECT_EXPANSION_NOTE = (
    "The evidence includes bash's 'invalid variable name' error from ensure-ecr-repo.sh: this "
    "deployment's template has that defect (`openflow-autopilot template doctor` rule OFD001 finds "
    "and fixes it for the next deployment)."
)


def ecr_repository_missing(entry: Entry) -> Hit | None:
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


def auth_failed(entry: Entry) -> Hit | None:
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


def permission_denied(entry: Entry) -> Hit | None:
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


def image_not_synced(entry: Entry) -> Hit | None:
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


def apply_failed(entry: Entry) -> Hit | None:
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


def cloud_init_failed(entry: Entry) -> Hit | None:
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


def service_failed(entry: Entry) -> Hit | None:
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


def repository_already_exists(entry: Entry) -> Hit | None:
    match = _ALREADY_EXISTS.search(entry.message)
    if match is None and "RepositoryAlreadyExistsException" in entry.message:
        return Hit(("an ECR repository",))
    return Hit((match["repo"],)) if match else None


_HEALTHY = re.compile(r"All resources applied successfully", re.I)


def healthy(entry: Entry) -> Hit | None:
    return Hit() if _HEALTHY.search(entry.message) else None
