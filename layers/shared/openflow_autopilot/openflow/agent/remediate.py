"""Decide which repairs to run (pure), and run them (ECR, SSM).

`plan_remediation` reads a diagnosis and the attempts already made in this execution and returns
what to run now and what is skipped, with the reason: the request said "diagnose only", the
repair's limit is reached, or the finding has no automatic repair. Every repair is idempotent:
creating a repository that exists is a no-op, re-running the services twice is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.errors import InvalidRequest

from .collect import DEFAULT_OUTPUT_PREFIX, send_remediation_rerun
from .models import Diagnosis
from .repositories import OPENFLOW_REPOSITORIES, is_openflow_repository, openflow_order
from .repository_check import missing_repositories
from .signatures import CREATE_MISSING_ECR_REPOSITORIES, RERUN_AGENT_SERVICES, Severity

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr.type_defs import TagTypeDef
    from mypy_boto3_ssm import SSMClient

REMEDIATIONS: Final = {
    CREATE_MISSING_ECR_REPOSITORIES: "Create the missing snowflake-openflow/<name> ECR repositories, then "
    "re-run openflow-sync-images and openflow-apply-infrastructure on the agent.",
    RERUN_AGENT_SERVICES: "Re-run openflow-sync-images, then openflow-apply-infrastructure, now instead "
    "of at their next 10-minute timer.",
}
# Creating the repositories already re-runs the services.
_COVERS: Final = {CREATE_MISSING_ECR_REPOSITORIES: frozenset({RERUN_AGENT_SERVICES})}
CREATED_BY_TAG: Final = {"Key": "created-by", "Value": "openflow-autopilot"}
_TAG_KEY = re.compile(r"^[\w.:/=+@ -]{1,128}$")

SkipReason = Literal["diagnose_only", "limit_reached", "no_remediation", "covered"]


class PlannedRemediation(BaseModel):
    id: str
    description: str
    finding_ids: list[str]
    attempt: int  # 1 for the first run in this execution
    repositories: list[str] = []  # create_missing_ecr_repositories: the ones the diagnosis named


class SkippedRemediation(BaseModel):
    finding_id: str
    remediation: str | None
    reason: SkipReason
    detail: str


class RemediationPlan(BaseModel):
    run: list[PlannedRemediation]
    skipped: list[SkippedRemediation]
    attempts_after: dict[str, int]  # attempts_so_far plus the ones planned now: the next call's input

    @property
    def nothing_to_run(self) -> bool:
        return not self.run


def plan_remediation(
    diagnosis: Diagnosis, *, attempts_so_far: Mapping[str, int], max_attempts: int, diagnose_only: bool
) -> RemediationPlan:
    """Which remediations to run now. Only error and warning findings are considered (resolved
    ones are info); each remediation runs at most `max_attempts` times per execution."""
    if max_attempts < 0:
        raise InvalidRequest("max_attempts must be 0 or more.")
    skipped: list[SkippedRemediation] = []
    wanted: dict[str, PlannedRemediation] = {}
    for finding in diagnosis.findings:
        if finding.severity is Severity.INFO:
            continue
        if finding.remediation is None:
            skipped.append(
                SkippedRemediation(
                    finding_id=finding.id,
                    remediation=None,
                    reason="no_remediation",
                    detail=f"{finding.title}: no automatic remediation; a human must act "
                    "(see the explanation).",
                )
            )
            continue
        remediation = finding.remediation
        done = int(attempts_so_far.get(remediation, 0))
        if diagnose_only:
            skipped.append(
                SkippedRemediation(
                    finding_id=finding.id,
                    remediation=remediation,
                    reason="diagnose_only",
                    detail="the request asks for a diagnosis only; nothing is changed",
                )
            )
            continue
        if done >= max_attempts:
            skipped.append(
                SkippedRemediation(
                    finding_id=finding.id,
                    remediation=remediation,
                    reason="limit_reached",
                    detail=f"{remediation} already ran {done} time(s) in this execution "
                    f"(limit {max_attempts})",
                )
            )
            continue
        item = wanted.setdefault(
            remediation,
            PlannedRemediation(
                id=remediation,
                description=REMEDIATIONS.get(remediation, remediation),
                finding_ids=[],
                attempt=done + 1,
            ),
        )
        item.finding_ids.append(finding.id)
        if remediation == CREATE_MISSING_ECR_REPOSITORIES:
            item.repositories = openflow_order(set(item.repositories) | set(finding.missing_repositories))

    for covering, covered in _COVERS.items():
        if covering not in wanted:
            continue
        for remediation in covered & wanted.keys():
            for finding_id in wanted.pop(remediation).finding_ids:
                skipped.append(
                    SkippedRemediation(
                        finding_id=finding_id,
                        remediation=remediation,
                        reason="covered",
                        detail=f"{covering} re-runs the services too",
                    )
                )
    attempts_after = dict(attempts_so_far)
    for remediation in wanted:
        attempts_after[remediation] = attempts_after.get(remediation, 0) + 1
    return RemediationPlan(run=list(wanted.values()), skipped=skipped, attempts_after=attempts_after)


# --- running them ----------------------------------------------------------------------------------
def _validated_tags(tags: Sequence[Mapping[str, str]]) -> list[TagTypeDef]:
    checked: list[TagTypeDef] = []
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        if (
            not isinstance(key, str)
            or not isinstance(value, str)
            or not _TAG_KEY.match(key)
            or len(value) > 256
        ):
            raise InvalidRequest(
                "Each ECR tag must be {'Key': str (1-128 chars), 'Value': str (<= 256 chars)}."
            )
        if key.lower().startswith("aws:"):
            raise InvalidRequest(f"Tag keys starting with 'aws:' are reserved (got '{key}').")
        checked.append({"Key": key, "Value": value})
    return checked


def create_missing_repositories(
    ecr: ECRClient, names: Sequence[str], *, tags: Sequence[Mapping[str, str]]
) -> list[str]:
    """Create those of `names` that do not exist; returns the ones created (in the template's order).

    Idempotent: an existing repository is left as it is. Only snowflake-openflow/ names are
    accepted. Scan on push and AES-256 encryption, as `aws ecr create-repository` would in a
    hardened account; tags are mutable because the agent re-tags synced images."""
    ordered = openflow_order(list(dict.fromkeys(names)))
    invalid = [name for name in ordered if not is_openflow_repository(name)]
    if invalid:
        raise InvalidRequest(
            "Only snowflake-openflow/<name> ECR repositories are created; refused: "
            f"{', '.join(invalid)[:300]}"
        )
    checked_tags = _validated_tags(tags)
    created: list[str] = []
    for name in ordered:
        try:
            with aws_call("ecr:CreateRepository"):
                ecr.create_repository(
                    repositoryName=name,
                    tags=checked_tags,
                    imageTagMutability="MUTABLE",
                    imageScanningConfiguration={"scanOnPush": True},
                    encryptionConfiguration={"encryptionType": "AES256"},
                )
        except ClientError as exc:
            if error_code(exc) == "RepositoryAlreadyExistsException":
                continue
            raise
        created.append(name)
    return created


class RemediationResult(BaseModel):
    id: str
    created_repositories: list[str] = []
    already_present: list[str] = []
    rerun_command_id: str | None = None
    message: str


def run_remediation(
    item: PlannedRemediation,
    *,
    ecr: ECRClient,
    ssm: SSMClient,
    instance_id: str,
    tags: Sequence[Mapping[str, str]] = (CREATED_BY_TAG,),
    output_bucket: str | None = None,
    output_prefix: str = DEFAULT_OUTPUT_PREFIX,
) -> RemediationResult:
    """Run one planned remediation. The repositories to create are re-checked in ECR first, so a
    repeated run creates nothing twice and exactly the missing ones are created."""
    if item.id == CREATE_MISSING_ECR_REPOSITORIES:
        candidates = openflow_order(set(item.repositories) | set(OPENFLOW_REPOSITORIES))
        missing = missing_repositories(ecr, candidates)
        created = create_missing_repositories(ecr, missing, tags=tags) if missing else []
        command_id = send_remediation_rerun(
            ssm, instance_id, output_bucket=output_bucket, output_prefix=output_prefix
        )
        present = [name for name in candidates if name not in missing]
        return RemediationResult(
            id=item.id,
            created_repositories=created,
            already_present=present,
            rerun_command_id=command_id,
            message=f"created {len(created)} ECR repositories; re-running the agent's services "
            f"(command {command_id})",
        )
    if item.id == RERUN_AGENT_SERVICES:
        command_id = send_remediation_rerun(
            ssm, instance_id, output_bucket=output_bucket, output_prefix=output_prefix
        )
        return RemediationResult(
            id=item.id,
            rerun_command_id=command_id,
            message=f"re-running the agent's services (command {command_id})",
        )
    raise InvalidRequest(f"Unknown remediation '{item.id[:60]}'.")
