"""The qualified names of the Openflow objects a request makes, and how SHOW output names compare."""

from __future__ import annotations

from typing import Any

from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.snowflake.identifiers import qualified

DEFAULT_CONNECTOR_NAME = "POSTGRES_CDC"


def norm_name(name: Any) -> str:
    """SHOW output names may be quoted or not; compare them unquoted and upper-case."""
    return str(name or "").replace('"', "").upper()


def runtime_name(request: ProvisionRequest) -> str:
    """The runtime's qualified name: it lives in the Openflow schema."""
    sf = request.snowflake
    return qualified(sf.openflow_database, sf.openflow_schema, request.runtime.name)


def connector_name(request: ProvisionRequest, name: str = DEFAULT_CONNECTOR_NAME) -> str:
    sf = request.snowflake
    return qualified(sf.openflow_database, sf.openflow_schema, name)
