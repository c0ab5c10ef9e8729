"""Glue for the Gen1Connector state: a gen 1 connector configured over the runtime's NiFi REST API.

Reads what the source and destination phases left (the password and the service user's key from
Secrets Manager) and the NiFi token, then runs `openflow/nifi.py`. The state machine takes this path
only when the request gives runtime.nifi_url and runtime.nifi_token_secret_arn; otherwise a human
configures the canvas (AwaitConnector).
"""

from __future__ import annotations

from typing import Any

from openflow_autopilot.aws.clients import client
from openflow_autopilot.config import Generation, parse_request
from openflow_autopilot.core.results import PhaseResult
from openflow_autopilot.errors import InvalidRequest
from openflow_autopilot.openflow.nifi import configure_gen1_connector, read_nifi_access
from openflow_autopilot.phases.entry_delivery import connector_inputs


def gen1_connector(event: dict[str, Any], *, secrets: Any = None, api_client: Any = None) -> PhaseResult:
    request = parse_request(event.get("request"))
    if request.openflow.generation is not Generation.GEN1 or not request.runtime.configures_nifi:
        raise InvalidRequest(
            "the Gen1Connector step needs a gen 1 request with runtime.nifi_url and "
            "runtime.nifi_token_secret_arn",
            fix="add both to the request, or let the state machine ask a human (AwaitConnector)",
        )
    secrets = secrets or client("secretsmanager", request.aws.region)
    source, target = connector_inputs(request, event, secrets)
    return configure_gen1_connector(
        request,
        access=read_nifi_access(secrets, request.runtime),
        source=source,
        destination=target,
        api_client=api_client,
    )
