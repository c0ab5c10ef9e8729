"""Sandbox fixtures: a fresh sandbox per test, always stopped (also when the test fails)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from openflow_autopilot.request_rules import LOOPBACK_ENV
from openflow_sandbox.environment import Sandbox


@pytest.fixture(autouse=True, scope="session")
def loopback_source() -> Iterator[None]:
    """The sandbox's PostgreSQL is on 127.0.0.1, also for the tests that use it without a Sandbox:
    allow a loopback source.host for them, as Sandbox.start does (request_rules.check_source_host)."""
    before = os.environ.get(LOOPBACK_ENV)
    os.environ[LOOPBACK_ENV] = "1"
    yield
    if before is None:
        os.environ.pop(LOOPBACK_ENV, None)
    else:
        os.environ[LOOPBACK_ENV] = before


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb
