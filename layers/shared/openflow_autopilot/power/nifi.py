"""Gen 1: stop or start the runtime's NiFi flow through the NiFi REST API, when it can be reached.

Gen 1 has no SQL for connectors. Where the NiFi API of a BYOC runtime is reachable is not
documented (UNCERTAIN), so the workflow uses it only when a secret
`<secrets prefix><request name>/nifi` holds `{"url": "https://.../nifi-api", "token": "<a Snowflake
programmatic access token>"}`. Otherwise, or when the call fails, the step is a no-op with a note:
the node groups are scaled down anyway, and the connector resumes from its replication slot.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from openflow_autopilot.aws.calls import aws_call, error_code
from openflow_autopilot.core.results import Action

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

Opener = Callable[[urllib.request.Request, float], Any]


def _open(req: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - https URL checked by the caller


def nifi_secret_name(prefix: str, request_name: str) -> str:
    return f"{prefix}{request_name}/nifi"


def read_nifi_access(secrets: SecretsManagerClient, name: str) -> tuple[str, str] | None:
    """(API base URL, token) from the secret, or None when there is no usable secret."""
    try:
        with aws_call("secretsmanager:GetSecretValue"):
            text = secrets.get_secret_value(SecretId=name)["SecretString"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    try:
        data = json.loads(text)
        url, token = str(data["url"]).rstrip("/"), str(data["token"])
    except (ValueError, KeyError, TypeError):
        return None
    return (url, token) if url.startswith("https://") and token else None


def set_flow_state(
    access: tuple[str, str] | None,
    state: Literal["STOPPED", "RUNNING"],
    *,
    opener: Opener = _open,
    timeout: float = 10,
) -> tuple[list[Action], list[str]]:
    """Schedule (RUNNING) or unschedule (STOPPED) every component of the root process group."""
    verb = "stop" if state == "STOPPED" else "start"
    if access is None:
        return [], [
            f"gen 1: the NiFi flow was not {verb}ped here (no NiFi access configured); the node groups are "
            "scaled instead and the connector resumes from its replication slot"
        ]
    url, token = access
    endpoint = f"{url}/flow/process-groups/root"
    req = urllib.request.Request(  # noqa: S310 - https only (read_nifi_access)
        endpoint,
        data=json.dumps({"id": "root", "state": state}).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with opener(req, timeout) as resp:
            resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return [], [f"gen 1: NiFi at {url} was not reachable ({exc}); the flow was not {verb}ped here"]
    return [Action(kind=f"{verb}_nifi_flow", target=url, statement=f"PUT {endpoint} state={state}")], []
