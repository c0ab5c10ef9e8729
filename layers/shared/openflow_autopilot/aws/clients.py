"""boto3 clients with the SDK's standard retry mode; AWS_ENDPOINT_URL (the sandbox) is honoured
by boto3 itself, so no code here knows about the sandbox."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def client(service: str, region: str | None = None) -> Any:
    return boto3.client(service, region_name=region, config=_CONFIG)  # type: ignore[call-overload]
