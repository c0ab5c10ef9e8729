"""The ECR repositories an Openflow agent mirrors Snowflake's images and charts into."""

from __future__ import annotations

import re
from typing import Final

REPOSITORY_PREFIX: Final = "snowflake-openflow/"

# The ten repositories the deployment template's UserData ensures (ensure-ecr-repo.sh), in its order.
OPENFLOW_REPOSITORY_NAMES: Final = (
    "openflow-data-plane-agent-aws",
    "runtime-extensions",
    "runtime-operator",
    "runtime-operator-chart",
    "runtime-server",
    "openflow-dataplane-service",
    "openflow-dataplane-service-chart",
    "openflow-dataplane-ui",
    "openflow-dataplane-ui-chart",
    "openflow-runtime-gateway",
)
OPENFLOW_REPOSITORIES: Final = tuple(REPOSITORY_PREFIX + name for name in OPENFLOW_REPOSITORY_NAMES)

# ECR's repository name rule (lowercase path segments of [a-z0-9] joined by . _ -), 2-256 chars.
_ECR_NAME: Final = re.compile(
    r"^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
)


def is_openflow_repository(name: str) -> bool:
    """A valid ECR name under snowflake-openflow/: the only repositories this package creates."""
    return name.startswith(REPOSITORY_PREFIX) and bool(_ECR_NAME.match(name))


def openflow_order(names: set[str] | list[str]) -> list[str]:
    """The ten in the template's order first, then any others alphabetically."""
    known = [name for name in OPENFLOW_REPOSITORIES if name in names]
    return known + sorted(set(names) - set(OPENFLOW_REPOSITORIES))
