"""The runtime section of the provisioning request: the Openflow runtime's name, size and
EXECUTE_AS_ROLE, and for gen 1 the runtime's NiFi REST API (URL, token secret, process group)
the connector is configured over instead of by hand. It is its own module because the NiFi
fields carry their own validation (https, plain http only on the loopback interface; the URL
and the token go together), which config.py's request model only checks against the generation.
"""

from __future__ import annotations

import re
import urllib.parse
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from openflow_autopilot import request_rules as rules
from openflow_autopilot.config_types import RuntimeRole, SecretArn, SnowflakeName, Strict


class Size(StrEnum):
    SMALL = "SMALL"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _nifi_url(value: str) -> str:
    """https://<runtime host>[:port]/<path>; plain http only on the loopback interface, where the
    token never crosses a network."""
    parts = urllib.parse.urlsplit(value)
    host = parts.hostname or ""
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)
    if not secure or not host or parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            f"{rules.masked_url(value)} is not the https URL of the runtime's NiFi API; write it as "
            "https://<runtime host>/nifi-api (no credentials, query or fragment: the token comes from "
            "nifi_token_secret_arn)"
        )
    return value.rstrip("/")


class RuntimeSettings(Strict):
    name: SnowflakeName = "POSTGRES_CDC_RUNTIME"
    # connectors/postgres/about asks for at least MEDIUM; SMALL is allowed with a warning
    size: Size = Size.MEDIUM
    execute_as_role: RuntimeRole = Field(
        "OPENFLOW_RUNTIME_ROLE",
        description="Gen 2: the runtime's EXECUTE_AS_ROLE, the identity its connector acts as (it reads "
        "the connector's secrets); created and granted what it needs by the workflow",
    )
    # Gen 1 only: configure the connector over the runtime's NiFi REST API instead of asking a human.
    # Left out of dumps when unset, so requests without them round-trip unchanged (and the state
    # machine's choice tests only for their presence).
    nifi_url: Annotated[str, AfterValidator(_nifi_url)] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gen 1 only: the runtime's NiFi API, e.g. https://<runtime host>/nifi-api",
    )
    nifi_token_secret_arn: SecretArn | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gen 1 only: secret whose JSON field 'token' is a Snowflake programmatic access token "
        "(sent as the bearer token to the runtime's NiFi)",
    )
    nifi_process_group_id: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gen 1 only: the connector's process group (found by a name containing 'PostgreSQL' if "
        "omitted)",
    )

    @field_validator("nifi_process_group_id")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not _UUID.match(v):
            raise ValueError(
                f"{v!r} is not a NiFi process group id; copy the UUID from the group's Configuration "
                "dialog on the canvas, or omit it to find the group by name"
            )
        return v

    @model_validator(mode="after")
    def _nifi_pair(self) -> RuntimeSettings:
        if (self.nifi_url is None) != (self.nifi_token_secret_arn is None):
            missing = "nifi_token_secret_arn" if self.nifi_token_secret_arn is None else "nifi_url"
            raise ValueError(
                f"nifi_url and nifi_token_secret_arn go together: add {missing}, or remove both to "
                "configure the gen 1 connector on the canvas by hand"
            )
        if self.nifi_process_group_id is not None and self.nifi_url is None:
            raise ValueError(
                "nifi_process_group_id is only used with nifi_url and nifi_token_secret_arn; add them "
                "or remove it"
            )
        return self

    @property
    def configures_nifi(self) -> bool:
        return self.nifi_url is not None
