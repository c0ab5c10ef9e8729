"""Ask ECR which of the ten snowflake-openflow/ repositories exist.

`existing_repositories` is the ECR answer `diagnose` takes to turn the journal's 'repository does
not exist' lines into an exact list of what is still missing; `missing_repositories` is its
complement, which `remediate` checks again before creating anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code

from .repositories import OPENFLOW_REPOSITORIES

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient


def _exists(ecr: ECRClient, name: str, registry_id: str | None) -> bool:
    extra = {"registryId": registry_id} if registry_id else {}
    try:
        with aws_call("ecr:DescribeRepositories"):
            ecr.describe_repositories(repositoryNames=[name], **extra)  # type: ignore[arg-type]
    except ClientError as exc:
        if error_code(exc) == "RepositoryNotFoundException":
            return False
        raise
    return True


def missing_repositories(
    ecr: ECRClient, names: Iterable[str] = OPENFLOW_REPOSITORIES, *, registry_id: str | None = None
) -> list[str]:
    """Which of `names` (default: the ten snowflake-openflow/ repositories) do not exist.

    One DescribeRepositories per name: a batch call fails as a whole when any name is missing,
    and per-name calls let IAM scope the permission to repository/snowflake-openflow/*."""
    return [name for name in dict.fromkeys(names) if not _exists(ecr, name, registry_id)]


def existing_repositories(
    ecr: ECRClient, names: Iterable[str] = OPENFLOW_REPOSITORIES, *, registry_id: str | None = None
) -> set[str]:
    """The complement of `missing_repositories`: the input `diagnose` takes."""
    wanted = list(dict.fromkeys(names))
    missing = set(missing_repositories(ecr, wanted, registry_id=registry_id))
    return {name for name in wanted if name not in missing}


__all__ = ["existing_repositories", "missing_repositories"]
