"""What a human is asked before the provisioning goes on (AwaitRuntime, AwaitRebootApproval,
AwaitConnector): the reboot, the gen 1 runtime made in the UI, the gen 1 connector's canvas."""

from __future__ import annotations

from typing import Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.errors import ConfigurationError
from openflow_autopilot.phases.connector_gen1 import gen1_connector_instructions
from openflow_autopilot.phases.runtime import gen1_runtime_instructions


def approval_text(
    request: ProvisionRequest,
    kind: str,
    *,
    source: dict[str, Any] | None = None,
    destination: dict[str, Any] | None = None,
) -> str:
    if kind == "reboot":
        return (
            f"RDS instance {request.source.rds_instance_id} must reboot to turn on logical replication "
            "(rds.logical_replication = 1 is pending-reboot); the database is unavailable for a few minutes. "
            "The request does not allow a reboot now (source.allow_reboot: false)."
        )
    if kind == "gen1_runtime":
        return gen1_runtime_instructions(request, resume_hint="approve this request (the command is below)")
    if kind == "gen1_connector":
        if not source or not destination:
            raise ConfigurationError(
                "the gen1_connector approval needs the source and destination phases' outputs",
                fix="pass source and destination in the AwaitConnector state's payload",
            )
        return (
            gen1_connector_instructions(
                request,
                source=source,
                destination=destination,
                password_secret_arn=str(source["password_secret_arn"]),
                key_secret_arn=str(destination["key_secret_arn"]),
            )
            + "\nThen approve this request (the command is below); the workflow then proves a row replicates."
        )
    raise ConfigurationError(f"unknown approval kind {kind!r}")
