"""Whose a workflow secret is: the secrets the workflow creates carry their deployment's tags, and one
that carries another deployment's is refused before it is read or written.

Secrets are named from the request's `name` (`<prefix><name>/service-user`, `/source-connector`), so
two requests with one name but different deployments would otherwise share (and overwrite) them.
DescribeSecret returns the secret's Tags:
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.core.tags import MANAGED_BY, OWNER_TAG
from openflow_autopilot.errors import PreconditionFailed

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef

MANAGED_TAG: Final = {"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}


def owner_tags(deployment: str) -> list[TagTypeDef]:
    """The Tags for CreateSecret."""
    return [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}, {"Key": OWNER_TAG, "Value": deployment}]


def check_secret_owner(secrets: SecretsManagerClient, name: str, deployment: str) -> None:
    """Refuse a secret tagged for another deployment. A missing secret, or one without the tag (created
    by the user, or by a release before the tag), is this deployment's to use."""
    try:
        with aws_call("secretsmanager:DescribeSecret"):
            described = secrets.describe_secret(SecretId=name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return
        raise
    tags = {str(t.get("Key")): str(t.get("Value")) for t in described.get("Tags") or []}
    owner = tags.get(OWNER_TAG)
    if owner is not None and owner != deployment:
        raise PreconditionFailed(
            f"secret {name} belongs to deployment {owner!r} ({OWNER_TAG} tag), not {deployment!r}: two "
            "requests with the same name would share it",
            call="secretsmanager:DescribeSecret",
            fix="give this request another `name` (its secrets are named after it), or tear the other "
            "deployment down first",
        )
