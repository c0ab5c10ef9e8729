"""boto3 clients with the SDK's standard retry mode; AWS_ENDPOINT_URL (the sandbox) is honoured
by boto3 itself, so no code here knows about the sandbox.

OPENFLOW_AUTOPILOT_AWS_READ_TIMEOUT (seconds, default 30) sets how long a client waits for an
answer before the SDK gives up on the attempt and retries it; a value that is not a positive
number falls back to the default.

Clients are made once per execution environment and reused by later invocations (AWS's Lambda
best practice: initialise SDK clients outside the handler). A client is keyed by its service, its
region, the read timeout and every AWS_* variable (credentials, region, endpoint), so a changed
environment gets a new client rather than a stale one. boto3 clients are thread-safe; making them
from the shared default session is not, hence the lock.
"""

from __future__ import annotations

import math
import os
import threading
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


def config(timeout: float | None = None) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=read_timeout() if timeout is None else timeout,
    )


_MAX_CLIENTS = 64  # a Lambda uses a handful; the sandbox starts a new endpoint for each test
_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def client(service: str, region: str | None = None) -> Any:
    timeout = read_timeout()
    aws_env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    key = (service, region, timeout, aws_env)
    with _lock:
        found = _clients.get(key)
        if found is None:
            if len(_clients) >= _MAX_CLIENTS:
                _clients.clear()
            found = boto3.client(service, region_name=region, config=config(timeout))  # type: ignore[call-overload]
            _clients[key] = found
        return found
