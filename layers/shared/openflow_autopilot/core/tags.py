"""The tags that mark what openflow-autopilot made and for which deployment: the stack (and, through
it, its resources: Cost Explorer filters on OWNER_TAG), secrets and parameter groups carry them. The
product never adopts a resource tagged for another deployment."""

from __future__ import annotations

from typing import Final

OWNER_TAG: Final = "openflow:deployment"
MANAGED_BY: Final = ("managed-by", "openflow-autopilot")
