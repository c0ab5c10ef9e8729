"""What the Openflow UI hands a human: the deployment's CloudFormation template.

The real template can only be downloaded from Snowsight. The sandbox's stands in for it: the
realistic BYOC template (carrying the seed's ensure-ecr-repo.sh defect) with the deployment's
own key, UUID and account filled in as the parameter defaults, as the UI does.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from openflow_sandbox.snowflake import SnowflakeEmulator

TEMPLATES = Path(__file__).parent / "templates"
BUGGY = TEMPLATES / "openflow-byoc-agent.yaml"
FIXED = TEMPLATES / "openflow-byoc-agent-fixed.yaml"  # ensure-ecr-repo.sh repaired

_FIXTURE_KEY = "k7q2xw9mzp"
_FIXTURE_UUID = "0b6f2a3c-5d4e-4f81-9a7b-2c3d4e5f6a7b"


def download_template(emulator: SnowflakeEmulator, deployment: str, *, source: Path = BUGGY) -> str:
    """The template for `deployment`, as the UI would offer it for download."""
    dep = next((d for d in emulator.state.deployments.values() if d.name == deployment.upper()), None)
    if dep is None:
        raise LookupError(f"no Openflow deployment {deployment} in the emulated account")
    return _fill(emulator, source, key=dep.key, plane_uuid=str(uuid.uuid5(uuid.NAMESPACE_DNS, dep.key)))


def gen1_template(emulator: SnowflakeEmulator, *, key: str, plane_uuid: str, source: Path = BUGGY) -> str:
    """The template a gen 1 deployment was created from in the UI (its data plane's UUID and key)."""
    return _fill(emulator, source, key=key, plane_uuid=plane_uuid)


def _fill(emulator: SnowflakeEmulator, source: Path, *, key: str, plane_uuid: str) -> str:
    org, account = emulator.account.split("-", 1)
    text = source.read_text()
    return (
        text.replace(_FIXTURE_KEY, key)
        .replace(_FIXTURE_UUID, plane_uuid)
        .replace("_".join(_FIXTURE_UUID.upper().split("-")), "_".join(plane_uuid.upper().split("-")))
        .replace("EXAMPLEORG", org)
        .replace("EXAMPLEACCT", account)
        .replace("exampleorg-exampleacct", f"{org}-{account}".lower())
    )
