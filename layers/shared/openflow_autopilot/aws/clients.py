"""boto3 clients with the SDK's standard retry mode; AWS_ENDPOINT_URL (the sandbox) is honoured
by boto3 itself, so no code here knows about the sandbox.

OPENFLOW_AUTOPILOT_AWS_READ_TIMEOUT (seconds, default 30) sets how long a client waits for an
answer before the SDK gives up on the attempt and retries it; it is read when each client is
created, and a value that is not a positive number falls back to the default.
"""

from __future__ import annotations

import math
import os
from typing import Any

import boto3
from botocore.config import Config

READ_TIMEOUT_ENV = "OPENFLOW_AUTOPILOT_AWS_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT = 30.0


def read_timeout() -> float:
    """The read timeout for a new client: the environment's, else the default."""
    try:
        value = float(os.environ.get(READ_TIMEOUT_ENV, "").strip())
    except ValueError:
        return DEFAULT_READ_TIMEOUT
    return value if math.isfinite(value) and value > 0 else DEFAULT_READ_TIMEOUT


def config() -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=read_timeout()
    )


def client(service: str, region: str | None = None) -> Any:
    return boto3.client(service, region_name=region, config=config())  # type: ignore[call-overload]
