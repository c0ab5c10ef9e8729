"""Fault injection: make the next matching statements fail the way a real outage or denial would.

`timeout` holds the request, without running the statement, until past the connector's socket
timeout (the session's OPENFLOW_AUTOPILOT_SNOWFLAKE_SOCKET_TIMEOUT plus a second; 61 s when unset,
the connector's default being 60 s), then drops the connection. Snowflake runs a retried request
(same requestId) only once, so "never ran" is what the connector sees either way.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal["permission_denied", "http_503", "http_429", "network_reset", "timeout", "syntax"]

SOCKET_TIMEOUT_ENV = "OPENFLOW_AUTOPILOT_SNOWFLAKE_SOCKET_TIMEOUT"
CONNECTOR_SOCKET_TIMEOUT = 60  # snowflake.connector.network.DEFAULT_SOCKET_CONNECT_TIMEOUT


def timeout_hold() -> float:
    """How long a `timeout` holds a request: one second past the client's socket timeout."""
    try:
        seconds = int(os.environ.get(SOCKET_TIMEOUT_ENV, "").strip())
    except ValueError:
        seconds = 0
    return (seconds if seconds > 0 else CONNECTOR_SOCKET_TIMEOUT) + 1.0


@dataclass
class Fault:
    pattern: re.Pattern[str]
    kind: FaultKind
    remaining: int
    when: Callable[[], bool] | None = None  # fire only while this holds (e.g. a given handler runs)


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired: list[tuple[str, FaultKind, str]] = []  # (pattern, kind, statement) of each firing

    def add(
        self, pattern: str, kind: FaultKind, times: int = 1, when: Callable[[], bool] | None = None
    ) -> None:
        if kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {get_args(FaultKind)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(Fault(re.compile(pattern, re.IGNORECASE | re.DOTALL), kind, times, when))

    def take(self, sql: str) -> FaultKind | None:
        """The fault for this statement, if any; each firing uses up one of its ``times``.

        Every HTTP attempt counts, so a fault the connector retries through (503, 429, reset,
        timeout) with ``times=1`` fails the first attempt and lets the retry succeed. A `timeout`
        blocks here past the client's socket timeout (the emulation answers nothing meanwhile: the
        connector's retry waits its turn) and then reads as `network_reset`.
        """
        kind: FaultKind | None = None
        with self._lock:
            for fault in self._faults:
                if fault.pattern.search(sql) and (fault.when is None or fault.when()):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.fired.append((fault.pattern.pattern, fault.kind, sql))
                    kind = fault.kind
                    break
        if kind == "timeout":
            time.sleep(timeout_hold())
            return "network_reset"
        return kind

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
